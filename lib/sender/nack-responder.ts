/**
 * Which of a viewer's NACKed packets are worth sending again (real-networks.md §6): one still in the
 * history, not sent again within the last round trip (the first copy may still be on its way), not too old
 * to help (the browser's jitter buffer gave up on it), not from before the keyframe the stream last restarted
 * on (a switch or a replay: the browser decodes from there, nothing earlier is of use to it), and within a
 * budget: retransmissions may take a share of the link's estimate, so that on a lossy link repairs do not
 * crowd out the stream itself (today's 2.3× the stream on a 5 % loss link).
 */
import { sequenceDelta } from '../rtp/sequence-number.ts';

export interface NackHistory {
  /** When the packet was last sent (ms, on the caller's clock), or undefined when it is gone. */
  sentAt(seq: number): number | undefined;
}

export interface NackCounts {
  /** Sequence numbers NACKed, answered and refused (gone, too old, too soon, over budget). */
  requested: number;
  answered: number;
  refused: number;
}

/** A packet older than this is not sent again: the browser has moved on (its NACK list gives up ~1 s). */
export const MAX_RETRANSMIT_AGE_MS = 1000;
/** Retransmissions may use this share of the estimate. */
export const RETRANSMIT_SHARE = 0.3;
/** The budget can save up this much time's worth. */
const BUDGET_WINDOW_MS = 200;
/** Bytes a retransmission is counted for (a full packet). */
const PACKET_BYTES = 1250;

export class NackResponder {
  readonly #history: NackHistory;
  /** When each sequence number was last answered (it may still wait in the pacer, its send time not yet new). */
  readonly #answeredAt = new Map<number, number>();
  #budgetBytes = 0;
  #lastRefillMs = -1;
  /** The first sequence number of the stream's last restart (−1: none yet), and when it was sent. */
  #restartSeq = -1;
  #restartAtMs = Number.NEGATIVE_INFINITY;
  readonly counts: NackCounts = { requested: 0, answered: 0, refused: 0 };

  constructor(history: NackHistory) {
    this.#history = history;
  }

  /**
   * The stream restarted at `seq` on a keyframe (another rendition, or the GOP again): packets sent before
   * it are of no use to the browser any more, and repairing them would spend the budget the restart's own
   * keyframe needs on a link that just lost many packets. `nowMs` on the history's clock.
   */
  restartedAt(seq: number, nowMs: number): void {
    this.#restartSeq = seq & 0xffff;
    this.#restartAtMs = nowMs;
  }

  /**
   * The sequence numbers of `lost` to send again, given the estimate (bit/s) and round-trip time (ms) now.
   * `nowMs` is on the same clock as the history's send times.
   */
  answer(lost: readonly number[], nowMs: number, estimate: number, rttMs: number): number[] {
    const rate = (estimate * RETRANSMIT_SHARE) / 8000; // bytes per ms
    if (this.#lastRefillMs < 0) this.#budgetBytes = rate * BUDGET_WINDOW_MS;
    else this.#budgetBytes = Math.min(rate * BUDGET_WINDOW_MS, this.#budgetBytes + (nowMs - this.#lastRefillMs) * rate);
    this.#lastRefillMs = nowMs;
    const again: number[] = [];
    for (const seq of lost) {
      this.counts.requested++;
      const sentAt = this.#history.sentAt(seq);
      const lastSent = Math.max(sentAt ?? Number.NEGATIVE_INFINITY, this.#answeredAt.get(seq) ?? Number.NEGATIVE_INFINITY);
      const refused =
        sentAt === undefined ||
        this.#beforeRestart(seq, nowMs) ||
        nowMs - sentAt > MAX_RETRANSMIT_AGE_MS ||
        nowMs - lastSent < Math.max(5, rttMs * 0.8) ||
        this.#budgetBytes < PACKET_BYTES;
      if (refused) {
        this.counts.refused++;
        continue;
      }
      this.#budgetBytes -= PACKET_BYTES;
      this.counts.answered++;
      this.#answeredAt.set(seq, nowMs);
      again.push(seq);
    }
    // Old answers cannot matter any more (older packets are refused by age).
    if (this.#answeredAt.size > 2048) {
      for (const [seq, at] of this.#answeredAt) if (nowMs - at > MAX_RETRANSMIT_AGE_MS) this.#answeredAt.delete(seq);
    }
    return again;
  }

  /**
   * Whether `seq` was sent before the last restart. Only asked within a second of it: later, what came
   * before it is refused by age anyway, and the sequence numbers after it may have come round to look
   * "before" it (2^15 packets on, under two minutes of a 720p stream).
   */
  #beforeRestart(seq: number, nowMs: number): boolean {
    if (this.#restartSeq < 0 || nowMs - this.#restartAtMs > MAX_RETRANSMIT_AGE_MS) return false;
    return sequenceDelta(this.#restartSeq, seq) > 0;
  }
}
