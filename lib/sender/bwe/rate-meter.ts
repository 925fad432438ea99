/**
 * A bitrate over the last `windowMs` of some clock. On the receiver's arrival clock it is the
 * acknowledged bitrate, what the link delivered whatever we sent: GCC bases its decrease on it
 * (0.85 × acknowledged) and caps increases by it (1.5 × acknowledged + 10 kbit/s). On our send clock
 * it is what we sent.
 *
 * Bytes go into 10 ms bins of that clock, a fixed ring: O(1) per packet, no allocation, and a packet
 * reported late still lands in its own bin.
 */

const BIN_MS = 10;

export interface RateMeterOptions {
  /** The averaging window. Default 500 ms. */
  windowMs?: number;
  /** No rate before this much of the clock is covered. Default 150 ms. */
  minSpanMs?: number;
}

export class RateMeter {
  readonly #bins: Float64Array;
  readonly #binIndex: Float64Array;
  readonly #windowBins: number;
  readonly #minSpanMs: number;
  #newestBin = Number.NaN;
  #firstMs = Number.NaN;

  constructor(options: RateMeterOptions = {}) {
    const windowMs = options.windowMs ?? 500;
    this.#windowBins = Math.max(1, Math.round(windowMs / BIN_MS));
    this.#minSpanMs = options.minSpanMs ?? 150;
    const ring = 2 * this.#windowBins;
    this.#bins = new Float64Array(ring);
    this.#binIndex = new Float64Array(ring).fill(-1);
  }

  /** `bytes` at `timeMs` on the meter's clock. */
  add(timeMs: number, bytes: number): void {
    const bin = Math.floor(timeMs / BIN_MS);
    if (Number.isNaN(this.#firstMs)) this.#firstMs = timeMs;
    if (!(bin <= this.#newestBin)) this.#newestBin = bin;
    if (bin <= this.#newestBin - this.#windowBins) return; // older than the window
    const slot = this.#slot(bin);
    if (this.#binIndex[slot] !== bin) {
      this.#binIndex[slot] = bin;
      this.#bins[slot] = 0;
    }
    this.#bins[slot] = this.#bins[slot]! + bytes;
  }

  /**
   * bit/s over the window ending at the newest time seen (or at `nowMs` if later: nothing since then
   * counts as nothing), undefined while less than `minSpanMs` is covered.
   */
  bitrate(nowMs?: number): number | undefined {
    if (Number.isNaN(this.#newestBin)) return undefined;
    const endBin = nowMs !== undefined && Math.floor(nowMs / BIN_MS) > this.#newestBin ? Math.floor(nowMs / BIN_MS) : this.#newestBin;
    const spanMs = (endBin + 1) * BIN_MS - this.#firstMs;
    if (spanMs < this.#minSpanMs) return undefined;
    let bytes = 0;
    for (let k = 0; k < this.#windowBins; k++) {
      const bin = endBin - k;
      const slot = this.#slot(bin);
      if (this.#binIndex[slot] === bin) bytes += this.#bins[slot]!;
    }
    const windowMs = Math.min(this.#windowBins * BIN_MS, spanMs);
    return (bytes * 8 * 1000) / windowMs;
  }

  reset(): void {
    this.#binIndex.fill(-1);
    this.#newestBin = Number.NaN;
    this.#firstMs = Number.NaN;
  }

  #slot(bin: number): number {
    const n = this.#bins.length;
    return ((bin % n) + n) % n;
  }
}
