/**
 * What was sent, by transport-wide sequence number, until the feedback about it arrives: send time,
 * size, probe cluster, and what the receiver reported (lost, or its arrival time).
 *
 * On every sent packet (the hot path): a ring of typed arrays indexed by the unwrapped sequence number,
 * no allocation, a few stores. Bounded by `capacity` packets and by `maxAgeMs`: feedback about a packet
 * sent longer ago than that before the newest one is ignored.
 */
import { sequenceDelta } from '../../rtp/sequence-number.ts';

export interface SendHistoryOptions {
  /** Packets kept; a power of two. Default 16384 (about 6 s at 2.5 Mbit/s, 0.7 s at 200 Mbit/s). */
  capacity?: number;
  /** Feedback about a packet sent more than this before the newest one is ignored. Default 2000 ms. */
  maxAgeMs?: number;
}

/** What the receiver said about a packet. */
export const REPORT_NONE = 0;
export const REPORT_LOST = 1;
export const REPORT_RECEIVED = 2;

export class SendHistory {
  readonly capacity: number;
  readonly maxAgeMs: number;
  readonly #mask: number;
  /** The unwrapped sequence number held by each slot, −1 when empty. */
  readonly #sequence: Float64Array;
  readonly #sendTimeMs: Float64Array;
  readonly #bytes: Uint32Array;
  readonly #cluster: Int32Array;
  readonly #report: Uint8Array;
  readonly #arrivalUs: Float64Array;
  #newest = -1;
  #newestSendTimeMs = 0;

  constructor(options: SendHistoryOptions = {}) {
    const capacity = options.capacity ?? 16384;
    if (!Number.isInteger(capacity) || capacity < 16 || (capacity & (capacity - 1)) !== 0 || capacity > 1 << 20) {
      throw new RangeError(`SendHistory: capacity must be a power of two from 16 to 2^20 (got ${capacity})`);
    }
    const maxAgeMs = options.maxAgeMs ?? 2000;
    if (!(maxAgeMs > 0)) throw new RangeError(`SendHistory: maxAgeMs must be > 0 (got ${maxAgeMs})`);
    this.capacity = capacity;
    this.maxAgeMs = maxAgeMs;
    this.#mask = capacity - 1;
    this.#sequence = new Float64Array(capacity).fill(-1);
    this.#sendTimeMs = new Float64Array(capacity);
    this.#bytes = new Uint32Array(capacity);
    this.#cluster = new Int32Array(capacity);
    this.#report = new Uint8Array(capacity);
    this.#arrivalUs = new Float64Array(capacity);
  }

  /** The newest unwrapped sequence number recorded, −1 before the first. */
  get newest(): number {
    return this.#newest;
  }

  /**
   * Records a sent packet: its 16-bit transport sequence number, size in bytes (what went on the wire),
   * send time and probe cluster (0: none). Returns its unwrapped sequence number.
   */
  add(sequence: number, bytes: number, sendTimeMs: number, probeCluster = 0): number {
    let unwrapped: number;
    if (this.#newest < 0) {
      unwrapped = (sequence & 0xffff) + 0x10000; // room below for a late, smaller first number
    } else {
      unwrapped = this.#newest + sequenceDelta(sequence, this.#newest);
    }
    if (unwrapped > this.#newest) {
      this.#newest = unwrapped;
      this.#newestSendTimeMs = sendTimeMs;
    }
    const slot = unwrapped & this.#mask;
    this.#sequence[slot] = unwrapped;
    this.#sendTimeMs[slot] = sendTimeMs;
    this.#bytes[slot] = bytes;
    this.#cluster[slot] = probeCluster;
    this.#report[slot] = REPORT_NONE;
    this.#arrivalUs[slot] = Number.NaN;
    return unwrapped;
  }

  /**
   * The unwrapped number of a 16-bit sequence number the receiver reports (it can only report what was
   * sent, so it is taken at or before the newest), or −1 if that packet is not (or no longer) held.
   */
  lookup(sequence: number): number {
    if (this.#newest < 0) return -1;
    const unwrapped = this.#newest - ((this.#newest - sequence) & 0xffff);
    const slot = unwrapped & this.#mask;
    if (this.#sequence[slot] !== unwrapped) return -1;
    if (this.#newestSendTimeMs - this.#sendTimeMs[slot]! > this.maxAgeMs) return -1;
    return unwrapped;
  }

  sendTimeMs(unwrapped: number): number {
    return this.#sendTimeMs[unwrapped & this.#mask]!;
  }

  bytes(unwrapped: number): number {
    return this.#bytes[unwrapped & this.#mask]!;
  }

  probeCluster(unwrapped: number): number {
    return this.#cluster[unwrapped & this.#mask]!;
  }

  /** REPORT_NONE, REPORT_LOST or REPORT_RECEIVED. */
  report(unwrapped: number): number {
    return this.#report[unwrapped & this.#mask]!;
  }

  /** Arrival time in µs on the receiver's (unwrapped) clock; NaN unless reported received. */
  arrivalUs(unwrapped: number): number {
    return this.#arrivalUs[unwrapped & this.#mask]!;
  }

  markLost(unwrapped: number): void {
    this.#report[unwrapped & this.#mask] = REPORT_LOST;
  }

  markReceived(unwrapped: number, arrivalUs: number): void {
    const slot = unwrapped & this.#mask;
    this.#report[slot] = REPORT_RECEIVED;
    this.#arrivalUs[slot] = arrivalUs;
  }
}
