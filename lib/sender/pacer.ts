/**
 * One viewer's pacer: packets leave no faster than its link's estimate allows (a token bucket at the
 * pacing rate, with a small burst), in order, retransmissions first. A packet that finds the bucket full
 * and nothing queued goes out at once, so an uncongested viewer pays no latency. The queue is bounded in
 * time: once what waits would take longer than `maxQueueMs` to send and is not draining, or longer than
 * twice that, the caller is told (`overflow()`) and drops it, and the stream restarts at a keyframe —
 * latency never grows.
 *
 * All pacers share one clock (PacerClock): a single timer that runs only while some pacer has packets
 * waiting.
 */

/** What a pacer sends, through its owner. */
export interface PacerOutput {
  /** Sends a media packet; returns the bytes sent (0: could not). */
  sendMedia(entry: QueuedPacket, nowMs: number): number;
  /** Sends a retransmission of sequence number `seq`; returns the bytes sent. */
  sendRetransmission(seq: number, nowMs: number): number;
  /**
   * Sends one probe padding packet of `size` bytes for cluster `clusterId`; returns the bytes sent, or
   * `undefined` when padding may not go now (a frame half sent: its packets must stay consecutive) and the
   * probe waits.
   */
  sendPadding(size: number, clusterId: number, nowMs: number): number | undefined;
}

/** A media packet waiting to go. */
export interface QueuedPacket {
  packet: Buffer;
  /** The first packet of a new source (a switch, a replay): the viewer's timeline is rebased on it. */
  rebase: boolean;
  /**
   * When it came from the source (ms, performance.now()): the stream's timeline advances by the source's
   * time, not by when packets happened to leave (a dropped backlog is a jump forward, as it was live).
   */
  at?: number;
}

/** Bytes on the wire a packet will take (header rewritten, extension, SRTP tag): a little over its size. */
const OVERHEAD_BYTES = 24;
/** How far apart the queue is sampled to tell whether it drains… */
const TREND_MS = 250;
/**
 * …and against the sample this many before (1 s): a keyframe landing on a queue that drains on average is
 * no trend. Judged over a quarter second, a 300 kbit/s joiner's draining GOP replay read as an overflow
 * when the bottom rung's keyframe came: dropped, frozen 1.3 s until the next one (1 join in 5).
 */
const TREND_SAMPLES = 4;
/** Past this many times the bound, a queue overflows even while it drains. */
const HARD_BOUND_FACTOR = 2;
/** The bucket holds this much at the pacing rate, and never less than two full packets. */
const BURST_MS = 20;
const MIN_BURST_BYTES = 2 * 1250;

export class PacerClock {
  readonly #active = new Set<Pacer>();
  readonly #tickMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(tickMs = 2) {
    this.#tickMs = tickMs;
  }

  wake(pacer: Pacer): void {
    this.#active.add(pacer);
    this.#timer ??= setInterval(() => this.#tick(), this.#tickMs);
    this.#timer.unref?.();
  }

  #tick(): void {
    const now = performance.now();
    for (const pacer of this.#active) {
      if (!pacer.drain(now)) this.#active.delete(pacer);
    }
    if (this.#active.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/** The clock every pacer of this process shares. */
export const sharedPacerClock = new PacerClock();

export class Pacer {
  readonly #output: PacerOutput;
  readonly #clock: PacerClock;
  /** Bits per second. */
  #rate: number;
  /** What the link carries, bits per second (the estimate): what waits is measured against it. */
  #linkRate: number;
  #budget = 0;
  #lastRefillMs = performance.now();
  readonly #media: QueuedPacket[] = [];
  #mediaHead = 0;
  #queuedBytes = 0;
  readonly #retransmissions: number[] = [];
  /** Media packets that may leave faster than the pacing rate, at `rate`; the budget they overdraw is a debt. */
  #boost: { remaining: number; rate: number; budget: number; lastRefillMs: number } | undefined;
  #probe: { clusterId: number; remaining: number; size: number; intervalMs: number; nextAtMs: number } | undefined;
  readonly #maxQueueMs: number;
  /** The queue's size at the last trend samples (oldest first, at most TREND_SAMPLES), and whether it had shrunk since the oldest. */
  readonly #trend = { atMs: Number.NEGATIVE_INFINITY, bytes: [] as number[], shrinking: false };
  #closed = false;
  /** Packets and bytes sent, and media packets dropped by `clear()`. */
  readonly counts = { packets: 0, bytes: 0, dropped: 0 };

  constructor(output: PacerOutput, rate: number, { clock = sharedPacerClock, maxQueueMs = 500 } = {}) {
    this.#output = output;
    this.#rate = rate;
    this.#linkRate = rate;
    this.#clock = clock;
    this.#maxQueueMs = maxQueueMs;
  }

  /** The pacing rate, bits per second. */
  get rate(): number {
    return this.#rate;
  }

  set rate(bitsPerSecond: number) {
    this.#refill(performance.now());
    this.#rate = Math.max(10_000, bitsPerSecond);
  }

  /**
   * The token bucket: the bytes it may still send and when it was last filled (performance.now()), to hand
   * over to a viewer's lane in C (native-lane.ts), which paces as this does, and to take back.
   */
  get bucket(): { budget: number; atMs: number } {
    return { budget: this.#budget, atMs: this.#lastRefillMs };
  }

  set bucket({ budget, atMs }: { budget: number; atMs: number }) {
    this.#budget = budget;
    this.#lastRefillMs = atMs;
  }

  /** Whether anything but the bucket decides when media goes: a probe or a boosted frame. */
  get busy(): boolean {
    return this.#probe !== undefined || this.#boost !== undefined;
  }

  /** The link's rate, bits per second: `queueMs` and `overflow()` are measured against it. */
  set linkRate(bitsPerSecond: number) {
    this.#linkRate = Math.max(10_000, bitsPerSecond);
  }

  /** How long what waits would take to cross the link, ms. */
  get queueMs(): number {
    return (this.#queuedBytes * 8) / (this.#linkRate / 1000);
  }

  get queuedPackets(): number {
    return this.#media.length - this.#mediaHead + this.#retransmissions.length;
  }

  /**
   * Whether the queue has grown past its bound: the caller should clear it and resume at a keyframe. A queue
   * past the bound that shrank over the last second is draining (a GOP replay leaving, or a keyframe,
   * on a link barely above the rendition's rate): dropping it would freeze the picture until the next
   * keyframe to save a latency that is already falling (at 300 kbit/s, 3 joins in 5 froze 0.7–1.4 s, the
   * queue at 507–971 ms a second after the replay). Past twice the bound it overflows all the same.
   */
  overflow(now = performance.now()): boolean {
    if (now - this.#trend.atMs >= TREND_MS) {
      const samples = this.#trend.bytes;
      this.#trend.shrinking = samples.length > 0 && this.#queuedBytes < samples[0]!;
      samples.push(this.#queuedBytes);
      if (samples.length > TREND_SAMPLES) samples.shift();
      this.#trend.atMs = now;
    }
    const queueMs = this.queueMs;
    if (queueMs <= this.#maxQueueMs) return false;
    return queueMs > HARD_BOUND_FACTOR * this.#maxQueueMs || !this.#trend.shrinking;
  }

  /**
   * Starts the queue's trend afresh from what waits now: after a burst just queued (a GOP replay), whether it
   * drains is judged from there, not from the near-empty queue its first packet found.
   */
  restartTrend(now = performance.now()): void {
    this.#trend.bytes.length = 0;
    this.#trend.bytes.push(this.#queuedBytes);
    this.#trend.atMs = now;
    this.#trend.shrinking = false;
  }

  /**
   * Lets the rest of the frame at the head of the queue (its packets up to the marker bit) leave at up to
   * `rate` (bit/s) instead of the pacing rate: a joiner's keyframe, its first picture, sooner. What they
   * take beyond the pacing rate is a debt the packets after them wait out, so the stream as a whole keeps
   * the pacing rate (libwebrtc's pacer, too, lets an initial burst out). Nothing is boosted when the rest
   * of that frame is over `maxBytes` (a burst that size could overflow a thin link's queue); a boost
   * ended part way would leave the frame's last packets behind more debt than pacing alone.
   */
  boostFrame(rate: number, maxBytes: number, now = performance.now()): void {
    if (this.#closed || rate <= this.#rate) return;
    let bytes = 0;
    for (let i = this.#mediaHead; i < this.#media.length; i++) {
      const packet = this.#media[i]!.packet;
      bytes += packet.length + OVERHEAD_BYTES;
      if (bytes > maxBytes) return;
      if ((packet[1]! & 0x80) !== 0) {
        this.#boost = { remaining: i - this.#mediaHead + 1, rate, budget: 0, lastRefillMs: now };
        return;
      }
    }
  }

  /** A media packet, sent now if nothing waits and the budget allows, else queued in order. `now`: performance.now(). */
  enqueue(entry: QueuedPacket, now = performance.now()): void {
    if (this.#closed) return;
    if (this.queuedPackets === 0 && !this.#probe) {
      this.#refill(now);
      const boosted = this.#budget < 0 && this.#boosted(now);
      if (this.#budget >= 0 || boosted) {
        this.#spendMedia(this.#output.sendMedia(entry, now), boosted);
        return;
      }
    }
    this.#media.push(entry);
    this.#queuedBytes += entry.packet.length + OVERHEAD_BYTES;
    this.#clock.wake(this);
  }

  /** A retransmission: ahead of the media in the queue. */
  retransmit(seq: number): void {
    if (this.#closed) return;
    this.#retransmissions.push(seq);
    this.#clock.wake(this);
  }

  /** Sends `packets` padding packets of `size` bytes evenly over `durationMs`, beside the media. */
  probe(clusterId: number, packets: number, size: number, durationMs: number): void {
    if (this.#closed || packets <= 0) return;
    this.#probe = { clusterId, remaining: packets, size, intervalMs: durationMs / packets, nextAtMs: performance.now() };
    this.#clock.wake(this);
  }

  /** Drops every media packet waiting (retransmissions stay). Returns how many were dropped. */
  clear(): number {
    const dropped = this.#media.length - this.#mediaHead;
    this.#media.length = 0;
    this.#mediaHead = 0;
    this.#queuedBytes = 0;
    this.#boost = undefined;
    // What waits from now on is a new queue: nothing says yet that it drains.
    this.#trend.bytes.length = 0;
    this.#trend.shrinking = false;
    this.counts.dropped += dropped;
    return dropped;
  }

  close(): void {
    this.#closed = true;
    this.clear();
    this.#retransmissions.length = 0;
    this.#probe = undefined;
  }

  /** Sends what the budget allows now; returns whether anything still waits. Called by the clock. */
  drain(now: number): boolean {
    if (this.#closed) return false;
    this.#refill(now);
    this.#sendProbe(now);
    while (this.#budget >= 0 && this.#retransmissions.length > 0) {
      this.#spend(this.#output.sendRetransmission(this.#retransmissions.shift()!, now));
    }
    while (this.#mediaHead < this.#media.length) {
      const boosted = this.#budget < 0 && this.#boosted(now);
      if (this.#budget < 0 && !boosted) break;
      const entry = this.#media[this.#mediaHead]!;
      this.#media[this.#mediaHead++] = undefined as unknown as QueuedPacket;
      this.#queuedBytes -= entry.packet.length + OVERHEAD_BYTES;
      this.#spendMedia(this.#output.sendMedia(entry, now), boosted);
    }
    if (this.#mediaHead === this.#media.length) {
      this.#media.length = 0;
      this.#mediaHead = 0;
      this.#queuedBytes = 0;
    } else if (this.#mediaHead > 1024) {
      this.#media.splice(0, this.#mediaHead);
      this.#mediaHead = 0;
    }
    return this.queuedPackets > 0 || this.#probe !== undefined;
  }

  #sendProbe(now: number): void {
    const probe = this.#probe;
    if (!probe) return;
    // Padding goes out on the probe's own schedule: it tests the link above the pacing rate, on purpose.
    while (probe.remaining > 0 && probe.nextAtMs <= now) {
      const sent = this.#output.sendPadding(probe.size, probe.clusterId, now);
      if (sent === undefined) break;
      this.counts.packets++;
      this.counts.bytes += sent;
      probe.remaining--;
      probe.nextAtMs += probe.intervalMs;
    }
    if (probe.remaining === 0) this.#probe = undefined;
  }

  #refill(now: number): void {
    const burst = Math.max(MIN_BURST_BYTES, (this.#rate / 8) * (BURST_MS / 1000));
    this.#budget = Math.min(burst, this.#budget + ((now - this.#lastRefillMs) * this.#rate) / 8000);
    this.#lastRefillMs = now;
  }

  /** Whether a boost lets media go now though the budget does not (only media: retransmissions keep the rate). */
  #boosted(now: number): boolean {
    const boost = this.#boost;
    if (!boost) return false;
    const burst = Math.max(MIN_BURST_BYTES, (boost.rate / 8) * (BURST_MS / 1000));
    boost.budget = Math.min(burst, boost.budget + ((now - boost.lastRefillMs) * boost.rate) / 8000);
    boost.lastRefillMs = now;
    return boost.budget >= 0;
  }

  /** `boosted`: it went on the boost's budget (the pacing rate's had none left). */
  #spendMedia(bytes: number, boosted: boolean): void {
    const boost = this.#boost;
    if (boost) {
      if (boosted) boost.budget -= bytes;
      boost.remaining--;
      if (boost.remaining <= 0) this.#boost = undefined;
    }
    this.#spend(bytes);
  }

  #spend(bytes: number): void {
    this.#budget -= bytes;
    if (bytes > 0) {
      this.counts.packets++;
      this.counts.bytes += bytes;
    }
  }
}
