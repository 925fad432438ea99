/**
 * SRTP's rollover counter (RFC 3711 §3.3.1): how often a sender's 16-bit sequence number has wrapped, kept
 * from the highest sequence number sent. It is part of each packet's IV.
 */
import { sequenceDelta } from '../rtp/sequence-number.ts';

export class RolloverCounter {
  #highestSeq = -1;
  #rollovers = 0;

  /** Its state (the highest sequence number sent, -1 before any; the rollovers), to hand over and take back. */
  get state(): { highest: number; rollovers: number } {
    return { highest: this.#highestSeq, rollovers: this.#rollovers };
  }

  set state({ highest, rollovers }: { highest: number; rollovers: number }) {
    this.#highestSeq = highest;
    this.#rollovers = rollovers;
  }

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
