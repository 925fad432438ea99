/**
 * The transport-wide congestion control feedback we owe a WebRTC publisher: every packet's transport
 * sequence number and arrival time, reported every 50 ms (as libwebrtc's receivers do). With it the
 * publisher's browser estimates its uplink from delay and probes upward within a second or two; without
 * it, it grows its rate by 8 % a second from 300 kbit/s and keeps its upper simulcast layers off.
 */
import { writeTwccFeedback, type ArrivalUs } from '../rtp/twcc-writer.ts';
import { sequenceDelta } from '../rtp/sequence-number.ts';

/** How often feedback is sent while packets arrive. */
export const FEEDBACK_INTERVAL_MS = 50;
/** More than this many sequence numbers in one feedback: the oldest are given up (a long gap). */
const MAX_REPORTED = 4_096;

export interface TransportFeedbackOptions {
  /** Sends one RTCP packet to the publisher. */
  send(rtcp: Buffer): void;
  /** Our RTCP SSRC on that connection. */
  senderSsrc: number;
  /** Feedback every this many ms (default 50). */
  intervalMs?: number;
}

export class TransportFeedback {
  readonly #options: TransportFeedbackOptions;
  /** Arrival (µs) by unwrapped transport sequence number, since the last feedback. */
  readonly #arrivals = new Map<number, number>();
  /** The first sequence number the next feedback reports (unwrapped); undefined before the first packet. */
  #nextBase: number | undefined;
  #highest = -1;
  #feedbackCount = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The SSRC feedback names as its media source (the first video SSRC; browsers do not read it). */
  mediaSsrc = 0;
  /** Feedback packets sent. */
  sent = 0;

  constructor(options: TransportFeedbackOptions) {
    this.#options = options;
  }

  /** One packet arrived with transport sequence number `sequence` (16 bits) at `arrivalUs`. */
  onPacket(sequence: number, arrivalUs: number): void {
    const unwrapped = this.#unwrap(sequence);
    if (this.#nextBase !== undefined && unwrapped < this.#nextBase) return; // reported lost already
    this.#nextBase ??= unwrapped;
    this.#arrivals.set(unwrapped, arrivalUs);
    this.#timer ??= setTimeout(() => this.flush(), this.#options.intervalMs ?? FEEDBACK_INTERVAL_MS);
  }

  /** Reports what arrived since the last feedback (called by the timer; tests call it directly). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#nextBase === undefined || this.#arrivals.size === 0) return;
    let base = this.#nextBase;
    const end = this.#highest + 1;
    if (end - base > MAX_REPORTED) base = end - MAX_REPORTED;
    const arrivals: ArrivalUs[] = [];
    for (let sequence = base; sequence < end; sequence++) arrivals.push(this.#arrivals.get(sequence));
    this.#arrivals.clear();
    this.#nextBase = end;
    const packet = writeTwccFeedback(arrivals, {
      senderSsrc: this.#options.senderSsrc,
      mediaSsrc: this.mediaSsrc,
      baseSequence: base & 0xffff,
      feedbackCount: this.#feedbackCount,
    });
    if (!packet) return;
    this.#feedbackCount = (this.#feedbackCount + 1) & 0xff;
    this.sent++;
    this.#options.send(packet);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#arrivals.clear();
  }

  /** The 16-bit sequence number as a counter that does not wrap (nearest to the highest so far). */
  #unwrap(sequence: number): number {
    if (this.#highest < 0) {
      this.#highest = sequence;
      return sequence;
    }
    const unwrapped = this.#highest + sequenceDelta(sequence, this.#highest);
    if (unwrapped > this.#highest) this.#highest = unwrapped;
    return unwrapped;
  }
}
