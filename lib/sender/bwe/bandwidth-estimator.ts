/**
 * One viewer's send-side bandwidth estimate from the browser's transport-wide feedback, in the spirit
 * of GCC (draft-ietf-rmcat-gcc-02, libwebrtc goog_cc; real-networks.md §2):
 *
 *   onPacketSent ─► SendHistory ◄─ onFeedback (TWCC) ─┬─► InterArrival ─► Trendline ──► AIMD ───┐
 *                                                     ├─► acknowledged bitrate ──────┘  (delay) │
 *                                                     ├─► loss ─┬─► LossBasedControl (cap) ─────┼─► min ─► estimate
 *                                                     ├─► queueing delay ─┘ (+ loss: congestion)│
 *                                                     └─► ProbeTracker ─► probe result ─────────┘
 *
 * Where it departs from libwebrtc, and why (the link simulator's scenarios in the unit tests show each):
 * - heavy loss (> 10 %) over a standing queue (≥ 30 ms) is congestion even with a flat delay trend (a
 *   drop-tail buffer that filled before the trendline had 20 points): cut as for overuse, to 0.85 ×
 *   acknowledged, instead of the loss rule's (1 − loss/2), and not both;
 * - loss counts only packets sent after the last cut: the cut already answered the earlier ones;
 * - a probe the link did not carry sets a ceiling for increases (the estimate cannot float above it
 *   while the sender is application-limited) but never raises the estimate: what arrived of it was our
 *   share of a full bottleneck, more than is free when others share it; and the queue a probe itself
 *   builds does not cut the estimate below where it stood before the probe.
 *
 * Pure logic: no I/O, no timers; every time is passed in (ms, one monotonic clock for sends and calls).
 * The caller stamps a transport-wide sequence number in each packet, reports each send, hands over each
 * transport-cc feedback, and sends the probe clusters it asked for.
 */
import { AimdRateControl } from './aimd-rate-control.ts';
import { InterArrival } from './inter-arrival.ts';
import { LossBasedControl } from './loss-based.ts';
import { ProbeController, type ProbeCluster, type ProbeOptions } from './probe-controller.ts';
import { ProbeTracker, type ProbeOutcome } from './probe-result.ts';
import { QueueDelay } from './queue-delay.ts';
import { RateMeter } from './rate-meter.ts';
import { REPORT_LOST, REPORT_NONE, REPORT_RECEIVED, SendHistory } from './send-history.ts';
import { TrendlineDetector, type BandwidthUsage } from './trendline.ts';
import { TWCC_REFERENCE_TIME_US, type TwccFeedback } from './twcc-feedback.ts';

export interface BandwidthEstimatorOptions {
  /** The estimate before any feedback, bit/s (what the caller starts sending). */
  startBitrate: number;
  /** Never below this, bit/s. */
  minBitrate: number;
  /** Never above this, bit/s (e.g. the top rendition with room for probing up to it). */
  maxBitrate: number;
  /**
   * Packets remembered for feedback; a power of two. Default: what `maxBitrate` sends in the 2 s that
   * feedback is waited for, at 1000 bytes a packet (media packets are about 1100, probe padding 100-280 for
   * 80 ms at a time), from 1024 to 16384: 2048 for a 2.5 Mbit/s top rung (twice that for probing), 7 s of
   * its packets. It is 33 bytes a packet for every viewer.
   */
  historyCapacity?: number;
  /** Probe clusters' shape and backoff. */
  probe?: ProbeOptions;
}

export interface BandwidthEstimate {
  /** The target: the lower of the delay-based and loss-based rates, bit/s. */
  bitrate: number;
  /** From the delay trend (AIMD), bit/s. */
  delayBased: number;
  /** The loss-based cap, bit/s; equal to `delayBased` while loss does not bind. */
  lossBased: number;
  /** What the receiver got over the last 500 ms, bit/s; 0 before feedback. */
  acknowledged: number;
  /** What was sent over the last 500 ms, bit/s. */
  sending: number;
  /** The delay trend's verdict. */
  state: BandwidthUsage;
  /** The round-trip time in use, ms (`onRtt()`, else from feedback timing, else 200). */
  rttMs: number;
  /** Loss over the last window of reported packets (0–1). */
  lossRate: number;
  /** How long packets wait in queues on the path now, over the emptiest of the last ~30 s, ms. */
  queueDelayMs: number;
  /** A probe cluster is out and not yet judged. */
  probing: boolean;
}

/** Feedback silent this long while we send: the estimate decays (×0.8 per second), as libwebrtc's RTT backoff. */
const FEEDBACK_TIMEOUT_MS = 1000;
/** No feedback this long: the delay detector starts afresh (libwebrtc kStreamTimeOut). */
const STREAM_TIMEOUT_MS = 2000;
/** Halving the estimate on overuse before any acknowledged rate exists, at most this often. */
const INITIAL_REDUCE_INTERVAL_MS = 200;
const DEFAULT_RTT_MS = 200;
/** Feedback RTT samples kept (their minimum is the fallback RTT). */
const FEEDBACK_RTT_SAMPLES = 32;
/** Loss above 10 % with a standing queue this high is congestion, even when the delay trend is flat. */
const CONGESTION_QUEUE_MS = 30;
const HIGH_LOSS = 0.1;
/** After a probe is judged, an overuse does not take the estimate below what the probe showed for this long (plus 2 RTT). */
const PROBE_GUARD_MS = 1000;
/** A saturated probe's ceiling is forgotten once the link delivers this much more than it. */
const CEILING_RELEASE = 1.15;
/**
 * The guards after a probe or a step up hold against the brief queue of their own burst. A queue standing
 * (≥ `CONGESTION_QUEUE_MS`) longer than this is the link, not the burst: the guard gives way. (A link
 * narrowing just after a probe was otherwise held at the probe's start estimate for a second.)
 */
const GUARD_STANDING_MS = 300;

/** The send history's default size for a sender that never goes above `maxBitrate` (see `historyCapacity`). */
export function historyCapacityFor(maxBitrate: number): number {
  const packets = Math.ceil(((maxBitrate / 8) * 2) / 1000);
  return Math.min(16384, Math.max(1024, 2 ** Math.ceil(Math.log2(packets))));
}

/** What a caller asking for a probe may add to its target (`requestProbe`). */
export interface ProbeRequest {
  /**
   * What the caller needs the link to carry (under the target, which is set above it because a probe
   * measures a little under its rate): a probe that fills the link yet shows this much is a success at
   * what it showed. Default: only a probe the link carried whole is.
   */
  enoughBitrate?: number;
}

export class BandwidthEstimator {
  readonly #min: number;
  readonly #max: number;
  readonly #startBitrate: number;
  /** Whether the estimate is still the start's guess: no cut and no probe has tested it yet. */
  #guessed = true;
  /** The highest rate a probe found the link to carry (bit/s). */
  #carried = 0;
  readonly #history: SendHistory;
  readonly #interArrival = new InterArrival(5);
  #trendline = new TrendlineDetector();
  readonly #aimd: AimdRateControl;
  readonly #loss: LossBasedControl;
  readonly #acked = new RateMeter({ windowMs: 500 });
  #packetsAcknowledged = 0;
  readonly #sent = new RateMeter({ windowMs: 500 });
  readonly #probes: ProbeController;
  readonly #tracker = new ProbeTracker();
  readonly #queue = new QueueDelay();
  /** The estimate when the pending probe was asked for, and the floor that guards it afterwards. */
  #probeStartEstimate = 0;
  #probeGuardFloor = 0;
  #probeGuardUntilMs = Number.NEGATIVE_INFINITY;
  /** What the pending probe's caller needs the link to carry (`requestProbe`'s `enoughBitrate`). */
  #probeEnough = Number.POSITIVE_INFINITY;
  /** A saturated probe's measure of the link: increases without a probe stop there. */
  #probedCeiling = Number.POSITIVE_INFINITY;
  #lossCap = Number.POSITIVE_INFINITY;
  #rttMs = Number.NaN;
  readonly #feedbackRtts = new Float64Array(FEEDBACK_RTT_SAMPLES).fill(Number.NaN);
  #feedbackRttNext = 0;
  #referenceRaw = -1;
  #referenceUnwrapped = 0;
  #lastFeedbackMs = Number.NaN;
  #firstSendMs = Number.NaN;
  #lastSendMs = Number.NaN;
  #lastInitialReduceMs = Number.NEGATIVE_INFINITY;
  /** Since when a queue has stood on the path (NaN: none stands now). */
  #queueStandingSinceMs = Number.NaN;
  #timeoutDecayMs = Number.NaN;
  #lastProbe: ProbeOutcome | undefined;
  /** Packets sent before this (the last cut) no longer count towards loss. */
  #lossCountFromMs = Number.NEGATIVE_INFINITY;

  constructor(options: BandwidthEstimatorOptions) {
    const { startBitrate, minBitrate, maxBitrate } = options;
    for (const [name, value] of Object.entries({ startBitrate, minBitrate, maxBitrate })) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
        throw new RangeError(`BandwidthEstimator: ${name} must be a positive number of bit/s (got ${String(value)})`);
      }
    }
    if (minBitrate > maxBitrate) throw new RangeError(`BandwidthEstimator: minBitrate (${minBitrate}) is above maxBitrate (${maxBitrate})`);
    this.#min = minBitrate;
    this.#max = maxBitrate;
    this.#history = new SendHistory({ capacity: options.historyCapacity ?? historyCapacityFor(maxBitrate) });
    this.#startBitrate = startBitrate;
    this.#aimd = new AimdRateControl({ startBitrate, minBitrate, maxBitrate });
    this.#loss = new LossBasedControl({ minBitrate, maxBitrate });
    this.#probes = new ProbeController(options.probe);
  }

  /**
   * A packet left: its transport-wide sequence number (16 bits), its size on the wire (bytes), when
   * (ms), and the probe cluster it belongs to (0 or absent: media). The hot path: no allocation.
   */
  onPacketSent(transportSequence: number, bytes: number, sendTimeMs: number, probeClusterId = 0): void {
    const unwrapped = this.#history.add(transportSequence, bytes, sendTimeMs, probeClusterId);
    this.#sent.add(sendTimeMs, bytes);
    if (probeClusterId !== 0) this.#tracker.onSent(probeClusterId, unwrapped);
    if (Number.isNaN(this.#firstSendMs)) this.#firstSendMs = sendTimeMs;
    this.#lastSendMs = sendTimeMs;
  }

  /** Packets the feedback said arrived, of those sent (`onPacketSent`) and still in the send history. */
  get packetsAcknowledged(): number {
    return this.#packetsAcknowledged;
  }

  /** A round-trip time measured elsewhere (RTCP receiver reports: `roundTripTimeMs()` in lib/rtp/rtcp.ts). */
  onRtt(rttMs: number): void {
    if (!(rttMs >= 0) || !Number.isFinite(rttMs)) return;
    this.#rttMs = rttMs;
    this.#aimd.setRtt(rttMs);
  }

  /**
   * A receiver report's fraction lost (0–1). Used only while transport-cc gives no loss figure (none
   * in the last 2 s): RTCP's figure counts packets a NACK recovered as received.
   */
  onReceiverReport(fractionLost: number, nowMs: number): void {
    if (!(fractionLost >= 0 && fractionLost <= 1)) return;
    const last = this.#loss.lastLossUpdateMs;
    if (Number.isNaN(last) || nowMs - last > 2000) {
      this.#loss.setLossRate(fractionLost, nowMs);
      this.#updateLossCap(nowMs);
    }
  }

  /** One transport-cc feedback (`parseTwccFeedback()` of what `readRtcp()` found), received at `nowMs`. */
  onFeedback(feedback: TwccFeedback, nowMs: number): void {
    if (!Number.isNaN(this.#lastFeedbackMs) && nowMs - this.#lastFeedbackMs > STREAM_TIMEOUT_MS) {
      this.#interArrival.reset();
      this.#trendline = new TrendlineDetector();
    }
    this.#lastFeedbackMs = nowMs;
    this.#timeoutDecayMs = Number.NaN;
    const offsetUs = this.#unwrapReference(feedback);
    const arrivals = feedback.arrivalTimesUs;
    const history = this.#history;
    let lost = 0;
    let reported = 0;
    let newestReceivedSendMs = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < feedback.packetStatusCount; i++) {
      const unwrapped = history.lookup((feedback.baseSequence + i) & 0xffff);
      if (unwrapped < 0) continue;
      const before = history.report(unwrapped);
      const arrivalUs = arrivals[i]!;
      const sendMs = history.sendTimeMs(unwrapped);
      // Loss counts only for packets sent since the last cut: the cut already answered earlier ones.
      const counts = sendMs >= this.#lossCountFromMs ? 1 : 0;
      if (Number.isNaN(arrivalUs)) {
        if (before === REPORT_NONE) {
          history.markLost(unwrapped);
          lost += counts;
          reported += counts;
        }
        continue;
      }
      if (before === REPORT_RECEIVED) continue; // reported twice
      if (before === REPORT_LOST) lost -= counts; // late, not lost
      else reported += counts;
      const arrivalMs = (arrivalUs + offsetUs) / 1000;
      history.markReceived(unwrapped, arrivalUs + offsetUs);
      this.#packetsAcknowledged++;
      const bytes = history.bytes(unwrapped);
      if (sendMs > newestReceivedSendMs) newestReceivedSendMs = sendMs;
      this.#acked.add(arrivalMs, bytes);
      this.#queue.add(arrivalMs - sendMs, nowMs);
      if (this.#interArrival.add(sendMs, arrivalMs)) {
        const d = this.#interArrival.deltas;
        this.#trendline.update(d.arrivalDeltaMs, d.sendDeltaMs, d.arrivalTimeMs);
      }
    }
    if (newestReceivedSendMs > Number.NEGATIVE_INFINITY) this.#addFeedbackRtt(nowMs - newestReceivedSendMs);
    this.#queue.commit();
    if (this.#queue.delayMs < CONGESTION_QUEUE_MS) this.#queueStandingSinceMs = Number.NaN;
    else if (Number.isNaN(this.#queueStandingSinceMs)) this.#queueStandingSinceMs = nowMs;
    const targetBefore = this.#target();
    const lossFigure = (reported > 0 || lost !== 0) && this.#loss.addPackets(lost, reported, nowMs);
    this.#updateProbe(nowMs);
    // Heavy loss over a standing queue: the link is full (a drop-tail buffer the trend did not see
    // fill). Cut as for overuse, from what was delivered; the loss-based cut is then not applied too.
    const congested = lossFigure && this.#loss.lossRate > HIGH_LOSS && this.#queue.delayMs >= CONGESTION_QUEUE_MS;
    this.#updateDelayBased(congested ? 'overusing' : this.#trendline.state, nowMs, congested);
    if (congested) this.#loss.consumeFigure();
    this.#updateLossCap(nowMs);
    if (this.#target() < targetBefore) {
      this.#lossCountFromMs = nowMs;
      this.#loss.restartWindow(nowMs);
    }
  }

  /**
   * A probe cluster to send now so that the estimate may reach `targetBitrate` (e.g. the next
   * rendition up with its margin), or undefined if none may go (one is out, the last failed not long
   * ago, overusing or the link full, or the estimate already covers it). Send its packets, each with its
   * id, to `onPacketSent()`; the result arrives with the feedback (`lastProbe`). A cluster not judged within
   * its duration + max(1 s, 3 RTT) (not sent whole, or its feedback lost) counts as a failed probe.
   * See `ProbeRequest` for what else the caller may say.
   */
  requestProbe(targetBitrate: number, nowMs: number, request: ProbeRequest = {}): ProbeCluster | undefined {
    this.#expireProbe(nowMs);
    // Nor into a full link (one that just narrowed): the probe would measure the queue, and its padding would
    // push out media (the keyframe of the rung just stepped down to).
    if (this.#trendline.state === 'overusing' || this.#linkFull()) return undefined;
    const estimate = this.#target();
    const sent = this.#sent.bitrate(nowMs) ?? 0;
    // Until a probe or a cut has tested it, the estimate is the start's guess: a probe at twice it on a
    // link far thinner (300 kbit/s under a 1 Mbit/s guess) is a burst its queue drops, media and all. Such a
    // first probe goes from what the link already carries; each success doubles from there.
    const from = this.guessing ? Math.min(estimate, Math.max(sent, this.#acked.bitrate() ?? 0, this.#carried)) : estimate;
    const cluster = this.#probes.request(Math.min(targetBitrate, this.#max), from, sent, this.#max, nowMs);
    if (cluster) {
      this.#tracker.start(cluster.id, cluster.packets);
      this.#probeStartEstimate = estimate;
      this.#probeEnough = request.enoughBitrate ?? Number.POSITIVE_INFINITY;
    }
    return cluster;
  }

  /**
   * The sender just raised what it sends on the estimate's word (a step up to a larger rendition, whose
   * keyframe comes first): for a moment an overuse does not take the estimate below `floor`. The acknowledged
   * rate an overuse cuts to still holds the smaller rendition's rate; the new one's first burst would
   * otherwise cut the estimate under what the step up was decided on, and step straight back down.
   */
  guardStepUp(floor: number, nowMs: number): void {
    const active = nowMs < this.#probeGuardUntilMs ? this.#probeGuardFloor : 0;
    this.#probeGuardFloor = Math.max(active, Math.min(floor, this.#aimd.bitrate));
    this.#probeGuardUntilMs = nowMs + PROBE_GUARD_MS + 2 * this.#rtt();
  }

  /**
   * Whether the estimate is still the start's guess: nothing has tested it yet (no cut below it, no probe
   * the link carried at its rate). Feedback alone does not: a viewer sent a thin rung says nothing of more.
   */
  get guessing(): boolean {
    if (this.#guessed && (this.#aimd.bitrate < this.#startBitrate || this.#carried >= this.#aimd.bitrate)) this.#guessed = false;
    return this.#guessed;
  }

  /** The highest rate a probe found the link to carry (bit/s; 0: none yet). */
  get carried(): number {
    return this.#carried;
  }

  /** The last probe's outcome, if any. */
  get lastProbe(): ProbeOutcome | undefined {
    return this.#lastProbe;
  }

  /** When the next probe may go (−Infinity: now), after failures. */
  get probeNotBeforeMs(): number {
    return this.#probes.notBeforeMs;
  }

  /** The estimate now. Cheap; call it as often as needed. */
  estimate(nowMs: number): BandwidthEstimate {
    this.#expireProbe(nowMs);
    this.#feedbackTimeout(nowMs);
    const delayBased = this.#aimd.bitrate;
    const lossBased = Math.min(this.#lossCap, delayBased);
    return {
      bitrate: Math.max(this.#min, Math.min(delayBased, lossBased)),
      delayBased,
      lossBased,
      acknowledged: this.#acked.bitrate() ?? 0,
      sending: this.#sent.bitrate(nowMs) ?? 0,
      state: this.#trendline.state,
      rttMs: this.#rtt(),
      lossRate: this.#loss.lossRate,
      queueDelayMs: this.#queue.delayMs,
      probing: this.#probes.pending !== undefined,
    };
  }

  #target(): number {
    return Math.max(this.#min, Math.min(this.#aimd.bitrate, this.#lossCap));
  }

  #rtt(): number {
    if (!Number.isNaN(this.#rttMs)) return this.#rttMs;
    let min = Number.POSITIVE_INFINITY;
    for (const sample of this.#feedbackRtts) if (sample < min) min = sample;
    return Number.isFinite(min) ? min : DEFAULT_RTT_MS;
  }

  #addFeedbackRtt(sample: number): void {
    this.#feedbackRtts[this.#feedbackRttNext] = sample;
    this.#feedbackRttNext = (this.#feedbackRttNext + 1) % FEEDBACK_RTT_SAMPLES;
    if (Number.isNaN(this.#rttMs)) this.#aimd.setRtt(this.#rtt());
  }

  /** µs to add to this feedback's arrival times to put them on one unwrapped receiver clock. */
  #unwrapReference(feedback: TwccFeedback): number {
    const raw = feedback.referenceTimeRaw;
    if (this.#referenceRaw < 0) {
      this.#referenceUnwrapped = raw;
    } else {
      const diff = ((((raw - this.#referenceRaw) & 0xffffff) + 0x800000) & 0xffffff) - 0x800000;
      this.#referenceUnwrapped += diff;
    }
    this.#referenceRaw = raw;
    return (this.#referenceUnwrapped - feedback.referenceTime) * TWCC_REFERENCE_TIME_US;
  }

  /**
   * The AIMD step for `state`: the trend's, or 'overusing' when loss and a standing queue say congestion
   * (`lossCongestion`).
   * A probe's own queue must not cost more than the probe: for a moment after it, an overuse does not
   * take the estimate below what it was before the probe (or what the probe measured, if lower).
   * Without a probe, increases stop at what the last saturated probe measured.
   */
  #updateDelayBased(state: BandwidthUsage, nowMs: number, lossCongestion: boolean): void {
    const acked = this.#acked.bitrate();
    const before = this.#aimd.bitrate;
    if (state === 'overusing') {
      if (acked !== undefined) {
        // A loss figure is already paced (one per window, counting only packets sent since the last cut).
        if (lossCongestion || this.#aimd.timeToReduceFurther(nowMs, acked)) this.#aimd.update(state, acked, nowMs);
      } else if (nowMs - this.#lastInitialReduceMs >= INITIAL_REDUCE_INTERVAL_MS) {
        // Overusing before any acknowledged rate: halve, as libwebrtc does.
        this.#aimd.setEstimate(this.#aimd.bitrate / 2, nowMs);
        this.#lastInitialReduceMs = nowMs;
      }
      // Not against heavy loss over a standing queue, nor against a queue standing longer than a burst's:
      // that is the link narrowing, not a burst of our own (held at 0.85 × a step up's estimate, a viewer
      // lost ~80 % of its packets for a second).
      const linkNarrowed = lossCongestion || nowMs - this.#queueStandingSinceMs > GUARD_STANDING_MS;
      const floor = linkNarrowed ? 0 : this.#probes.pending ? this.#probeStartEstimate : nowMs < this.#probeGuardUntilMs ? this.#probeGuardFloor : 0;
      if (this.#aimd.bitrate < floor) this.#aimd.setEstimate(Math.min(floor, before), nowMs);
      return;
    }
    this.#aimd.update(state, acked, nowMs);
    if (this.#aimd.bitrate > before && this.#aimd.bitrate > this.#probedCeiling) {
      this.#aimd.setEstimate(Math.max(before, this.#probedCeiling), nowMs);
    }
    // Sending well above the old ceiling and the link delivered it: the ceiling no longer holds.
    if (acked !== undefined && acked > CEILING_RELEASE * this.#probedCeiling && nowMs >= this.#probeGuardUntilMs) {
      this.#probedCeiling = Number.POSITIVE_INFINITY;
    }
  }

  /** A queue stands on the path and the last loss figure is heavy: the link's buffer is full and overflowing. */
  #linkFull(): boolean {
    return this.#queue.delayMs >= CONGESTION_QUEUE_MS && this.#loss.lossRate > HIGH_LOSS;
  }

  #updateLossCap(nowMs: number): void {
    this.#lossCap = this.#loss.update(this.#target(), this.#aimd.bitrate, this.#rtt(), nowMs);
  }

  #updateProbe(nowMs: number): void {
    const outcome = this.#tracker.evaluate(this.#history);
    if (!outcome) return;
    this.#lastProbe = outcome;
    // A probe that filled the link still measures it (95 % of what arrived): when that is what the caller
    // needed, the link carries it (a 3.6–4 Mbit/s link measured 3.4–3.7 Mbit/s, saturated, against the top
    // rung's 3.2 Mbit/s bar: counted a failure, the viewer stayed on the middle rung for good).
    const enough = outcome.saturated && outcome.bitrate >= this.#probeEnough;
    const success = outcome.bitrate > 0 && (!outcome.saturated || enough);
    if (success) this.#carried = Math.max(this.#carried, outcome.bitrate);
    // A probe the link carried raises the estimate to its rate (unless the link is queueing now). Any other
    // saturated one only sets a ceiling: what arrived of it was our share of a full bottleneck, which
    // exceeds what is free when other traffic shares it; and a rate cap's bucket passes a short probe's
    // start above the cap. Tried 2026-12-02 libwebrtc's way (95 % of what arrived, always): probes measured
    // up to 0.48 Mbit/s on a 300 kbit/s link and the estimate went to 0.36.
    if (success && outcome.bitrate > this.#aimd.bitrate && this.#trendline.state !== 'overusing') {
      this.#aimd.setEstimate(outcome.bitrate, nowMs);
      this.#loss.release();
    }
    this.#probedCeiling = !outcome.saturated && success ? Number.POSITIVE_INFINITY : outcome.bitrate > 0 ? outcome.bitrate : this.#probedCeiling;
    this.#probeGuardFloor = Math.min(this.#probeStartEstimate, outcome.bitrate);
    this.#probeGuardUntilMs = nowMs + PROBE_GUARD_MS + 2 * this.#rtt();
    this.#probes.settle(success, nowMs);
  }

  /** A cluster not judged in time (never fully sent, or its feedback lost) counts as a failure. */
  #expireProbe(nowMs: number): void {
    const pending = this.#probes.pending;
    if (!pending) return;
    if (this.#probes.pendingForMs(nowMs) > pending.durationMs + Math.max(1000, 3 * this.#rtt())) {
      this.#tracker.stop();
      this.#probes.settle(false, nowMs);
    }
  }

  /** Sending, but no feedback for a second: the path may be gone; decay ×0.8 per second to the minimum. */
  #feedbackTimeout(nowMs: number): void {
    const since = Number.isNaN(this.#lastFeedbackMs) ? this.#firstSendMs : this.#lastFeedbackMs;
    if (Number.isNaN(since) || nowMs - since < FEEDBACK_TIMEOUT_MS || nowMs - this.#lastSendMs > FEEDBACK_TIMEOUT_MS) return;
    if (Number.isNaN(this.#timeoutDecayMs)) this.#timeoutDecayMs = since + FEEDBACK_TIMEOUT_MS;
    const elapsed = nowMs - this.#timeoutDecayMs;
    if (elapsed <= 0) return;
    this.#aimd.setEstimate(Math.max(this.#min, this.#aimd.bitrate * 0.8 ** (elapsed / 1000)), nowMs);
    this.#timeoutDecayMs = nowMs;
  }
}
