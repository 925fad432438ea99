/**
 * The queueing delay on the path: one-way delay (arrival on the receiver's clock − send time on ours)
 * above its minimum over the last ~30 s. The two clocks' offset cancels out; what is left is how long
 * packets wait in queues now, compared with the emptiest the path has been lately.
 *
 * The trendline sees a queue grow; this sees a queue that stays: a drop-tail buffer that filled before
 * the trend had points enough (a start above the link's rate) shows a flat delay, and only its height
 * and the loss tell congestion from random loss.
 */

const BUCKET_MS = 10_000;
const BUCKETS = 3;

export class QueueDelay {
  readonly #bucketMin = new Float64Array(BUCKETS).fill(Number.POSITIVE_INFINITY);
  #bucket = 0;
  #bucketStartMs = Number.NaN;
  #recentMin = Number.POSITIVE_INFINITY;
  #delayMs = 0;

  /** A received packet's one-way delay sample (arrival − send, ms, any offset) at `nowMs`. */
  add(oneWayMs: number, nowMs: number): void {
    if (Number.isNaN(this.#bucketStartMs)) this.#bucketStartMs = nowMs;
    if (nowMs - this.#bucketStartMs >= BUCKET_MS) {
      this.#bucket = (this.#bucket + 1) % BUCKETS;
      this.#bucketMin[this.#bucket] = Number.POSITIVE_INFINITY;
      this.#bucketStartMs = nowMs;
    }
    if (oneWayMs < this.#bucketMin[this.#bucket]!) this.#bucketMin[this.#bucket] = oneWayMs;
    if (oneWayMs < this.#recentMin) this.#recentMin = oneWayMs;
  }

  /** Ends a batch (one feedback): the queueing delay becomes its least one-way delay over the baseline. */
  commit(): void {
    if (this.#recentMin === Number.POSITIVE_INFINITY) return;
    let base = Number.POSITIVE_INFINITY;
    for (const m of this.#bucketMin) if (m < base) base = m;
    this.#delayMs = Math.max(0, this.#recentMin - base);
    this.#recentMin = Number.POSITIVE_INFINITY;
  }

  /** ms; 0 before any feedback. */
  get delayMs(): number {
    return this.#delayMs;
  }
}
