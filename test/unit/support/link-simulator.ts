/**
 * A discrete-event simulation of one viewer's path, to drive the bandwidth estimator as the server
 * will: a video sender (30 fps, packets ≤ 1200 bytes through a pacer at 2.5× the media rate) that
 * either follows the estimate (an encoder) or picks a rendition of a ladder and probes to go up; a
 * bottleneck with a rate that may change over time, a drop-tail queue of `queueMs` at that rate, random
 * loss from a seeded generator and a one-way delay; a receiver that reports every 50–100 ms as Chromium
 * does (transport-cc bytes, 250 µs deltas, its own clock, which wraps its 24-bit reference time during
 * the run); the feedback back over an uncongested path; and an RTT report every second.
 *
 * Everything goes through the real code: the receiver's feedback is RTCP bytes read by readRtcp() and
 * parseTwccFeedback() before the estimator sees it.
 */
import { BandwidthEstimator, type BandwidthEstimate } from '../../../lib/sender/bwe/bandwidth-estimator.ts';
import type { ProbeCluster } from '../../../lib/sender/bwe/probe-controller.ts';
import { parseTwccFeedback } from '../../../lib/sender/bwe/twcc-feedback.ts';
import { readRtcp } from '../../../lib/rtp/rtcp.ts';
import { encodeTwcc, transportFeedback, type ReportedPacket } from './rtcp-builder.ts';
import { createRng } from './rng.ts';

export interface ScenarioOptions {
  durationMs: number;
  /** The bottleneck's rate at time t (ms), bit/s. */
  capacity: (tMs: number) => number;
  /** Drop-tail queue length in ms at the current rate. Default 100. */
  queueMs?: number;
  /** One way; the RTT is twice this plus queueing. Default 20. */
  oneWayDelayMs?: number;
  /** Random loss on the forward path (0–1). Default 0. */
  lossRate?: number;
  /** Cross traffic through the same bottleneck at time t, bit/s (constant-rate 1200-byte packets). */
  crossTraffic?: (tMs: number) => number;
  seed?: number;
  /** 'follow': the media rate is the estimate (capped at the top rung); 'ladder': renditions + probes. */
  sender: 'follow' | 'ladder';
  /** Renditions, bit/s, highest first. Default [2.5 M, 800 k, 250 k]. */
  ladder?: number[];
  startBitrate?: number;
  minBitrate?: number;
  maxBitrate?: number;
  /** Record the estimate every this many ms. Default 100. */
  sampleMs?: number;
}

export interface Sample {
  tMs: number;
  capacity: number;
  estimate: BandwidthEstimate;
  /** The media rate the sender is at. */
  mediaRate: number;
  /** Queueing delay at the bottleneck now, ms. */
  queueDelayMs: number;
}

export interface ScenarioResult {
  samples: Sample[];
  probes: number;
  probeFailures: number;
  switches: number;
  packetsSent: number;
  packetsDropped: number;
  feedbacks: number;
}

const PACKET = 1200;
const FRAME_MS = 1000 / 30;
const PACING_FACTOR = 2.5;
/** Up to a rung when the estimate is this much above it; probe to this much above it. */
const UP_MARGIN = 1.1;
const PROBE_MARGIN = 1.3;

type Event =
  | { kind: 'frame' }
  | { kind: 'send'; size: number; cluster: number; cross: boolean }
  | { kind: 'arrive'; seq: number; atUs: number }
  | { kind: 'feedbackTimer' }
  | { kind: 'feedback'; bytes: Buffer }
  | { kind: 'rtt' }
  | { kind: 'sample' }
  | { kind: 'cross' };

interface Queued {
  t: number;
  order: number;
  event: Event;
}

/** A binary min-heap of events by time, then by insertion. */
class EventQueue {
  readonly #heap: Queued[] = [];
  #order = 0;
  push(t: number, event: Event): void {
    const heap = this.#heap;
    heap.push({ t, order: this.#order++, event });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }
  pop(): Queued | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && this.#less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && this.#less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
  #less(a: Queued, b: Queued): boolean {
    return a.t < b.t || (a.t === b.t && a.order < b.order);
  }
}

export function runScenario(options: ScenarioOptions): ScenarioResult {
  const rng = createRng(options.seed ?? 1);
  const ladder = options.ladder ?? [2_500_000, 800_000, 250_000];
  const queueMs = options.queueMs ?? 100;
  const owd = options.oneWayDelayMs ?? 20;
  const lossRate = options.lossRate ?? 0;
  const sampleMs = options.sampleMs ?? 100;
  const bwe = new BandwidthEstimator({
    startBitrate: options.startBitrate ?? ladder[0]!,
    minBitrate: options.minBitrate ?? 100_000,
    maxBitrate: options.maxBitrate ?? 2 * ladder[0]!,
  });
  // The receiver's clock starts 6.4 s before its 24-bit reference time (64 ms units) wraps.
  const receiverClockOffsetUs = (2 ** 24 - 100) * 64_000;

  const events = new EventQueue();
  const result: ScenarioResult = { samples: [], probes: 0, probeFailures: 0, switches: 0, packetsSent: 0, packetsDropped: 0, feedbacks: 0 };
  let seq = 0;
  let pacerFreeAt = 0;
  let linkFreeAt = 0; // when the bottleneck finishes what it holds
  let rung = 0;
  let mediaRate = options.sender === 'ladder' ? ladder[0]! : Math.min(options.startBitrate ?? ladder[0]!, ladder[0]!);
  const received: Array<{ seq: number; atUs: number }> = [];
  let nextToReport = 0; // unwrapped transport sequence number
  let feedbackCount = 0;
  let lastProbeSettledId = 0;

  const queueDelay = (t: number) => Math.max(0, linkFreeAt - t);

  /** The bottleneck: drop-tail on queueing delay, then serialization, then propagation. */
  const enterLink = (t: number, size: number, s: number | undefined) => {
    if (s !== undefined && rng() < lossRate) {
      result.packetsDropped++;
      return;
    }
    if (queueDelay(t) > queueMs) {
      if (s !== undefined) result.packetsDropped++;
      return;
    }
    const departure = Math.max(t, linkFreeAt) + (size * 8 * 1000) / options.capacity(t);
    linkFreeAt = departure;
    if (s !== undefined) events.push(departure + owd, { kind: 'arrive', seq: s, atUs: Math.round((departure + owd) * 1000) + receiverClockOffsetUs });
  };

  const pace = (t: number, size: number, cluster: number) => {
    const at = Math.max(t, pacerFreeAt);
    pacerFreeAt = at + (size * 8 * 1000) / (PACING_FACTOR * mediaRate);
    events.push(at, { kind: 'send', size, cluster, cross: false });
  };

  const chooseRate = (t: number) => {
    const estimate = bwe.estimate(t).bitrate;
    if (options.sender === 'follow') {
      mediaRate = Math.max(options.minBitrate ?? 100_000, Math.min(estimate, ladder[0]!));
      return;
    }
    // Down at once to the best rung that fits; up only with margin (after a probe showed room).
    let next = ladder.findIndex((r) => r <= estimate);
    if (next < 0) next = ladder.length - 1;
    if (next < rung) {
      const up = ladder[next]!;
      if (estimate < UP_MARGIN * up) next = rung;
      while (next < rung && estimate < UP_MARGIN * ladder[next]!) next++;
    }
    if (next !== rung) {
      rung = next;
      result.switches++;
    }
    mediaRate = ladder[rung]!;
    if (rung > 0 && estimate < UP_MARGIN * ladder[rung - 1]!) {
      const cluster = bwe.requestProbe(PROBE_MARGIN * ladder[rung - 1]!, t);
      if (cluster) sendProbe(t, cluster);
    }
  };

  const sendProbe = (t: number, cluster: ProbeCluster) => {
    result.probes++;
    for (let k = 0; k < cluster.packets; k++) {
      events.push(t + (k * cluster.durationMs) / cluster.packets, { kind: 'send', size: cluster.packetSize, cluster: cluster.id, cross: false });
    }
  };

  events.push(0, { kind: 'frame' });
  events.push(50 + 50 * rng(), { kind: 'feedbackTimer' });
  events.push(1000, { kind: 'rtt' });
  events.push(0, { kind: 'sample' });
  if (options.crossTraffic) events.push(0, { kind: 'cross' });

  for (let item = events.pop(); item && item.t <= options.durationMs; item = events.pop()) {
    const t = item.t;
    const e = item.event;
    switch (e.kind) {
      case 'frame': {
        chooseRate(t);
        // Frame sizes vary ±30 % around the rate's average.
        let bytes = Math.max(200, ((mediaRate / 30 / 8) * (0.7 + 0.6 * rng())) | 0);
        while (bytes > 0) {
          const size = Math.min(PACKET, bytes);
          pace(t, size, 0);
          bytes -= size;
        }
        events.push(t + FRAME_MS, { kind: 'frame' });
        break;
      }
      case 'send': {
        const s = seq++;
        bwe.onPacketSent(s & 0xffff, e.size, t, e.cluster);
        result.packetsSent++;
        enterLink(t, e.size, s);
        break;
      }
      case 'cross': {
        const rate = options.crossTraffic!(t);
        if (rate > 0) enterLink(t, PACKET, undefined);
        events.push(t + (rate > 0 ? (PACKET * 8 * 1000) / rate : 100), { kind: 'cross' });
        break;
      }
      case 'arrive':
        received.push({ seq: e.seq, atUs: e.atUs });
        break;
      case 'feedbackTimer': {
        // Report from the first unreported number to the highest received (Chromium's window).
        if (received.length > 0) {
          const highest = received[received.length - 1]!.seq;
          const arrivals = new Map(received.map((r) => [r.seq, r.atUs]));
          let from = nextToReport;
          while (from <= highest) {
            const packets: ReportedPacket[] = [];
            for (let s = from; s <= highest && packets.length < 2000; s++) packets.push({ sequence: s & 0xffff, arrivalUs: arrivals.get(s) });
            // A feedback starts at a received packet's reference; leading losses ride along.
            const fci = encodeTwcc(packets, feedbackCount++);
            if (!fci) break;
            events.push(t + owd, { kind: 'feedback', bytes: transportFeedback(0x1111, 0x2222, fci) });
            from += packets.length;
          }
          nextToReport = highest + 1;
          received.length = 0;
        }
        events.push(t + 50 + 50 * rng(), { kind: 'feedbackTimer' });
        break;
      }
      case 'feedback': {
        result.feedbacks++;
        for (const tf of readRtcp(e.bytes).transportFeedback) {
          const fb = parseTwccFeedback(tf.fci, tf.senderSsrc, tf.mediaSsrc);
          if (fb) bwe.onFeedback(fb, t);
        }
        const probe = bwe.lastProbe;
        if (probe && probe.id !== lastProbeSettledId) {
          lastProbeSettledId = probe.id;
          if (probe.saturated) result.probeFailures++;
        }
        break;
      }
      case 'rtt':
        bwe.onRtt(2 * owd + queueDelay(t));
        events.push(t + 1000, { kind: 'rtt' });
        break;
      case 'sample':
        result.samples.push({ tMs: t, capacity: options.capacity(t), estimate: bwe.estimate(t), mediaRate, queueDelayMs: queueDelay(t) });
        events.push(t + sampleMs, { kind: 'sample' });
        break;
    }
  }
  return result;
}

/** The first time at or after `fromMs` when `predicate` holds, or undefined. */
export function firstTime(samples: Sample[], fromMs: number, predicate: (s: Sample) => boolean): number | undefined {
  return samples.find((s) => s.tMs >= fromMs && predicate(s))?.tMs;
}

/** Samples in [fromMs, toMs). */
export const between = (samples: Sample[], fromMs: number, toMs: number): Sample[] => samples.filter((s) => s.tMs >= fromMs && s.tMs < toMs);

/** min / median / max of the estimate over capacity in `samples`. */
export function ratios(samples: Sample[]): { min: number; median: number; max: number } {
  const r = samples.map((s) => s.estimate.bitrate / s.capacity).sort((a, b) => a - b);
  return { min: r[0]!, median: r[r.length >> 1]!, max: r[r.length - 1]! };
}

/** A compact curve for reports: one "t:estimate/media" entry per `everyMs`, in kbit/s. */
export function curve(samples: Sample[], everyMs = 1000): string {
  return samples
    .filter((s) => Math.round(s.tMs) % everyMs === 0)
    .map((s) => `${(s.tMs / 1000).toFixed(0)}s:${Math.round(s.estimate.bitrate / 1000)}/${Math.round(s.mediaRate / 1000)}${s.estimate.state === 'overusing' ? '!' : ''}`)
    .join(' ');
}
