/**
 * Which rendition a viewer should get for its link's estimate, with hysteresis: down at once to the best
 * rung the estimate carries; up only when the estimate carries the next rung with room to spare (10 %), and
 * not in the first seconds after a step down (a link that just congested is given time to settle).
 */

/** Up needs the estimate at this many times the next rung's bitrate. */
export const UP_MARGIN = 1.1;
/**
 * Down when the estimate falls under this share of the current rung's rate. Not 1: after any overuse the
 * estimate is set to 0.85 × what was delivered, which is the current rung itself — a discrete ladder
 * would then step down at every small congestion. Real congestion the pacer sees first (its queue grows),
 * and steps down at once.
 */
export const DOWN_MARGIN = 0.75;
/** No step up for this long after a step down. */
export const HOLD_AFTER_DOWN_MS = 3_000;

export class RenditionChoice {
  /** What each rung takes now, top rung first (bit/s): what it really sends, which may be far below its target. */
  readonly #rates: () => readonly number[];
  #lastDownAtMs = Number.NEGATIVE_INFINITY;

  constructor(rates: () => readonly number[]) {
    this.#rates = rates;
  }

  /** The rung to start a viewer on: the best one a first estimate of `bitrate` carries. */
  initial(bitrate: number): number {
    const rates = this.#rates();
    const index = rates.findIndex((rung) => rung <= bitrate);
    return index < 0 ? rates.length - 1 : index;
  }

  /** The rung for `estimate` when on `current`, at `nowMs`. */
  choose(current: number, estimate: number, nowMs: number): number {
    const rates = this.#rates();
    if (estimate < rates[current]! * DOWN_MARGIN && current < rates.length - 1) {
      this.#lastDownAtMs = nowMs;
      return Math.max(current + 1, this.initial(estimate));
    }
    if (current === 0 || nowMs - this.#lastDownAtMs < HOLD_AFTER_DOWN_MS) return current;
    return estimate >= this.#rates()[current - 1]! * UP_MARGIN ? current - 1 : current;
  }

  /** A step down decided elsewhere (the pacer could not keep up): no step up for a while either. */
  steppedDown(nowMs: number): void {
    this.#lastDownAtMs = nowMs;
  }

  /** The rate to probe at to find out whether the rung above `current` fits, or undefined at the top. */
  probeTarget(current: number): number | undefined {
    return current === 0 ? undefined : this.#rates()[current - 1]! * UP_MARGIN * 1.2;
  }
}
