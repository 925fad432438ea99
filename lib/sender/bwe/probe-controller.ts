/**
 * When to probe and how (libwebrtc ProbeController, LiveKit's probe regulator; real-networks.md §2, §4).
 *
 * No estimator sees headroom above what is sent: the acknowledged rate is bounded by the send rate
 * and the delay-based estimate by 1.5 × that. To go up (a higher rendition exists) the caller asks for
 * a probe: a short cluster of padding packets on top of the media, so that for ~30 ms the link carries
 * `bitrate`. What arrives tells whether it can. The caller decides when to ask; this decides whether
 * a probe may go now (one at a time, none while overusing, a growing pause after a failure: 3 s
 * doubling up to 60 s by default, reset by a success) and how big it is (at most 2× the estimate: a
 * burst far above a thin link's capacity would queue for long and hurt the media).
 */

/** A probe to send: `packets` padding packets of `packetSize` bytes spread evenly over `durationMs`. */
export interface ProbeCluster {
  /** Pass it as `probeClusterId` with each of the cluster's packets to `onPacketSent()`. */
  id: number;
  /** The rate the link is tested at (media and padding together), bit/s. */
  bitrate: number;
  /** The padding's share of it, bit/s: `packets × packetSize × 8 / durationMs`. */
  paddingBitrate: number;
  packets: number;
  /** Bytes on the wire per padding packet. */
  packetSize: number;
  durationMs: number;
}

export interface ProbeOptions {
  /** How long a cluster lasts. Default 30 ms. */
  durationMs?: number;
  /** At least this many padding packets. Default 5. */
  minPackets?: number;
  /** The largest padding packet, bytes on the wire. Default 1200. */
  maxPacketSize?: number;
  /** The smallest, bytes. Default 100. */
  minPacketSize?: number;
  /** A probe goes at most this many times the estimate. Default 2. */
  maxFactor?: number;
  /** The pause after a first failure, doubling with each failure in a row. Default 3000 ms. */
  backoffInitialMs?: number;
  /** Default 60 000 ms. */
  backoffMaxMs?: number;
}

/** The share of the media's average send rate a probe's padding counts on during the cluster. */
const MEDIA_SHARE = 0.5;

export class ProbeController {
  readonly durationMs: number;
  readonly #minPackets: number;
  readonly #maxPacketSize: number;
  readonly #minPacketSize: number;
  readonly #maxFactor: number;
  readonly #backoffInitialMs: number;
  readonly #backoffMaxMs: number;
  #nextId = 1;
  #pending: ProbeCluster | undefined;
  #pendingSinceMs = 0;
  #failures = 0;
  #notBeforeMs = Number.NEGATIVE_INFINITY;

  constructor(options: ProbeOptions = {}) {
    this.durationMs = options.durationMs ?? 30;
    this.#minPackets = options.minPackets ?? 5;
    this.#maxPacketSize = options.maxPacketSize ?? 1200;
    this.#minPacketSize = options.minPacketSize ?? 100;
    this.#maxFactor = options.maxFactor ?? 2;
    this.#backoffInitialMs = options.backoffInitialMs ?? 3000;
    this.#backoffMaxMs = options.backoffMaxMs ?? 60_000;
  }

  /** The cluster sent and not yet judged. */
  get pending(): ProbeCluster | undefined {
    return this.#pending;
  }

  /** When the next probe may go (−Infinity: now). */
  get notBeforeMs(): number {
    return this.#notBeforeMs;
  }

  /** Failures in a row. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * A cluster to reach `target` from `estimate` while sending `sendBitrate`, or undefined when none may
   * go now (one pending, in backoff, or nothing to learn: the estimate already covers the target).
   */
  request(target: number, estimate: number, sendBitrate: number, maxBitrate: number, nowMs: number): ProbeCluster | undefined {
    if (this.#pending || nowMs < this.#notBeforeMs) return undefined;
    const bitrate = Math.min(target, this.#maxFactor * estimate, maxBitrate);
    if (!(bitrate > estimate)) return undefined;
    // Padding tops the media up to `bitrate`, counting on half the media's average only: that average holds
    // its keyframes, and the cluster's few tens of ms are mostly delta frames (topped up to the average, a
    // probe measured ~75 % of its target and proved nothing). At least a quarter of it, if the media pauses.
    const paddingBitrate = Math.max(bitrate - MEDIA_SHARE * sendBitrate, 0.25 * bitrate);
    const bytes = (paddingBitrate * this.durationMs) / 8000;
    const packetSize = Math.round(Math.min(this.#maxPacketSize, Math.max(this.#minPacketSize, bytes / this.#minPackets)));
    const packets = Math.max(this.#minPackets, Math.round(bytes / packetSize));
    const cluster: ProbeCluster = {
      id: this.#nextId++,
      bitrate,
      paddingBitrate: (packets * packetSize * 8000) / this.durationMs,
      packets,
      packetSize,
      durationMs: this.durationMs,
    };
    this.#pending = cluster;
    this.#pendingSinceMs = nowMs;
    return cluster;
  }

  /** How long ago the pending cluster was asked for. */
  pendingForMs(nowMs: number): number {
    return this.#pending ? nowMs - this.#pendingSinceMs : 0;
  }

  /** The pending cluster's verdict: success resets the backoff, failure doubles it. */
  settle(success: boolean, nowMs: number): void {
    this.#pending = undefined;
    if (success) {
      this.#failures = 0;
      this.#notBeforeMs = Number.NEGATIVE_INFINITY;
    } else {
      this.#failures++;
      const pause = Math.min(this.#backoffInitialMs * 2 ** (this.#failures - 1), this.#backoffMaxMs);
      this.#notBeforeMs = nowMs + pause;
    }
  }
}
