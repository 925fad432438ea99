/**
 * The loss-based rate (draft-ietf-rmcat-gcc-02 §6; libwebrtc SendSideBandwidthEstimation): over a
 * window of reported packets (100, or 1 s, or 20 once a quarter of them are lost), loss above 10 % cuts the rate to (1 − loss/2), at most once per
 * (300 ms + RTT); below 2 % it grows 8 % per second; in between it holds, since such loss on a
 * wireless or lossy path says little about congestion.
 *
 * The rate is a cap on the delay-based estimate, not a second estimate: while it does not bind it
 * follows the delay-based one, so a probe or a delay-based ramp is not held back by it.
 */

export interface LossBasedOptions {
  minBitrate: number;
  maxBitrate: number;
  /** Below this loss the rate grows. Default 0.02. */
  lowLoss?: number;
  /** Above this loss the rate is cut. Default 0.1. */
  highLoss?: number;
  /** A loss figure needs this many packets… Default 100. */
  windowPackets?: number;
  /** …or this long with at least `minPackets`. Default 1000 ms. */
  windowMs?: number;
  /** Default 20. */
  minPackets?: number;
}

const DECREASE_INTERVAL_MS = 300;
const HEAVY_LOSS = 0.25;

export class LossBasedControl {
  readonly #min: number;
  readonly #max: number;
  readonly #lowLoss: number;
  readonly #highLoss: number;
  readonly #windowPackets: number;
  readonly #windowMs: number;
  readonly #minPackets: number;
  #lost = 0;
  #expected = 0;
  #windowStartMs = Number.NaN;
  #lossRate = 0;
  #lastLossUpdateMs = Number.NaN;
  /** Infinity while loss does not bind. */
  #cap = Number.POSITIVE_INFINITY;
  #lastDecreaseMs = Number.NEGATIVE_INFINITY;
  #lastIncreaseMs = Number.NaN;
  /** One cut per loss figure: a figure is not applied twice. */
  #decreasedOnFigure = false;

  constructor(options: LossBasedOptions) {
    this.#min = options.minBitrate;
    this.#max = options.maxBitrate;
    this.#lowLoss = options.lowLoss ?? 0.02;
    this.#highLoss = options.highLoss ?? 0.1;
    this.#windowPackets = options.windowPackets ?? 100;
    this.#windowMs = options.windowMs ?? 1000;
    this.#minPackets = options.minPackets ?? 20;
  }

  /** The last loss figure (0–1). */
  get lossRate(): number {
    return this.#lossRate;
  }

  /** When the last loss figure was made (NaN: never). */
  get lastLossUpdateMs(): number {
    return this.#lastLossUpdateMs;
  }

  /**
   * Packets newly reported: `lost` (may be negative when packets reported lost turn up later) out of
   * `reported`. True when this completed a window and `lossRate` is new.
   */
  addPackets(lost: number, reported: number, nowMs: number): boolean {
    if (Number.isNaN(this.#windowStartMs)) this.#windowStartMs = nowMs;
    this.#lost += lost;
    this.#expected += reported;
    // A window closes early on heavy loss: a quarter of 20 packets is not 5 % random loss by chance.
    const heavy = this.#lost > HEAVY_LOSS * this.#expected;
    const full = this.#expected >= this.#windowPackets || (this.#expected >= this.#minPackets && (heavy || nowMs - this.#windowStartMs >= this.#windowMs));
    if (!full) return false;
    this.setLossRate(Math.min(Math.max(this.#lost, 0) / this.#expected, 1), nowMs);
    return true;
  }

  /** The last loss figure is answered elsewhere (a congestion cut): it cuts nothing here. */
  consumeFigure(): void {
    this.#decreasedOnFigure = true;
  }

  /** Drops the packets counted so far (they were sent before a cut that already answered them). */
  restartWindow(nowMs: number): void {
    this.#lost = 0;
    this.#expected = 0;
    this.#windowStartMs = nowMs;
  }

  /** A loss figure from elsewhere (a receiver report's fraction lost). */
  setLossRate(lossRate: number, nowMs: number): void {
    this.#lossRate = lossRate;
    this.#lastLossUpdateMs = nowMs;
    this.#decreasedOnFigure = false;
    this.#lost = 0;
    this.#expected = 0;
    this.#windowStartMs = nowMs;
  }

  /**
   * Applies the last loss figure to `current` (the target now: the lower of the delay-based estimate
   * and this cap) and returns the cap, Infinity when loss does not bind.
   */
  update(current: number, delayBased: number, rttMs: number, nowMs: number): number {
    const loss = this.#lossRate;
    if (loss > this.#highLoss) {
      if (!this.#decreasedOnFigure && nowMs - this.#lastDecreaseMs >= DECREASE_INTERVAL_MS + rttMs) {
        this.#cap = Math.max(this.#min, Math.min(current, this.#cap) * (1 - 0.5 * loss));
        this.#lastDecreaseMs = nowMs;
        this.#decreasedOnFigure = true;
        this.#lastIncreaseMs = nowMs;
      }
    } else if (loss < this.#lowLoss && Number.isFinite(this.#cap)) {
      const elapsed = Number.isNaN(this.#lastIncreaseMs) ? 0 : Math.min(nowMs - this.#lastIncreaseMs, 1000);
      this.#cap = Math.min(this.#max, this.#cap * 1.08 ** (elapsed / 1000) + (1000 * elapsed) / 1000);
      this.#lastIncreaseMs = nowMs;
    } else {
      this.#lastIncreaseMs = nowMs;
    }
    if (this.#cap >= delayBased) this.#cap = Number.POSITIVE_INFINITY; // no longer binding
    return this.#cap;
  }

  /** Forget the cap (a probe got through: the link carries more than loss suggested). */
  release(): void {
    this.#cap = Number.POSITIVE_INFINITY;
  }
}
