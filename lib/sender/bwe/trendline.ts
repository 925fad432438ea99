/**
 * The delay trend and the overuse detector (libwebrtc goog_cc TrendlineEstimator; real-networks.md §2).
 *
 * Each group delay variation d is accumulated (the queue's total growth), smoothed (coefficient 0.9),
 * and a least-squares line is fitted to the last 20 (arrival time, smoothed delay) points. Its slope
 * × min(groups, 60) × gain 4 is compared with an adaptive threshold γ (12.5 ms at start, 6–600 ms):
 * above γ for more than 10 ms and two groups, with the slope not falling, is overuse; below −γ is
 * underuse (the queue drains). γ follows |trend| (k_up 0.0087 when above, k_down 0.039 when below) so
 * that a flow competing with loss-based TCP is not starved, but not to spikes over γ + 15 ms (a sudden
 * capacity drop must stay detected).
 */

export type BandwidthUsage = 'normal' | 'overusing' | 'underusing';

export interface TrendlineOptions {
  /** Points in the regression. Default 20. */
  windowSize?: number;
  /** Smoothing of the accumulated delay. Default 0.9. */
  smoothing?: number;
  /** Gain on the slope. Default 4. */
  gain?: number;
  /** Start of the adaptive threshold, ms. Default 12.5. */
  initialThreshold?: number;
}

const MIN_THRESHOLD = 6;
const MAX_THRESHOLD = 600;
const K_UP = 0.0087;
const K_DOWN = 0.039;
const MAX_ADAPT_OFFSET_MS = 15;
const OVERUSING_TIME_THRESHOLD_MS = 10;
const MIN_NUM_DELTAS = 60;
const DELTA_COUNTER_MAX = 1000;
const MAX_THRESHOLD_STEP_MS = 100;

export class TrendlineDetector {
  readonly #windowSize: number;
  readonly #smoothing: number;
  readonly #gain: number;
  readonly #x: Float64Array;
  readonly #y: Float64Array;
  #points = 0;
  #next = 0;
  #numDeltas = 0;
  #firstArrivalMs = Number.NaN;
  #accumulated = 0;
  #smoothed = 0;
  #trend = 0;
  #threshold: number;
  #lastThresholdUpdateMs = Number.NaN;
  #timeOverUsing = -1;
  #overuseCounter = 0;
  #prevTrend = 0;
  #modifiedTrend = 0;
  #state: BandwidthUsage = 'normal';

  constructor(options: TrendlineOptions = {}) {
    this.#windowSize = options.windowSize ?? 20;
    this.#smoothing = options.smoothing ?? 0.9;
    this.#gain = options.gain ?? 4;
    this.#threshold = options.initialThreshold ?? 12.5;
    this.#x = new Float64Array(this.#windowSize);
    this.#y = new Float64Array(this.#windowSize);
  }

  get state(): BandwidthUsage {
    return this.#state;
  }

  /** The adaptive threshold γ, ms. */
  get threshold(): number {
    return this.#threshold;
  }

  /** The last slope × min(groups, 60) × gain compared with γ. */
  get modifiedTrend(): number {
    return this.#modifiedTrend;
  }

  /** One group: its arrival and send deltas (ms) and arrival time (ms, receiver clock). */
  update(arrivalDeltaMs: number, sendDeltaMs: number, arrivalTimeMs: number): void {
    const delta = arrivalDeltaMs - sendDeltaMs;
    this.#numDeltas = Math.min(this.#numDeltas + 1, DELTA_COUNTER_MAX);
    if (Number.isNaN(this.#firstArrivalMs)) this.#firstArrivalMs = arrivalTimeMs;
    this.#accumulated += delta;
    this.#smoothed = this.#smoothing * this.#smoothed + (1 - this.#smoothing) * this.#accumulated;
    this.#x[this.#next] = arrivalTimeMs - this.#firstArrivalMs;
    this.#y[this.#next] = this.#smoothed;
    this.#next = (this.#next + 1) % this.#windowSize;
    if (this.#points < this.#windowSize) this.#points++;
    if (this.#points === this.#windowSize) {
      const slope = this.#slope();
      if (slope !== undefined) this.#trend = slope;
    }
    this.#detect(sendDeltaMs, arrivalTimeMs);
  }

  #slope(): number | undefined {
    const n = this.#points;
    let sumX = 0;
    let sumY = 0;
    for (let i = 0; i < n; i++) {
      sumX += this.#x[i]!;
      sumY += this.#y[i]!;
    }
    const meanX = sumX / n;
    const meanY = sumY / n;
    let numerator = 0;
    let denominator = 0;
    for (let i = 0; i < n; i++) {
      const dx = this.#x[i]! - meanX;
      numerator += dx * (this.#y[i]! - meanY);
      denominator += dx * dx;
    }
    return denominator === 0 ? undefined : numerator / denominator;
  }

  #detect(sendDeltaMs: number, nowMs: number): void {
    if (this.#numDeltas < 2) {
      this.#state = 'normal';
      return;
    }
    const trend = this.#trend * this.#gain;
    const modified = Math.min(this.#numDeltas, MIN_NUM_DELTAS) * trend;
    this.#modifiedTrend = modified;
    if (modified > this.#threshold) {
      this.#timeOverUsing = this.#timeOverUsing === -1 ? sendDeltaMs / 2 : this.#timeOverUsing + sendDeltaMs;
      this.#overuseCounter++;
      if (this.#timeOverUsing > OVERUSING_TIME_THRESHOLD_MS && this.#overuseCounter > 1 && trend >= this.#prevTrend) {
        this.#timeOverUsing = 0;
        this.#overuseCounter = 0;
        this.#state = 'overusing';
      }
    } else if (modified < -this.#threshold) {
      this.#timeOverUsing = -1;
      this.#overuseCounter = 0;
      this.#state = 'underusing';
    } else {
      this.#timeOverUsing = -1;
      this.#overuseCounter = 0;
      this.#state = 'normal';
    }
    this.#prevTrend = trend;
    this.#updateThreshold(modified, nowMs);
  }

  #updateThreshold(modified: number, nowMs: number): void {
    if (Number.isNaN(this.#lastThresholdUpdateMs)) this.#lastThresholdUpdateMs = nowMs;
    const magnitude = Math.abs(modified);
    if (magnitude > this.#threshold + MAX_ADAPT_OFFSET_MS) {
      // A spike, e.g. a sudden capacity drop: do not let it raise γ.
      this.#lastThresholdUpdateMs = nowMs;
      return;
    }
    const k = magnitude < this.#threshold ? K_DOWN : K_UP;
    const dt = Math.min(Math.max(nowMs - this.#lastThresholdUpdateMs, 0), MAX_THRESHOLD_STEP_MS);
    this.#threshold += k * (magnitude - this.#threshold) * dt;
    this.#threshold = Math.min(Math.max(this.#threshold, MIN_THRESHOLD), MAX_THRESHOLD);
    this.#lastThresholdUpdateMs = nowMs;
  }
}
