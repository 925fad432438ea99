/**
 * Which rendition a viewer should get for its link's estimate, with hysteresis: down at once to the best
 * rung the estimate carries; up only when the estimate carries the next rung with room to spare (10 %), and
 * not in the first seconds after a step down (a link that just congested is given time to settle).
 */

/** Up needs the estimate at this many times the next rung's bitrate. */
export const UP_MARGIN = 1.1;
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
    const fits = this.initial(estimate);
    if (fits > current) {
      this.#lastDownAtMs = nowMs;
      return fits;
    }
    if (current === 0 || nowMs - this.#lastDownAtMs < HOLD_AFTER_DOWN_MS) return current;
    return estimate >= this.#rates()[current - 1]! * UP_MARGIN ? current - 1 : current;
  }

  /** The rate to probe at to find out whether the rung above `current` fits, or undefined at the top. */
  probeTarget(current: number): number | undefined {
    return current === 0 ? undefined : this.#rates()[current - 1]! * UP_MARGIN * 1.2;
  }
}
