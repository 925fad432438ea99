/**
 * Gives memory back once viewers have come or gone. Their handshakes and sockets allocate outside
 * JavaScript's heap (Buffers, OpenSSL, libuv), and glibc keeps what they free mapped: 200 viewers gone, the
 * process stayed at 285 MB resident where it had been at 162 before they came, with the JavaScript heap back
 * where it was. A trim (lib/native: malloc_trim on a libuv worker thread, nothing on the JavaScript thread)
 * took it to 199 MB. It runs once membership has been quiet for a while, and not too often; then twice more
 * while it stays quiet (`laterMs`), for what JavaScript held and its garbage collector frees on its own
 * schedule (a trim 2 s after 200 viewers left: 233 MB; after the next collections, lower).
 *
 * Each pass also asks V8 for a collection that gives memory back (`reduceHeap`): V8 keeps the heap pages
 * it freed in a pool, resident, until such a collection, and its own memory reducer never starts one while
 * the stream keeps the allocation rate up. 300 viewers gone: 227 MB resident 90 s later without (62 MB of
 * it V8's pool), 159 before they came; with it, see docs/benchmarks.md.
 *
 * The later passes ask for it only when viewers left: their objects die over V8's later collections. When
 * viewers only came, the first pass's collection already freed their handshakes' garbage, and each later one
 * costs a full collection of the whole heap and another one soon after it (V8 sets a tight limit after a
 * memory-reducing collection): with 1000 viewers watching, ~0.5 s of a core each time, for no memory back.
 */
import { nativeSrtp } from '../native/index.ts';

export interface MemoryTrimOptions {
  /** Gives the C heap's free memory back; undefined: nothing to do (no addon, not glibc). */
  trim: ((done: (trimmed: boolean) => void) => void) | undefined;
  /** Asks the JavaScript engine to give its free heap pages back (incremental, not a pause); false: it cannot. */
  reduceHeap?: () => boolean;
  /** A trim waits until viewers have neither come nor gone for this long (ms). Default 2000. */
  quietMs?: number;
  /** At most one trim per this long (ms). Default 10 000. */
  minIntervalMs?: number;
  /** The passes after the first, ms after it, while nothing changes. Default [10 000, 30 000]. */
  laterMs?: readonly number[];
}

export class MemoryTrim {
  readonly #trim: MemoryTrimOptions['trim'];
  readonly #reduceHeap: MemoryTrimOptions['reduceHeap'];
  readonly #quietMs: number;
  readonly #minIntervalMs: number;
  readonly #laterMs: readonly number[];
  /** The next of `laterMs` once the first pass ran. */
  #pass = 0;
  /** A viewer left since the first pass of this quiet spell began: the later passes reduce the heap too. */
  #left = false;
  #leftThisSpell = false;
  #timer: NodeJS.Timeout | undefined;
  #lastAtMs = Number.NEGATIVE_INFINITY;
  #running = false;
  /** Trims done, how many of them could give memory back, and how many asked V8 to give its pages back. */
  readonly counts = { runs: 0, trimmed: 0, heapReductions: 0 };

  constructor(options: MemoryTrimOptions) {
    this.#trim = options.trim;
    this.#reduceHeap = options.reduceHeap;
    this.#quietMs = options.quietMs ?? 2_000;
    this.#minIntervalMs = options.minIntervalMs ?? 10_000;
    this.#laterMs = options.laterMs ?? [10_000, 30_000];
  }

  /**
   * A viewer came (`'joined'`) or went (`'left'`, the default): a trim once things are quiet. Every pass
   * gives the C heap's free memory back; the first also asks V8 for its free pages, and the later ones
   * only if a viewer left.
   */
  changed(change: 'joined' | 'left' = 'left'): void {
    if (!this.#trim) return;
    if (change === 'left') this.#left = true;
    clearTimeout(this.#timer);
    this.#pass = 0;
    const wait = Math.max(this.#quietMs, this.#lastAtMs + this.#minIntervalMs - performance.now());
    this.#timer = setTimeout(() => this.#run(), wait).unref();
  }

  /** No trim pending any more. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #run(): void {
    this.#timer = undefined;
    if (this.#running || !this.#trim) return;
    const first = this.#pass === 0;
    if (first) [this.#leftThisSpell, this.#left] = [this.#left, false];
    const later = this.#laterMs[this.#pass];
    if (later !== undefined) {
      const previous = this.#pass === 0 ? 0 : this.#laterMs[this.#pass - 1]!;
      this.#timer = setTimeout(() => this.#run(), later - previous).unref();
      this.#pass++;
    }
    this.#running = true;
    this.#lastAtMs = performance.now();
    this.counts.runs++;
    if ((first || this.#leftThisSpell) && this.#reduceHeap?.()) this.counts.heapReductions++;
    this.#trim((trimmed) => {
      this.#running = false;
      if (trimmed) this.counts.trimmed++;
    });
  }
}

/** The process's one trimmer (every broadcast's viewers share the C heap). */
export const processMemoryTrim = new MemoryTrim({
  trim: nativeSrtp && ((done) => nativeSrtp!.trimMemory(done)),
  reduceHeap: nativeSrtp && (() => nativeSrtp!.reduceHeap()),
});
