/**
 * Turns for joining viewers. A join costs the one JavaScript thread about 8 ms (the answer, ICE's checks,
 * DTLS, starting the media), spread over a few round trips. Five hundred offers at once would run five
 * hundred handshakes at once: the event loop runs seconds late, every viewer's packets with it, and the load
 * guard (lib/session/load-guard.ts) refuses joiners the server could carry.
 *
 * Here joins start one per `intervalMs` at most, and only while the event loop is on time: the queue's own
 * timer, due every `intervalMs`, must not fire more than `maxLateMs` late. The handshakes already under way
 * make it late, so the pace follows what the process can do (500 offers at once: all in within 7 s on this
 * 2-core machine, the load generator on the same cores), whatever the round trip: a join waiting on the
 * network holds nothing. The
 * others wait, first come first served, and get their answer a little later instead of a 503. A join that
 * would wait longer than `maxWaitMs`, or finds `maxWaiting` already waiting, gets the 503 with `Retry-After`
 * that a full server gives. And none starts while `hold()` says so: the load guard found the process at
 * capacity while joins were under way (its newcomers wait for those joins to end rather than get a 503).
 */
import { performance } from 'node:perf_hooks';
import { SignalingError } from '../errors.ts';

export interface JoinQueueOptions {
  /** Joins start at most one per this many ms. */
  intervalMs: number;
  /** A join starts only while the queue's timer fires at most this late (ms): the event loop is on time. */
  maxLateMs: number;
  /** How long a join may wait for its turn, ms. */
  maxWaitMs: number;
  /** Joins waiting at once; more are refused at once. */
  maxWaiting: number;
  /**
   * While this answers true no join starts, however on time the loop is: the process is at capacity while
   * joins are under way (lib/session/load-guard.ts), so newcomers wait for those to finish instead of a 503.
   */
  hold?: () => boolean;
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class JoinQueue {
  readonly #options: JoinQueueOptions;
  readonly #waiting: Waiter[] = [];
  #lastStartMs = Number.NEGATIVE_INFINITY;
  #ticker: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: JoinQueueOptions) {
    for (const [name, value] of Object.entries(options)) {
      if (name === 'hold') continue;
      if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`JoinQueue: ${name} must be a positive number (got ${String(value)})`);
    }
    this.#options = options;
  }

  /** Joins waiting for their turn now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Resolves when this join may start: at once when none waits and none started within `intervalMs`, else
   * in its turn. Rejects with a SignalingError 503 when the wait would be too long, or the queue closes.
   */
  turn(): Promise<void> {
    if (this.#closed) return Promise.reject(new SignalingError(503, 'the stream is closed'));
    const now = performance.now();
    if (this.#waiting.length === 0 && now - this.#lastStartMs >= this.#options.intervalMs && !this.#options.hold?.()) {
      this.#lastStartMs = now;
      return Promise.resolve();
    }
    if (this.#waiting.length >= this.#options.maxWaiting) {
      return Promise.reject(new SignalingError(503, `${this.#waiting.length} viewers are waiting to join; try again in a moment`, { 'Retry-After': '2' }));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
          reject(new SignalingError(503, `no turn to join within ${this.#options.maxWaitMs} ms (${this.#waiting.length} still waiting); try again in a moment`, {
            'Retry-After': '2',
          }));
        }, this.#options.maxWaitMs),
      };
      this.#waiting.push(waiter);
      this.#tick(Math.max(performance.now(), this.#lastStartMs + this.#options.intervalMs));
    });
  }

  /** Refuses every join still waiting (503), and any later one. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#ticker);
    this.#ticker = undefined;
    for (const waiter of this.#waiting.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new SignalingError(503, 'the stream is closed'));
    }
  }

  /** Runs every `intervalMs` while joins wait: the next one starts when the timer came on time. */
  #tick(dueMs: number): void {
    if (this.#ticker !== undefined || this.#waiting.length === 0) return;
    this.#ticker = setTimeout(() => {
      this.#ticker = undefined;
      const now = performance.now();
      // The ones that were waiting may have given up meanwhile (maxWaitMs).
      if (this.#waiting.length > 0 && now - dueMs <= this.#options.maxLateMs && !this.#options.hold?.()) {
        const waiter = this.#waiting.shift()!;
        clearTimeout(waiter.timer);
        this.#lastStartMs = now;
        waiter.resolve();
      }
      this.#tick(now + this.#options.intervalMs);
    }, Math.max(0, dueMs - performance.now()));
  }
}
