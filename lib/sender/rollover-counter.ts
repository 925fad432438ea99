/**
 * SRTP's rollover counter (RFC 3711 §3.3.1): how often a sender's 16-bit sequence number has wrapped, kept
 * from the highest sequence number sent. It is part of each packet's IV.
 */
import { sequenceDelta } from '../rtp/sequence-number.ts';

export class RolloverCounter {
  #highestSeq = -1;
  #rollovers = 0;

  /** The rollover counter of `seq`: advanced by a newer packet that wrapped, one less for an old one from before. */
  of(seq: number): number {
    if (this.#highestSeq < 0) {
      this.#highestSeq = seq;
      return 0;
    }
    if (sequenceDelta(seq, this.#highestSeq) > 0) {
      if (seq < this.#highestSeq) this.#rollovers++;
      this.#highestSeq = seq;
      return this.#rollovers;
    }
    return seq > this.#highestSeq && this.#rollovers > 0 ? this.#rollovers - 1 : this.#rollovers;
  }
}
