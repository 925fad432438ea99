/**
 * Packets for the send thread, gathered into one call into C per source packet (lib/native/send-batch.h):
 * the fan-out hands one packet to every viewer, and each viewer's `queue` call would cross into C with its
 * nine arguments. A record is a few numbers written into a typed array instead (0.12 µs), and the payload is
 * copied once per batch, not per viewer: queueing a viewer's packet took 0.39–0.44 µs of the JavaScript
 * thread where `queue` took 0.50–0.86 (300 viewers, measured; a viewer's whole send path is about
 * 3.5 µs a packet, so this is a step, not the cure: docs/benchmarks.md).
 *
 * A batch holds records of one packet. It is queued when a record of another packet comes, when it is full,
 * before anything else sends for a viewer (`flush()`: the synchronous path, JavaScript's), and at the end of
 * the current task (a microtask): the send thread has every packet before this thread waits for I/O again,
 * and each viewer's packets stay in the order they were written.
 */
import type { NativeSrtp } from './index.ts';

/** Bytes per record, and where its fields are (send-batch.h's `batch_record`). */
const RECORD_BYTES = 80;
const WORDS = RECORD_BYTES / 4;
const RESULT_WORD = 4;
const PAYLOAD_OFFSET_AT = 20;
const HEADER_LENGTH_AT = 22;
const TARGET_LENGTH_AT = 23;
const HEADER_AT = 24;
const TARGET_AT = 48;
export const BATCH_HEADER_CAPACITY = 24;
export const BATCH_TARGET_CAPACITY = 28;
/** Records per call: more than the viewers of most rungs; a larger fan-out takes a few calls. */
const CAPACITY = 256;

export interface SendBatchCounts {
  /** Calls into C, records queued through them, and records the addon could not queue (a handle gone). */
  calls: number;
  records: number;
  failed: number;
}

export class SendBatch {
  readonly #native: Pick<NativeSrtp, 'sendBatch'>;
  readonly #bytes = Buffer.alloc(CAPACITY * RECORD_BYTES); // not pooled: aligned for C's 32-bit words
  readonly #words = new Uint32Array(this.#bytes.buffer, this.#bytes.byteOffset, CAPACITY * WORDS);
  readonly #results = new Int32Array(this.#bytes.buffer, this.#bytes.byteOffset, CAPACITY * WORDS);
  readonly #halves = new Uint16Array(this.#bytes.buffer, this.#bytes.byteOffset, (CAPACITY * RECORD_BYTES) / 2);
  #count = 0;
  #packet: Buffer | undefined;
  #scheduled = false;
  readonly #flushNow = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  readonly counts: SendBatchCounts = { calls: 0, records: 0, failed: 0 };

  constructor(native: Pick<NativeSrtp, 'sendBatch'>) {
    this.#native = native;
  }

  /** Records waiting for the next call. */
  get pending(): number {
    return this.#count;
  }

  /**
   * Adds a packet for the send thread: the first `headerLength` bytes of `header` (the viewer's), then
   * `packet` from `payloadOffset` on with `patch` written into the viewer's copy, sealed with context
   * `contextId` and rollover counter `roc`, sent from socket `socketId` to `target` (ids: `handleId`).
   * Returns the bytes the datagram will have. The caller checks the sizes (`fits`).
   */
  add(contextId: number, socketId: number, target: Buffer, header: Buffer, headerLength: number, packet: Buffer, payloadOffset: number, roc: number, patch: number): number {
    if (this.#packet !== packet || this.#count === CAPACITY) {
      if (this.#count > 0) this.flush();
      this.#packet = packet;
    }
    const record = this.#count++;
    const word = record * WORDS;
    const words = this.#words;
    words[word] = contextId;
    words[word + 1] = socketId;
    words[word + 2] = roc;
    words[word + 3] = patch;
    const bytes = this.#bytes;
    const at = record * RECORD_BYTES;
    this.#halves[(at + PAYLOAD_OFFSET_AT) >> 1] = payloadOffset;
    bytes[at + HEADER_LENGTH_AT] = headerLength;
    bytes[at + TARGET_LENGTH_AT] = target.length;
    for (let i = 0; i < headerLength; i++) bytes[at + HEADER_AT + i] = header[i]!;
    for (let i = 0; i < target.length; i++) bytes[at + TARGET_AT + i] = target[i]!;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flushNow);
    }
    return headerLength + packet.length - payloadOffset + 16;
  }

  /** Whether a packet's header and target fit in a record (else the caller queues it on its own). */
  static fits(headerLength: number, target: Buffer, payloadOffset: number): boolean {
    return headerLength <= BATCH_HEADER_CAPACITY && target.length <= BATCH_TARGET_CAPACITY && payloadOffset <= 0xffff;
  }

  /** Queues what waits, now. */
  flush(): void {
    const count = this.#count;
    if (count === 0) return;
    const packet = this.#packet!;
    this.#count = 0;
    this.#packet = undefined;
    const failed = this.#native.sendBatch(this.#bytes, count, packet);
    this.counts.calls++;
    this.counts.records += count;
    this.counts.failed += failed;
  }

  /** The result of record `index` of the last call (tests): the datagram's bytes, or -errno. */
  resultOf(index: number): number {
    return this.#results[index * WORDS + RESULT_WORD]!;
  }
}
