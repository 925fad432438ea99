/**
 * Whether one more viewer can be carried, from what the process measures of itself rather than from a
 * count: every viewer's packets are sent from this thread, and when it cannot keep up, its event loop runs
 * late and the source's packets wait in the socket. Past that point one more viewer would degrade all of
 * them, so it is refused (503 with Retry-After) and those already watching see nothing change.
 *
 * Joins are told apart from watchers (`joinStarted()`): a handshake costs the event loop ~12 ms, so a
 * second of joins at 1000 viewers is ≥ 95 % busy and runs 15–130 ms late though the viewers watching lose
 * nothing (their packets leave from the send thread). Such a second is judged by its delay alone; the join
 * queue (lib/session/join-queue.ts) paces the joins themselves by how late the loop runs, and starts none
 * while the process is full.
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface LoadGuardOptions {
  /** The event loop's typical delay (the median over a second, ms) beyond which the process is taken as full. */
  maxEventLoopDelayMs: number;
  /**
   * The event loop's utilization (0–1, over the last second) beyond which the process is taken as full,
   * once its delay is also past a quarter of `maxEventLoopDelayMs`: busy but on time (a burst of joins
   * whose handshakes keep it 96 % busy while it runs 5 ms late) carries everyone still. Not applied to a
   * second in which a join was under way.
   */
  maxEventLoopUtilization: number;
}

export interface LoadSample {
  /** The event loop's median delay over the last second, ms (the sampling interval taken off). */
  eventLoopDelayMs: number;
  /** Share of the last second the event loop was busy, 0–1. */
  eventLoopUtilization: number;
  /** Whether a join was under way in the last second (then only the delay judges). */
  joining: boolean;
  overloaded: boolean;
}

const RESOLUTION_MS = 10;
/** With the event loop this busy, the share of the delay limit that already counts as full. */
export const BUSY_DELAY_SHARE = 0.25;

/** The `maxEventLoopDelay` option's default, ms. */
export const DEFAULT_MAX_EVENT_LOOP_DELAY_MS = 50;
const SAMPLE_MS = 1_000;

export class LoadGuard {
  readonly #options: LoadGuardOptions;
  readonly #histogram: ReturnType<typeof monitorEventLoopDelay>;
  #timer: NodeJS.Timeout | undefined;
  #elu: EventLoopUtilization = performance.eventLoopUtilization();
  #last: LoadSample = { eventLoopDelayMs: 0, eventLoopUtilization: 0, joining: false, overloaded: false };
  #users = 0;
  #fullBefore = false;
  /** Joins under way now, and whether one was in the second being measured. */
  #joins = 0;
  #joinedThisSecond = false;

  constructor(options: LoadGuardOptions) {
    this.#options = options;
    this.#histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  }

  /** The last second's measures. */
  get sample(): LoadSample {
    return this.#last;
  }

  /**
   * A join's handshake has started: until the returned function is called (it connected, or is gone), the
   * seconds it spans are judged by the event loop's delay alone. Calling it again does nothing.
   */
  joinStarted(): () => void {
    this.#joins++;
    this.#joinedThisSecond = true;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#joins--;
    };
  }

  /** Starts measuring (while anyone watches: the timer runs only then). */
  start(): void {
    if (this.#users++ > 0) return;
    this.#histogram.reset();
    this.#histogram.enable();
    this.#elu = performance.eventLoopUtilization();
    this.#timer = setInterval(() => this.#measure(), SAMPLE_MS).unref();
  }

  stop(): void {
    if (--this.#users > 0) return;
    this.#users = 0;
    clearInterval(this.#timer);
    this.#histogram.disable();
  }

  #measure(): void {
    const elu = performance.eventLoopUtilization(this.#elu);
    this.#elu = performance.eventLoopUtilization();
    // The median, over two seconds in a row: a garbage collection or one slow call is no overload.
    const delay = Math.max(0, this.#histogram.percentile(50) / 1e6 - RESOLUTION_MS);
    this.#histogram.reset();
    const joining = this.#joinedThisSecond || this.#joins > 0;
    this.#joinedThisSecond = false;
    const { maxEventLoopDelayMs, maxEventLoopUtilization } = this.#options;
    const busy = !joining && elu.utilization > maxEventLoopUtilization && delay > BUSY_DELAY_SHARE * maxEventLoopDelayMs;
    const full = delay > maxEventLoopDelayMs || busy;
    this.#last = {
      eventLoopDelayMs: Math.round(delay),
      eventLoopUtilization: Math.round(elu.utilization * 100) / 100,
      joining,
      overloaded: full && this.#fullBefore,
    };
    this.#fullBefore = full;
  }
}
