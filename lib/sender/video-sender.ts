/**
 * One viewer's video: the best rendition its own link carries, in one continuous RTP stream (its own
 * sequence numbers and timestamps across switches), paced to the link's estimate, its losses repaired
 * within a budget and its picture losses answered.
 *
 *   rendition tracks ──► (current, or the pending one from its keyframe) ──► pacer ──► writer (SRTP, UDP)
 *         ▲                                                                    ▲
 *         └──────────── rendition choice ◄── bandwidth estimate ◄── RTCP (transport-wide feedback,
 *                                                                    receiver reports, NACK, PLI)
 *
 * Down is at once (the queue of the old rendition is dropped, the new one starts from its GOP cache: a
 * picture at once); up waits for the new rendition's next keyframe and needs a probe to show the room first.
 * A viewer whose browser did not negotiate transport-cc gets the top rendition, unpaced, as before.
 */
import type { LaneBinding } from '../fanout/native-fanout.ts';
import type { Rendition } from '../fanout/stream-track.ts';
import { readRtcp } from '../rtp/rtcp.ts';
import { NO_PATCH, payloadPatch } from '../rtp/payload-patch.ts';
import { rtpHeaderLength, timestampOf } from '../rtp/rtp-packet.ts';
import { startsKeyframe, vp8PictureIdField } from '../rtp/rtp-payload.ts';
import { PictureIds } from './picture-ids.ts';
import type { VideoCodec } from '../types.ts';
import { BandwidthEstimator } from './bwe/index.ts';
import type { DirectRtpSender } from './direct-sender.ts';
import { LinkFeedback, type FeedbackCounts } from './link-feedback.ts';
import { NackResponder, type NackCounts } from './nack-responder.ts';
import type { NativeLane } from './native-lane.ts';
import { OutgoingStream } from './outgoing-stream.ts';
import { Pacer, type QueuedPacket } from './pacer.ts';
import { pacingRate, UNPACED } from './pacing-rate.ts';
import { RenditionChoice } from './rendition-choice.ts';
import type { RtpSink } from './rtp-sink.ts';


export interface VideoSenderOptions {
  codec: VideoCodec;
  /** The transport-cc extension id, when the browser negotiated it; without it there is no estimate. */
  transportWideId: number | undefined;
  /** The estimate a viewer starts with, bit/s: it starts on the best rung this carries. */
  startBitrate: number;
  /**
   * Whether `startBitrate` is known rather than guessed (a peer on this machine or the LAN, by ICE's round
   * trip): then it paces from the first packet as a measured estimate would, and a joiner's GOP goes out at
   * once. A guess is held to a little over the start rung (pacing-rate.ts) until feedback measures the link.
   */
  startKnown?: boolean;
  /** Told every switch and probe (the logger's debug). */
  debug?: (message: string) => void;
}

export interface VideoSenderStats {
  /** The rendition sent now: 0 is the top. */
  rendition: number;
  /** The link's estimate, bit/s; undefined without transport-cc. */
  estimate: number | undefined;
  /** What the viewer's feedback says arrived lately, bit/s; undefined without transport-cc. */
  acknowledged: number | undefined;
  /** Round-trip time from the estimator, ms. */
  roundTripTimeMs: number | undefined;
  switches: number;
  nacks: NackCounts;
  /** Picture loss indications answered (with the current rendition's GOP). */
  keyframeRequests: number;
  /**
   * Transport-cc feedback packets read, and those that did not parse (most unparsable: no estimate); the
   * media packets they said arrived, of those the estimator knew it sent.
   */
  feedback: FeedbackCounts & { packetsAcknowledged: number };
  pacer: { queueMs: number; queuedPackets: number; dropped: number; rate: number | undefined };
  /** Whether its packets are numbered and queued in C now (its lane: native-lane.ts), and how often it went there. */
  lane: { now: boolean; entered: number };
}

/** For a moment after a step up, an overuse cuts the estimate to no less than this share of it. */
const STEP_UP_GUARD = 0.85;
/** A browser that has sent no transport-wide feedback this long after media started will not. */
const NO_FEEDBACK_GIVE_UP_MS = 3_000;
/** A replay's queue is not an overflow for at least this long (more when the replay takes longer to send). */
const REPLAY_GRACE_MIN_MS = 1_000;
/** A viewer asking for keyframes more often than this gets one replay per interval. */
const KEYFRAME_REQUEST_INTERVAL_MS = 250;
/**
 * Up at once (from the new rendition's GOP) when that replay takes no longer than this at the estimate;
 * else at its next keyframe.
 */
const IMMEDIATE_UP_MAX_MS = 150;
/**
 * A joiner's first picture (its GOP's keyframe: the start rung's are 3–4.5 kB, at most ~7.5) leaves at the
 * start estimate rather than the start guess's pacing rate (pacing-rate.ts), the rest of the replay waiting
 * out the difference: at 300 kbit/s a 4 kB keyframe's last packet waited ~30 ms behind the bucket's first three.
 * Not a keyframe larger than this (a single rendition's 720p one: a burst a thin link's queue may drop).
 */
const JOIN_BOOST_MAX_BYTES = 12_000;
const ignoreSent = (): void => {};
/** How often a viewer that could be sent from its lane (C) looks whether it is steady enough to go there. */
const LANE_TRY_MS = 100;
/**
 * After this long in its lane a viewer lets go of what it sent from JavaScript before (repairs that old are
 * of no use: the history's 1024 packets are ~8 s of the 720p stream, a NACK's answer ~2 round trips).
 */
const LANE_RELEASE_HISTORY_MS = 2_000;

export class VideoSender {
  readonly #writer: DirectRtpSender;
  readonly #renditions: readonly Rendition[];
  readonly #options: VideoSenderOptions;
  readonly #sinks: RtpSink[];
  readonly #stream = new OutgoingStream();
  readonly #pacer: Pacer;
  readonly #nacks: NackResponder;
  readonly #choice: RenditionChoice;
  #estimator: BandwidthEstimator | undefined;
  readonly #feedback: LinkFeedback;
  #startedAtMs = performance.now();
  /** The last probe whose verdict `#adapt` has read. */
  #probeJudged: number | undefined;
  #current: number;
  #pending: number | undefined;
  #rebaseNext = true;
  /** After an overflow on the lowest rung: nothing until its next keyframe. */
  #waitingForKeyframe = false;
  /** Until then the queue may exceed its bound: a GOP replay is on its way. */
  #graceUntilMs = 0;
  #transportWideSeq = 0;
  /** The viewer's own VP8 PictureIDs (undefined for H.264). */
  readonly #pictureIds: PictureIds | undefined;
  /** The transport-wide extension's id and the number the packet being sent carries (undefined: not negotiated). */
  readonly #transportWide: { id: number; sequenceNumber: number } | undefined;
  #switches = 0;
  #keyframeRequests = 0;
  #lastKeyframeRequestMs = Number.NEGATIVE_INFINITY;
  #stopped = false;
  /** Whether the last media packet sent ended its frame (the marker bit): only then may padding go. */
  #frameEnded = true;
  /**
   * The viewer's lane (C numbers and queues its packets while it is steady: native-lane.ts), as the
   * rendition's fan-out holds it; whether it is there now, when to look again, and how often it went.
   */
  readonly #lane: NativeLane | undefined;
  readonly #laneBinding: LaneBinding | undefined;
  #inLane = false;
  #laneTryAtMs = 0;
  #laneEntered = 0;
  /** When the viewer went to its lane (performance.now()), and whether its JavaScript history was let go of since. */
  #laneSinceMs = 0;
  #historyReleased = false;

  constructor(writer: DirectRtpSender, renditions: readonly Rendition[], options: VideoSenderOptions) {
    this.#writer = writer;
    this.#renditions = renditions;
    this.#options = options;
    this.#choice = new RenditionChoice(
      () => renditions.map((rendition) => rendition.rate),
      () => renditions.map((rendition) => rendition.peakRate),
    );
    this.#sinks = renditions.map((_, index) => ({ kind: 'video', send: (packet: Buffer) => this.#onPacket(index, packet) }));
    this.#nacks = new NackResponder({ sentAt: (seq) => this.#writer.sentAt(seq) });
    this.#feedback = new LinkFeedback(writer.access.ssrc);
    this.#transportWide = options.transportWideId === undefined ? undefined : { id: options.transportWideId, sequenceNumber: 0 };
    this.#pictureIds = options.codec === 'vp8' ? new PictureIds() : undefined;
    if (options.transportWideId !== undefined) {
      const top = renditions[0]!.bitrate;
      this.#estimator = new BandwidthEstimator({
        startBitrate: options.startBitrate,
        minBitrate: Math.min(100_000, renditions.at(-1)!.bitrate),
        maxBitrate: Math.max(top * 2, options.startBitrate),
        // Padding-only packets carry at most 255 bytes.
        // Long enough that a shaper's bucket and queue cannot pass the whole probe at its rate: 80 ms.
        // After a failed probe the next waits 2 s, doubling to 4 s at most: a link that recovers (a cap lifted)
        // is found again within seconds.
        probe: { maxPacketSize: 280, minPacketSize: 100, maxFactor: 2, durationMs: 80, backoffInitialMs: 2_000, backoffMaxMs: 4_000 },
      });
      this.#current = this.#choice.initial(options.startBitrate);
    } else {
      this.#current = 0;
    }
    this.#pacer = new Pacer(
      {
        sendMedia: (entry, now) => this.#sendMedia(entry, now),
        sendRetransmission: (seq, now) => this.#sendRetransmission(seq, now),
        sendPadding: (size, clusterId, now) => this.#sendPadding(size, clusterId, now),
      },
      this.#estimator ? pacingRate(options.startBitrate, renditions[this.#current]!.rate, options.startKnown ?? false) : UNPACED,
    );
    this.#pacer.linkRate = this.#estimator ? options.startBitrate : UNPACED;
    this.#lane = writer.lane;
    const lane = this.#lane;
    this.#laneBinding = lane && {
      handle: lane.handle,
      get refused() {
        return lane.refused;
      },
      onRefused: (packet) => this.#laneRefused(packet),
      check: (now) => {
        if (!this.#writer.laneReady(now)) {
          this.#leaveLane();
        } else if (!this.#historyReleased && now - this.#laneSinceMs >= LANE_RELEASE_HISTORY_MS) {
          this.#writer.releaseHistory();
          this.#historyReleased = true;
        }
      },
    };
    writer.onSenderReport = (ntp, sentAtMs = performance.now()) => this.#feedback.onSenderReport(ntp, sentAtMs);
    writer.access.onNack((lost) => this.#onNack(lost));
  }

  /** Starts sending: the start rendition's GOP, then its live packets. */
  start(): void {
    this.#startedAtMs = performance.now();
    this.#rebaseNext = true;
    this.#bindWithReplay(this.#current);
    // The replay is queued behind what the bucket let out at once: the rest of its keyframe goes sooner.
    if (this.#estimator && !this.#options.startKnown) this.#pacer.boostFrame(this.#options.startBitrate, JOIN_BOOST_MAX_BYTES);
  }

  /** A decrypted compound RTCP packet from the viewer (lib/werift/rtcp-tap.ts). */
  onRtcp(rtcp: Buffer): void {
    if (this.#stopped) return;
    const now = performance.now();
    const summary = readRtcp(rtcp);
    // What the lane sent (its packets, its last sender report), for the feedback to be read against.
    this.#writer.takeLaneReports();
    if (this.#inLane) this.#takeLaneSends();
    this.#feedback.read(summary, this.#estimator, now);
    const ssrc = this.#writer.access.ssrc;
    if (summary.keyframeRequests.some((request) => request.mediaSsrc === ssrc)) this.#onPictureLoss(now);
    if (!this.#estimator) return;
    if (!this.#feedback.usable && now - this.#startedAtMs > NO_FEEDBACK_GIVE_UP_MS) this.#withoutEstimate();
    else if (this.#feedback.seen) this.#adapt(this.#estimator, now);
  }

  /**
   * The browser negotiated transport-cc but sends no feedback, or mostly feedback that does not parse
   * (werift's receiver, for one): without an estimate the viewer gets the top rendition, unpaced, as one
   * that did not negotiate it.
   */
  #withoutEstimate(): void {
    this.#leaveLane();
    const { received, malformed } = this.#feedback.counts;
    this.#options.debug?.(`no usable transport-wide feedback (${received} read, ${malformed} malformed): the top rendition, unpaced`);
    this.#estimator = undefined;
    this.#pacer.rate = UNPACED;
    this.#pacer.linkRate = UNPACED;
    if (this.#current !== 0) this.#switchUpTo(0, UNPACED);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#leaveLane();
    this.#stopped = true;
    this.#renditions.forEach((rendition, index) => rendition.track.unbind(this.#sinks[index]!));
    this.#pacer.close();
  }

  stats(): VideoSenderStats {
    const estimate = this.#feedback.seen ? this.#estimator?.estimate(performance.now()) : undefined;
    return {
      rendition: this.#current,
      estimate: estimate && Math.round(estimate.bitrate),
      acknowledged: estimate && Math.round(estimate.acknowledged),
      roundTripTimeMs: estimate && Math.round(estimate.rttMs),
      switches: this.#switches,
      nacks: { ...this.#nacks.counts },
      keyframeRequests: this.#keyframeRequests,
      feedback: { ...this.#feedback.counts, packetsAcknowledged: this.#estimator?.packetsAcknowledged ?? 0 },
      pacer: {
        queueMs: Math.round(this.#pacer.queueMs),
        queuedPackets: this.#pacer.queuedPackets,
        dropped: this.#pacer.counts.dropped,
        rate: this.#estimator ? Math.round(this.#pacer.rate) : undefined,
      },
      lane: { now: this.#inLane, entered: this.#laneEntered },
    };
  }

  #onPacket(index: number, packet: Buffer): void {
    if (index === this.#pending) {
      if (!startsKeyframe(this.#options.codec, packet)) return;
      // The new rendition's keyframe: it takes over from here.
      this.#renditions[this.#current]!.track.unbind(this.#sinks[this.#current]!);
      this.#current = index;
      this.#pending = undefined;
      this.#rebaseNext = true;
      this.#switches++;
      this.#choice.switched();
      this.#guardStepUp();
    } else if (index !== this.#current) {
      return;
    }
    if (this.#waitingForKeyframe) {
      if (!startsKeyframe(this.#options.codec, packet)) return;
      this.#waitingForKeyframe = false;
      this.#rebaseNext = true;
    }
    const now = performance.now();
    this.#pacer.enqueue({ packet, rebase: this.#rebaseNext, at: now }, now);
    this.#rebaseNext = false;
    // Before the first feedback the queue is measured against a guess: no drop on a guess. Asked at every
    // packet, grace or not, so that its trend is known when the grace ends (asked only after it, a joiner's
    // draining replay had no trend yet and was dropped at once: frozen 1.3 s on a 300 kbit/s link).
    const overflowing = this.#pacer.overflow(now);
    if (this.#feedback.seen && now >= this.#graceUntilMs && overflowing) this.#onOverflow();
    else if (this.#laneBinding && now >= this.#laneTryAtMs) this.#tryLane(now);
  }

  /**
   * Hands the stream to the viewer's lane when it is steady: one rendition, nothing pending or queued, no
   * probe, and (with an estimate) its feedback read and no replay's grace running. The lane numbers on from
   * where JavaScript is, and paces with the pacer's bucket and rate; `#leaveLane` takes it back for
   * anything else, and a packet the bucket cannot take yet goes back with it to the pacer's queue.
   */
  #tryLane(now: number): void {
    this.#laneTryAtMs = now + LANE_TRY_MS;
    // After this packet's fan-out: the lane would otherwise send it again (lanes are written after sinks).
    if (this.#steady(now)) queueMicrotask(this.#enterLane);
  }

  /** Whether the viewer may go to its lane now (the conditions above, and the writer able to send from C). */
  #steady(now: number): boolean {
    if (this.#inLane || this.#stopped || this.#pending !== undefined || this.#waitingForKeyframe || this.#rebaseNext) return false;
    if (this.#pacer.queuedPackets > 0 || this.#pacer.busy) return false;
    // With an estimate: once its feedback reads, and past a replay's grace (its queue is judged in JavaScript).
    if (this.#estimator && (!this.#feedback.seen || now < this.#graceUntilMs)) return false;
    return this.#writer.laneReady(now);
  }

  /** What the lane sent with transport-wide numbers, into the estimator's send history. */
  #takeLaneSends(): void {
    const estimator = this.#estimator;
    if (estimator) this.#lane!.takeSent((seq, bytes, at) => estimator.onPacketSent(seq, bytes, at));
    else this.#lane!.takeSent(ignoreSent);
  }

  readonly #enterLane = (): void => {
    if (!this.#steady(performance.now())) return;
    const stream = this.#stream;
    this.#lane!.enter({
      nextSeq: stream.nextSequenceNumber,
      rollover: this.#writer.rolloverState,
      timestampOffset: stream.timestampOffset,
      lastTimestamp: stream.lastTimestamp,
      lastAtMs: stream.lastAtMs,
      pictureIds: this.#pictureIds?.state,
      transportWide: this.#transportWide && { id: this.#transportWide.id, next: this.#transportWideSeq },
      frameEnded: this.#frameEnded,
      pacing: { rate: this.#estimator ? this.#pacer.rate : 0, ...this.#pacer.bucket },
    });
    const track = this.#renditions[this.#current]!.track;
    track.unbind(this.#sinks[this.#current]!);
    track.bindLane(this.#laneBinding!, this.#options.codec === 'vp8');
    this.#inLane = true;
    this.#laneEntered++;
    this.#laneSinceMs = performance.now();
    this.#historyReleased = false;
  };

  /** Takes the stream back from the lane (before anything but a steady packet): JavaScript numbers on from there. */
  #leaveLane(): void {
    if (!this.#inLane) return;
    this.#inLane = false;
    const track = this.#renditions[this.#current]!.track;
    track.unbindLane(this.#laneBinding!);
    this.#takeLaneSends();
    const numbering = this.#lane!.numbering();
    if (numbering.pacing.rate > 0) this.#pacer.bucket = numbering.pacing;
    this.#stream.resume(numbering.nextSeq, numbering.timestampOffset, numbering.lastTimestamp, numbering.lastAtMs);
    this.#writer.rolloverState = numbering.rollover;
    if (this.#pictureIds && numbering.pictureIds) this.#pictureIds.state = numbering.pictureIds;
    if (numbering.transportWide) this.#transportWideSeq = numbering.transportWide.next;
    this.#frameEnded = numbering.frameEnded;
    this.#laneTryAtMs = performance.now() + LANE_TRY_MS;
    if (!this.#stopped) track.bind(this.#sinks[this.#current]!, { replay: false });
  }

  /** The lane could not take `packet` (the viewer's socket or context gone, the queue stuck): JavaScript sends it. */
  #laneRefused(packet: Buffer): void {
    // Its pacer's bucket empty: the packet waits in JavaScript's pacer (a keyframe, most often); else a failure.
    if (!this.#lane!.paced) this.#options.debug?.(`the lane refused a packet (${this.#lane!.refusal}): sent from JavaScript`);
    this.#leaveLane();
    this.#onPacket(this.#current, packet);
  }

  /**
   * Binds to rendition `index` with its GOP replayed (a picture at once). The replay is a burst on purpose:
   * the queue it makes is not an overflow, for as long as the link needs to carry it.
   */
  #bindWithReplay(index: number): void {
    // The replay is queued inside bind(): its own packets must not count as an overflow (a switch made
    // from within bind() would leave this rung bound behind the new one).
    this.#graceUntilMs = Number.POSITIVE_INFINITY;
    // Its frames timed as the pacer will send them: they reach the browser when their timestamps say.
    this.#renditions[index]!.track.bind(this.#sinks[index]!, { replayBitrate: this.#pacer.rate });
    this.#graceUntilMs = performance.now() + Math.max(REPLAY_GRACE_MIN_MS, 1.5 * this.#pacer.queueMs);
    // Whether the replay drains is judged from its whole queue (from its first packet's, a joiner's replay on
    // a 300 kbit/s link read as growing when its grace ended: dropped, frozen 1.3 s till the next keyframe).
    this.#pacer.restartTrend();
  }

  /**
   * More waits than the link can carry soon: what waits is dropped (latency must not grow) and the viewer
   * goes on from a keyframe, a rung lower if there is one.
   */
  #onOverflow(): void {
    this.#options.debug?.(`pacer queue ${Math.round(this.#pacer.queueMs)} ms: dropped, a rung lower`);
    this.#choice.steppedDown(performance.now());
    if (this.#current < this.#renditions.length - 1) {
      this.#switchTo(this.#current + 1);
      return;
    }
    // Already the lowest: what waits goes, and the stream resumes at its next keyframe.
    this.#pacer.clear();
    this.#waitingForKeyframe = true;
  }

  /** Switches at once: the new rendition starts from its GOP (a picture at once), the old one's queue is dropped. */
  #switchTo(index: number): void {
    this.#leaveLane();
    const previous = this.#current;
    if (this.#pending !== undefined) this.#renditions[this.#pending]!.track.unbind(this.#sinks[this.#pending]!);
    this.#pending = undefined;
    this.#renditions[previous]!.track.unbind(this.#sinks[previous]!);
    // What waits of the old rendition is of no use any more: the new one starts from its GOP, at once.
    this.#pacer.clear();
    this.#current = index;
    this.#rebaseNext = true;
    this.#waitingForKeyframe = false;
    this.#switches++;
    this.#choice.switched();
    this.#bindWithReplay(index);
  }

  /** Up: at once when the new rendition's GOP is quick to send at `estimate`, else at its next keyframe. */
  #switchUpTo(index: number, estimate: number): void {
    this.#leaveLane();
    const gopBytes = this.#renditions[index]!.track.gop?.bytes ?? Number.POSITIVE_INFINITY;
    if ((gopBytes * 8) / (estimate / 1000) <= IMMEDIATE_UP_MAX_MS) {
      this.#switchTo(index);
      this.#guardStepUp();
      return;
    }
    if (this.#pending === index) return;
    if (this.#pending !== undefined) this.#renditions[this.#pending]!.track.unbind(this.#sinks[this.#pending]!);
    this.#pending = index;
    // No replay: the current rendition goes on until the new one's next keyframe.
    this.#renditions[index]!.track.bind(this.#sinks[index]!, { replay: false });
  }

  /** A step up landed: its first burst is no reason to cut the estimate it was decided on by more than 15 %. */
  #guardStepUp(): void {
    const estimator = this.#estimator;
    const now = performance.now();
    if (estimator) estimator.guardStepUp(STEP_UP_GUARD * estimator.estimate(now).bitrate, now);
  }

  /** A picture loss: the current rendition's GOP again (its keyframe first), at most every 250 ms. */
  #onPictureLoss(now: number): void {
    if (now - this.#lastKeyframeRequestMs < KEYFRAME_REQUEST_INTERVAL_MS) return;
    this.#lastKeyframeRequestMs = now;
    this.#keyframeRequests++;
    // A WebRTC source's sender (publisher, origin) is asked too; its own side limits the rate.
    this.#renditions[this.#current]!.requestKeyframe?.();
    this.#replayCurrent();
  }

  /** The current rendition again from its last keyframe (its GOP cache), instead of what waits. */
  #replayCurrent(): void {
    this.#leaveLane();
    const track = this.#renditions[this.#current]!.track;
    track.unbind(this.#sinks[this.#current]!);
    this.#pacer.clear();
    this.#rebaseNext = true;
    this.#waitingForKeyframe = false;
    this.#bindWithReplay(this.#current);
  }

  #onNack(lost: number[]): void {
    if (this.#stopped) return;
    this.#leaveLane(); // repairs go through the pacer, in order with the media after them
    const now = performance.now();
    const estimate = this.#estimator?.estimate(now);
    const again = this.#nacks.answer(lost, performance.timeOrigin + now, estimate?.bitrate ?? UNPACED, estimate?.rttMs ?? 50);
    for (const seq of again) this.#pacer.retransmit(seq);
  }

  /** After each feedback: the pacing rate, the rendition, and whether to probe for a higher one. */
  #adapt(estimator: BandwidthEstimator, now: number): void {
    const estimate = estimator.estimate(now);
    // Feedback alone does not make the start's guess a measure (a viewer sent a thin rung learns nothing of
    // more; pacing at 1.5 × an untested 1 Mbit/s flooded a 300 kbit/s link). Until a cut or a probe at its
    // rate tests it, the sender counts on what a probe found the link to carry, if any, and else still paces
    // and chooses as on a guess.
    const known = this.#options.startKnown ?? false;
    const guess = !known && estimator.guessing;
    const carried = estimator.carried;
    const bitrate = guess && carried > 0 ? Math.min(estimate.bitrate, carried) : estimate.bitrate;
    const measured = known || ((!guess || carried > 0) && this.#feedback.measured(estimator, now));
    // In its lane the bucket is the lane's: the pacer fills it at the old rate up to the change, as its own.
    if (this.#inLane) this.#pacer.bucket = this.#lane!.bucket;
    this.#pacer.rate = pacingRate(bitrate, this.#renditions[this.#current]!.rate, measured);
    if (this.#inLane) this.#lane!.pace(this.#pacer.rate, this.#pacer.bucket);
    this.#pacer.linkRate = bitrate;
    // A probe judged since the last feedback: what it showed may be the step up's test.
    const probe = estimator.lastProbe;
    const probed = probe && probe.id !== this.#probeJudged ? probe.bitrate : undefined;
    this.#probeJudged = probe?.id;
    const target = this.#choice.choose(this.#current, { bitrate, queueDelayMs: estimate.queueDelayMs, measured, probed }, now);
    if (target !== this.#current && target !== this.#pending) {
      this.#options.debug?.(`estimate ${Math.round(bitrate / 1000)} kbit/s (${estimate.state}, loss ${(estimate.lossRate * 100).toFixed(1)} %, rtt ${Math.round(estimate.rttMs)} ms): rendition ${this.#current} → ${target}`);
    }
    if (target > this.#current) this.#switchTo(target);
    else if (target < this.#current) this.#switchUpTo(target, bitrate);
    else if (this.#pending !== undefined && this.#pending < this.#current && target === this.#current) {
      // The room went away before the keyframe came: stay.
      this.#options.debug?.(`estimate ${Math.round(bitrate / 1000)} kbit/s: staying on rendition ${this.#current}, not ${this.#pending} (no keyframe of it came in time)`);
      this.#renditions[this.#pending]!.track.unbind(this.#sinks[this.#pending]!);
      this.#pending = undefined;
    }
    // On a guess, a probe tests the next rung's bar whatever the guess says.
    const probeTarget = this.#pending === undefined ? this.#choice.probeTarget(this.#current, guess ? carried : bitrate) : undefined;
    // Not on top of a backlog (a GOP replay leaving): the cluster would go out far above its rate.
    if (probeTarget !== undefined && (guess || probeTarget > bitrate) && this.#pacer.queuedPackets === 0) {
      const cluster = estimator.requestProbe(probeTarget, now, { enoughBitrate: this.#choice.upBar(this.#current) });
      if (cluster) {
        this.#leaveLane(); // probe padding goes from JavaScript, between frames
        this.#options.debug?.(`probe ${cluster.id} at ${Math.round(cluster.bitrate / 1000)} kbit/s (estimate ${Math.round(estimate.bitrate / 1000)}, last: ${JSON.stringify(estimator.lastProbe)})`);
        this.#pacer.probe(cluster.id, cluster.packets, cluster.packetSize, cluster.durationMs);
      }
    }
  }

  /**
   * The viewer's own VP8 PictureID for this packet, as a patch of its payload: numbered on from the last
   * one sent when a new source starts (picture-ids.ts); none when the descriptor carries none.
   */
  #pictureIdPatch(entry: QueuedPacket): number {
    const ids = this.#pictureIds!;
    if (entry.rebase) ids.rebase();
    const packet = entry.packet;
    const payloadOffset = rtpHeaderLength(packet);
    const field = vp8PictureIdField(packet, payloadOffset);
    if (field < 0) return NO_PATCH;
    const at = field & 0xffff;
    if (field >> 16 === 2) return payloadPatch(at, 2, 0x8000 | ids.map(packet.readUInt16BE(payloadOffset + at) & 0x7fff, 0x7fff));
    return payloadPatch(at, 1, ids.map(packet[payloadOffset + at]! & 0x7f, 0x7f));
  }

  /** The next transport-wide number, in one object reused for every packet (read at once, kept by no one). */
  #nextTransportWide(): { id: number; sequenceNumber: number } | undefined {
    const next = this.#transportWide;
    if (next === undefined) return undefined;
    next.sequenceNumber = this.#transportWideSeq;
    this.#transportWideSeq = (this.#transportWideSeq + 1) & 0xffff;
    return next;
  }

  #sendMedia(entry: QueuedPacket, now: number): number {
    const sourceTimestamp = timestampOf(entry.packet);
    const cameAt = entry.at ?? now;
    if (entry.rebase) this.#stream.rebase(sourceTimestamp, cameAt);
    const timestamp = this.#stream.timestampFor(sourceTimestamp);
    const seq = this.#stream.take(timestamp, cameAt);
    if (entry.rebase) this.#nacks.restartedAt(seq, performance.timeOrigin + now);
    const transportWide = this.#nextTransportWide();
    const bytes = this.#writer.write(entry.packet, seq, timestamp, transportWide, now, this.#pictureIds ? this.#pictureIdPatch(entry) : NO_PATCH);
    if (transportWide && bytes > 0) this.#estimator?.onPacketSent(transportWide.sequenceNumber, bytes, now);
    this.#frameEnded = (entry.packet[1]! & 0x80) !== 0;
    return bytes;
  }

  #sendRetransmission(seq: number, now: number): number {
    const transportWide = this.#nextTransportWide();
    const bytes = this.#writer.retransmit(seq, transportWide);
    if (transportWide && bytes > 0) this.#estimator?.onPacketSent(transportWide.sequenceNumber, bytes, now);
    return bytes;
  }

  #sendPadding(size: number, clusterId: number, now: number): number | undefined {
    // Padding takes a sequence number: between two packets of one frame it would split the frame, and the
    // browser could not assemble it (nor decode what follows until a keyframe). libwebrtc pads on the media
    // SSRC only after a marker bit, for the same reason.
    if (!this.#frameEnded) return undefined;
    const timestamp = this.#stream.lastTimestamp;
    const seq = this.#stream.take(timestamp);
    const transportWide = this.#nextTransportWide();
    const bytes = this.#writer.writePadding(size - 32, seq, timestamp, transportWide);
    if (transportWide && bytes > 0) this.#estimator?.onPacketSent(transportWide.sequenceNumber, bytes, now, clusterId);
    return bytes;
  }
}
