/**
 * Which rendition a viewer should get for its link's estimate, with hysteresis: down at once when the
 * estimate falls well under what the current rung sends (or under it while a queue stands on the path); up
 * only when the estimate carries the next rung's recent peak with room to spare (25 %), for half a second
 * (or at once when a probe just showed it), once the estimate is a measure rather than the start's guess,
 * and not in the first seconds after a step down (a link that just congested is given time to settle).
 */

/** Up needs the estimate at this many times the next rung's rate (rungs are not constant bitrate: keyframes). */
export const UP_MARGIN = 1.25;
/** A viewer starts on the best rung taking at most this share of the start estimate (a guess). */
export const START_SHARE = 0.5;
/**
 * Down when the estimate falls under this share of the current rung's rate. Not 1: after any overuse the
 * estimate is set to 0.85 × what was delivered, which is the current rung itself — a discrete ladder
 * would then step down at every small congestion. Real congestion the pacer sees first (its queue grows),
 * and steps down at once.
 */
export const DOWN_MARGIN = 0.75;
/** No step up for this long after a step down. */
export const HOLD_AFTER_DOWN_MS = 3_000;

/** Up only after the estimate has carried the next rung this long (one feedback is not a trend). */
export const UP_CONFIRM_MS = 500;

/** A probe goes this much above the estimate an up-step needs. */
export const PROBE_OVER_BAR = 1.2;
/**
 * A queue standing this long on the path (the estimator's queueing delay, ms) with the estimate under the
 * current rung's rate: the link, not the pacer, is full (the pacer runs faster than the link), so down.
 */
export const STANDING_QUEUE_MS = 100;

/** What the choice reads of the estimate. */
export interface EstimateView {
  /** bit/s */
  bitrate: number;
  /** The queueing delay on the path now, ms. */
  queueDelayMs: number;
  /** Whether the estimate is a measure yet (feedback for a while, or a probe the link carried). */
  measured: boolean;
  /**
   * A probe judged just now showed the link carrying this much (bit/s): up at once when it clears the bar,
   * without the half second of confirmation an estimate that drifted up needs (the probe was the test).
   */
  probed?: number;
}

export class RenditionChoice {
  /** What each rung takes now, top rung first (bit/s): what it really sends, which may be far below its target. */
  readonly #rates: () => readonly number[];
  /** The highest recent rate of each rung: what a viewer must have room for before it switches up. */
  readonly #peaks: () => readonly number[];
  #lastDownAtMs = Number.NEGATIVE_INFINITY;
  /** Since when the estimate has carried the rung above (NaN: it does not now). */
  #upSinceMs = Number.NaN;

  constructor(rates: () => readonly number[], peaks: () => readonly number[] = rates) {
    this.#rates = rates;
    this.#peaks = peaks;
  }

  /** The rung to start a viewer on, before any feedback: the best one taking half the start estimate. */
  initial(bitrate: number): number {
    return this.#fitting(bitrate * START_SHARE);
  }

  /** The best rung whose rate is at most `bitrate`, else the lowest. */
  #fitting(bitrate: number): number {
    const rates = this.#rates();
    const index = rates.findIndex((rung) => rung <= bitrate);
    return index < 0 ? rates.length - 1 : index;
  }

  /** The rung for the estimate (bit/s, or what it says) when on `current`, at `nowMs`. */
  choose(current: number, view: number | EstimateView, nowMs: number): number {
    const { bitrate: estimate, queueDelayMs, measured, probed = 0 } =
      typeof view === 'number' ? { bitrate: view, queueDelayMs: 0, measured: true } : view;
    const rates = this.#rates();
    const tooHigh = estimate < rates[current]! * DOWN_MARGIN || (queueDelayMs > STANDING_QUEUE_MS && estimate < rates[current]!);
    if (tooHigh && current < rates.length - 1) {
      this.#lastDownAtMs = nowMs;
      return Math.max(current + 1, this.#fitting(estimate));
    }
    if (current === 0 || !measured || nowMs - this.#lastDownAtMs < HOLD_AFTER_DOWN_MS) return current;
    const bar = this.upBar(current)!;
    if (estimate < bar) {
      this.#upSinceMs = Number.NaN;
      return current;
    }
    if (Number.isNaN(this.#upSinceMs)) this.#upSinceMs = nowMs;
    // A probe that showed the bar confirms it, for as long as the estimate holds (until the keyframe comes).
    if (probed >= bar) this.#upSinceMs = Math.min(this.#upSinceMs, nowMs - UP_CONFIRM_MS);
    return nowMs - this.#upSinceMs < UP_CONFIRM_MS ? current : current - 1;
  }

  /** The viewer moved to another rung: an up-switch is confirmed afresh from there. */
  switched(): void {
    this.#upSinceMs = Number.NaN;
  }

  /** A step down decided elsewhere (the pacer could not keep up): no step up for a while either. */
  steppedDown(nowMs: number): void {
    this.#lastDownAtMs = nowMs;
    this.#upSinceMs = Number.NaN;
  }

  /** The estimate a step up from `current` needs (bit/s), or undefined at the top. */
  upBar(current: number): number | undefined {
    return current === 0 ? undefined : this.#peaks()[current - 1]! * UP_MARGIN;
  }

  /**
   * The rate to probe at to find out whether the rung above `current` fits, or undefined at the top (or
   * when the estimate already carries it: the step up only waits for its confirmation).
   */
  probeTarget(current: number, estimate = 0): number | undefined {
    const bar = this.upBar(current);
    // 20 % over the bar: a probe measures a little under its rate (losses, the media's own gaps).
    return bar === undefined || estimate >= bar ? undefined : bar * PROBE_OVER_BAR;
  }
}
