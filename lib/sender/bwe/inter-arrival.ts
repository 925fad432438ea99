/**
 * Send groups and their inter-group delay variation (draft-ietf-rmcat-gcc-02 §5.2; libwebrtc's
 * InterArrivalDelta): packets sent within 5 ms of a group's first packet form one group, and so do
 * packets that arrive in a burst (less than 5 ms apart, faster than they were sent, within 100 ms),
 * since the network delivered them together. When a group completes, its send and arrival times are
 * compared with the previous group's: d = (arrival delta) − (send delta) is the queue's growth.
 */

const BURST_DELTA_MS = 5;
const MAX_BURST_DURATION_MS = 100;
/** Consecutive groups arriving out of order before the state is thrown away. */
const REORDERED_RESET_THRESHOLD = 3;

/** The deltas of the group that just completed against the one before it (reused; copy what you keep). */
export interface GroupDeltas {
  sendDeltaMs: number;
  arrivalDeltaMs: number;
  /** The completed group's last arrival time (ms, receiver clock). */
  arrivalTimeMs: number;
}

export class InterArrival {
  readonly #groupLengthMs: number;
  readonly deltas: GroupDeltas = { sendDeltaMs: 0, arrivalDeltaMs: 0, arrivalTimeMs: 0 };
  // Current group.
  #hasCurrent = false;
  #firstSendMs = 0;
  #sendMs = 0;
  #firstArrivalMs = 0;
  #completeMs = 0;
  // Previous group.
  #hasPrevious = false;
  #prevSendMs = 0;
  #prevCompleteMs = 0;
  #reordered = 0;

  constructor(groupLengthMs = 5) {
    this.#groupLengthMs = groupLengthMs;
  }

  /** Adds a received packet (in send order). True when a group completed: `deltas` then holds its deltas. */
  add(sendTimeMs: number, arrivalTimeMs: number): boolean {
    if (!this.#hasCurrent) {
      this.#startGroup(sendTimeMs, arrivalTimeMs);
      return false;
    }
    if (sendTimeMs < this.#firstSendMs) return false; // reordered: sent before the current group began
    let computed = false;
    if (this.#isNewGroup(sendTimeMs, arrivalTimeMs)) {
      if (this.#hasPrevious) {
        const sendDelta = this.#sendMs - this.#prevSendMs;
        const arrivalDelta = this.#completeMs - this.#prevCompleteMs;
        if (arrivalDelta < 0) {
          // The previous group arrived after this one: reordered by the network.
          if (++this.#reordered >= REORDERED_RESET_THRESHOLD) {
            this.reset();
            this.#startGroup(sendTimeMs, arrivalTimeMs);
            return false;
          }
        } else {
          this.#reordered = 0;
          this.deltas.sendDeltaMs = sendDelta;
          this.deltas.arrivalDeltaMs = arrivalDelta;
          this.deltas.arrivalTimeMs = this.#completeMs;
          computed = true;
        }
      }
      this.#hasPrevious = true;
      this.#prevSendMs = this.#sendMs;
      this.#prevCompleteMs = this.#completeMs;
      this.#startGroup(sendTimeMs, arrivalTimeMs);
    } else {
      this.#sendMs = Math.max(this.#sendMs, sendTimeMs);
      this.#completeMs = arrivalTimeMs;
    }
    return computed;
  }

  reset(): void {
    this.#hasCurrent = false;
    this.#hasPrevious = false;
    this.#reordered = 0;
  }

  #startGroup(sendTimeMs: number, arrivalTimeMs: number): void {
    this.#hasCurrent = true;
    this.#firstSendMs = sendTimeMs;
    this.#sendMs = sendTimeMs;
    this.#firstArrivalMs = arrivalTimeMs;
    this.#completeMs = arrivalTimeMs;
  }

  #isNewGroup(sendTimeMs: number, arrivalTimeMs: number): boolean {
    // A burst: arrived together although sent apart, so the network queued them as one.
    const arrivalDelta = arrivalTimeMs - this.#completeMs;
    const sendDelta = sendTimeMs - this.#sendMs;
    if (sendDelta === 0) return false;
    if (arrivalDelta - sendDelta < 0 && arrivalDelta <= BURST_DELTA_MS && arrivalTimeMs - this.#firstArrivalMs < MAX_BURST_DURATION_MS) {
      return false;
    }
    return sendTimeMs - this.#firstSendMs > this.#groupLengthMs;
  }
}
