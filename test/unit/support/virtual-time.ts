/**
 * Virtual time for the sender's tests: node:test's mock timers (setInterval, setTimeout, Date) with
 * `performance.now()` following the mocked Date (MockTimers does not mock it), so that pacers, their
 * shared clock and the estimator all see one clock the test moves by hand.
 *
 * MockTimers moves Date to the end of a `tick(ms)` before it runs the timers due within it, so time is
 * advanced in steps no longer than the pacer clock's interval.
 */
import type { TestContext } from 'node:test';

export interface VirtualTime {
  /** The virtual performance.now(), ms. */
  now(): number;
  /** Moves time on by `ms` in steps of at most `stepMs` (default 1), running the timers due on the way. */
  advance(ms: number, stepMs?: number): void;
}

/** Starts virtual time at `startMs` for the rest of the test (restored when it ends). */
export function useVirtualTime(t: TestContext, startMs = 10_000): VirtualTime {
  t.mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: startMs });
  t.mock.method(performance, 'now', () => Date.now());
  return {
    now: () => Date.now(),
    advance(ms: number, stepMs = 1): void {
      for (let left = ms; left > 1e-9; left -= stepMs) t.mock.timers.tick(Math.min(stepMs, left));
    },
  };
}
