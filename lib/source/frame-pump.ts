import { EventEmitter } from 'node:events';
import { frameProblem, type CustomStream, type VideoFrame } from './frames.ts';
import type { Logger } from '../logger.ts';

export interface FramePumpStats {
  /** Frames read() delivered. */
  framesRead: number;
  /** Ticks that found the previous read() still running: skipped, never queued. */
  skippedTicks: number;
  /** read() calls that threw or rejected, and frames that were not usable frames. */
  readErrors: number;
  badFrames: number;
}

/** Repeated complaints (a read() that throws 30 times a second) are logged at most this often. */
const COMPLAINT_INTERVAL_MS = 5_000;

/**
 * Calls a custom stream's `read()` `framerate` times a second and emits what it returns. A read still
 * running at the next tick makes that tick skip: latency never piles up behind a slow read(). The
 * skipped tick is owed once: the next read starts as soon as the running one ends, so a read() that
 * waits for its own source's next frame (a live capture at the same rate) is paced by that source
 * rather than losing frames to the beat between the two clocks.
 */
export class FramePump extends EventEmitter<{ frame: [VideoFrame]; end: [] }> {
  readonly #stream: CustomStream;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  readonly #stats: FramePumpStats = { framesRead: 0, skippedTicks: 0, readErrors: 0, badFrames: 0 };
  #timer: NodeJS.Timeout | undefined;
  #reading = false;
  /** A tick came while a read ran: read again as soon as it ends (one owed tick at most, never a queue). */
  #owed = false;
  #done = false;
  #stopping: Promise<void> | undefined;
  /** Per kind of complaint: when it was last logged, and how often it was kept quiet since. */
  readonly #complaints = new Map<string, { loggedAt: number; quiet: number }>();

  constructor(stream: CustomStream, framerate: number, logger: Logger) {
    super();
    this.#stream = stream;
    this.#intervalMs = 1000 / framerate;
    this.#logger = logger;
  }

  stats(): FramePumpStats {
    return { ...this.#stats };
  }

  start(): void {
    if (this.#timer || this.#done) return;
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    this.#tick();
  }

  /** Stops reading and calls the stream's `stop()` (once, whatever it throws). */
  stop(): Promise<void> {
    this.#done = true;
    clearInterval(this.#timer);
    this.#stopping ??= (async () => {
      try {
        await this.#stream.stop();
      } catch (error) {
        this.#logger.warn(`customStream.stop() failed: ${(error as Error)?.message ?? error}`);
      }
    })();
    return this.#stopping;
  }

  #tick(): void {
    if (this.#done) return;
    if (this.#reading) {
      this.#stats.skippedTicks++;
      this.#owed = true;
      return;
    }
    this.#read();
  }

  #read(): void {
    this.#reading = true;
    let result: ReturnType<CustomStream['read']>;
    try {
      result = this.#stream.read();
    } catch (error) {
      this.#reading = false;
      this.#readFailed(error);
      return;
    }
    if (result instanceof Promise || (result !== null && typeof (result as unknown as PromiseLike<unknown>)?.then === 'function')) {
      Promise.resolve(result).then(
        (frame) => {
          this.#readEnded();
          this.#deliver(frame);
        },
        (error: unknown) => {
          this.#readEnded();
          this.#readFailed(error);
        },
      );
    } else {
      this.#reading = false;
      this.#deliver(result as VideoFrame | null | undefined);
    }
  }

  /** An async read() ended: pay an owed tick now (after this frame is delivered). */
  #readEnded(): void {
    this.#reading = false;
    if (!this.#owed) return;
    this.#owed = false;
    queueMicrotask(() => {
      if (!this.#done && !this.#reading) this.#read();
    });
  }

  #deliver(frame: VideoFrame | null | undefined): void {
    if (this.#done) return;
    if (frame === null || frame === undefined) {
      this.#logger.info('the custom stream has ended (read() returned nothing)');
      this.#done = true;
      clearInterval(this.#timer);
      this.emit('end');
      return;
    }
    const problem = frameProblem(frame);
    if (problem) {
      this.#stats.badFrames++;
      this.#complain('frame', `customStream frame skipped: ${problem}`);
      return;
    }
    this.#stats.framesRead++;
    this.emit('frame', frame);
  }

  #readFailed(error: unknown): void {
    this.#stats.readErrors++;
    this.#complain('read', `customStream.read() failed: ${(error as Error)?.stack ?? error}`);
  }

  #complain(kind: string, message: string): void {
    const now = Date.now();
    const last = this.#complaints.get(kind);
    if (last && now - last.loggedAt < COMPLAINT_INTERVAL_MS) {
      last.quiet++;
      return;
    }
    const more = last?.quiet ? ` (and ${last.quiet} more since the last report)` : '';
    this.#complaints.set(kind, { loggedAt: now, quiet: 0 });
    this.#logger.error(message + more);
  }
}
