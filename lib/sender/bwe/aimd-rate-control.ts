/**
 * The delay-based rate (draft-ietf-rmcat-gcc-02 §5.5; libwebrtc AimdRateControl): additive increase,
 * multiplicative decrease, driven by the overuse detector's state and the acknowledged bitrate.
 *
 * - overusing → decrease to 0.85 × acknowledged (never up), at most once per min(RTT, 200 ms) unless
 *   the acknowledged rate fell below half the estimate; then hold until the queue has drained.
 * - normal → increase: ×1.08 per second while the link's capacity is unknown ("max unknown"), and
 *   additively, about one packet per (RTT + 100 ms), near the capacity last seen at a decrease.
 * - underusing → hold (the queue is draining; increasing now would refill it).
 * An increase never goes past 1.5 × acknowledged + 10 kbit/s: the estimate cannot run far above what
 * the link was seen to carry (probing is how it goes further).
 */
import type { BandwidthUsage } from './trendline.ts';

export interface AimdOptions {
  startBitrate: number;
  minBitrate: number;
  maxBitrate: number;
}

const BETA = 0.85;
const DEFAULT_RTT_MS = 200;
const FRAME_RATE = 30;
const MTU_BITS = 8 * 1200;

export class AimdRateControl {
  readonly #min: number;
  readonly #max: number;
  #bitrate: number;
  #state: 'hold' | 'increase' | 'decrease' = 'hold';
  #nearMax = false;
  #lastChangeMs = Number.NaN;
  #rttMs = DEFAULT_RTT_MS;
  // The link capacity seen at decreases (kbit/s), with its normalized variance.
  #capacityKbps = -1;
  #capacityVariance = 0.4;

  constructor(options: AimdOptions) {
    this.#min = options.minBitrate;
    this.#max = options.maxBitrate;
    this.#bitrate = clamp(options.startBitrate, this.#min, this.#max);
  }

  get bitrate(): number {
    return this.#bitrate;
  }

  /** True while increases are additive: the estimate sits near the capacity seen at the last decrease. */
  get nearMax(): boolean {
    return this.#nearMax;
  }

  setRtt(rttMs: number): void {
    this.#rttMs = rttMs;
  }

  /** Sets the estimate outright (a probe's result). */
  setEstimate(bitrate: number, nowMs: number): void {
    this.#bitrate = clamp(bitrate, this.#min, this.#max);
    this.#lastChangeMs = nowMs;
    // The probe saw more than the capacity we remembered: forget it, increase multiplicatively again.
    if (this.#capacityKbps >= 0 && bitrate / 1000 > this.#capacityKbps + 3 * this.#capacityStd()) {
      this.#capacityKbps = -1;
      this.#nearMax = false;
    }
  }

  /** Whether an overuse may cut the estimate again now (libwebrtc TimeToReduceFurther). */
  timeToReduceFurther(nowMs: number, ackedBitrate: number): boolean {
    const interval = Math.max(Math.min(this.#rttMs, 200), 10);
    if (Number.isNaN(this.#lastChangeMs) || nowMs - this.#lastChangeMs >= interval) return true;
    return ackedBitrate < 0.5 * this.#bitrate;
  }

  /** One step with the detector's state and the acknowledged bitrate (undefined: not known yet). */
  update(usage: BandwidthUsage, ackedBitrate: number | undefined, nowMs: number): number {
    const acked = ackedBitrate ?? this.#bitrate;
    this.#changeState(usage, nowMs);
    let next = this.#bitrate;
    const ackedKbps = acked / 1000;
    if (this.#state === 'increase') {
      if (this.#capacityKbps >= 0 && ackedKbps > this.#capacityKbps + 3 * this.#capacityStd()) {
        this.#capacityKbps = -1; // far above the old capacity: the link changed
        this.#nearMax = false;
      }
      const elapsed = Number.isNaN(this.#lastChangeMs) ? 0 : Math.max(0, nowMs - this.#lastChangeMs);
      next += this.#nearMax ? (elapsed * this.#additiveIncreasePerSecond()) / 1000 : Math.max(this.#bitrate * (1.08 ** (Math.min(elapsed, 1000) / 1000) - 1), 1000 * Math.min(elapsed, 1000) / 1000);
      this.#lastChangeMs = nowMs;
      // Not beyond what the link was seen to carry (unless already there).
      const ceiling = 1.5 * acked + 10_000;
      if (ackedBitrate !== undefined && next > ceiling) next = Math.max(this.#bitrate, ceiling);
    } else if (this.#state === 'decrease') {
      next = BETA * acked;
      if (next > this.#bitrate) {
        // The acknowledged rate is above the estimate (e.g. a burst): still never increase on overuse.
        if (this.#capacityKbps >= 0) next = BETA * this.#capacityKbps * 1000;
        next = Math.min(next, this.#bitrate);
      }
      this.#nearMax = true;
      if (this.#capacityKbps >= 0 && ackedKbps < this.#capacityKbps - 3 * this.#capacityStd()) this.#capacityKbps = -1;
      this.#updateCapacity(ackedKbps);
      this.#state = 'hold'; // until the queue has drained
      this.#lastChangeMs = nowMs;
    }
    this.#bitrate = clamp(next, this.#min, this.#max);
    return this.#bitrate;
  }

  #changeState(usage: BandwidthUsage, nowMs: number): void {
    if (usage === 'overusing') {
      this.#state = 'decrease';
    } else if (usage === 'underusing') {
      this.#state = 'hold';
    } else if (this.#state === 'hold') {
      this.#state = 'increase';
      this.#lastChangeMs = nowMs;
    }
  }

  /** About one packet per response time (RTT + 100 ms), at least 4 kbit/s per second. */
  #additiveIncreasePerSecond(): number {
    const bitsPerFrame = this.#bitrate / FRAME_RATE;
    const packetsPerFrame = Math.ceil(bitsPerFrame / MTU_BITS);
    const packetBits = bitsPerFrame / packetsPerFrame;
    return Math.max(4000, (packetBits * 1000) / (this.#rttMs + 100));
  }

  #capacityStd(): number {
    return Math.sqrt(this.#capacityVariance * this.#capacityKbps);
  }

  #updateCapacity(ackedKbps: number): void {
    const alpha = 0.05;
    this.#capacityKbps = this.#capacityKbps < 0 ? ackedKbps : (1 - alpha) * this.#capacityKbps + alpha * ackedKbps;
    const norm = Math.max(this.#capacityKbps, 1);
    const deviation = this.#capacityKbps - ackedKbps;
    this.#capacityVariance = clamp((1 - alpha) * this.#capacityVariance + (alpha * deviation * deviation) / norm, 0.4, 2.5);
  }
}

const clamp = (value: number, min: number, max: number): number => Math.min(Math.max(value, min), max);
