/**
 * One viewer's VideoSender end to end, without I/O, on virtual time (./virtual-time.ts):
 *
 *   LadderSource ──► IngestStream per rung (real GOP caches, real StreamTracks) ──► VideoSender ──► FakeWriter
 *                                                                                     ▲               │
 *                 transport-cc feedback, receiver reports, NACKs, PLIs  ◄── ViewerLink ◄──────────────┘
 *
 * - LadderSource: H.264 renditions at 30 fps, a keyframe every `keyframeInterval` frames `keyframeFactor`×
 *   a delta frame, averaging each rung's bitrate; each packet's payload names its rung, frame, index.
 * - FakeWriter: what VideoSender uses of DirectRtpSender (write, retransmit, writePadding, sentAt,
 *   access.ssrc, access.onNack, onSenderReport), recording every packet as the viewer's header says it.
 * - ViewerLink: the path to the browser (a bottleneck with a drop-tail queue, random loss from a seeded
 *   generator, a one-way delay, as test/unit/support/link-simulator.ts) and a browser modelled on
 *   Chromium: transport-cc feedback every 50–100 ms (rtcp-builder's encodeTwcc), a receiver report a few
 *   ms after each sender report (the round trip), NACKs for missing sequence numbers every RTT (10 tries,
 *   1 s), a PLI when no frame became decodable for 200 ms before its first picture or 3 s after it
 *   (VideoReceiveStream2's waits; real-networks.md §7 measured one every ~3 s while stuck), and the frames
 *   it could decode (complete, and their reference chain back to a keyframe), for frame rates and freezes.
 */
import type { TestContext } from 'node:test';
import type { Rendition } from '../../../lib/fanout/stream-track.ts';
import { IngestStream } from '../../../lib/ingest/ingest-stream.ts';
import { ntpMiddle32, readRtcp } from '../../../lib/rtp/rtcp.ts';
import { rtpHeaderLength } from '../../../lib/rtp/rtp-packet.ts';
import type { DirectRtpSender } from '../../../lib/sender/direct-sender.ts';
import { VideoSender, type VideoSenderOptions } from '../../../lib/sender/video-sender.ts';
import type { SenderAccess } from '../../../lib/werift/sender-access.ts';
import { encodeTwcc, nack as nackPacket, pli as pliPacket, receiverReport, transportFeedback, type ReportedPacket } from './rtcp-builder.ts';
import { createRng } from './rng.ts';
import { useVirtualTime, type VirtualTime } from './virtual-time.ts';

export const FRAME_MS = 1000 / 30;
const MAX_PAYLOAD = 1200;
/** The harness moves time in steps of the pacer clock's tick. */
const STEP_MS = 2;
/** Bytes of our payload header: FU indicator, FU header, rung, frame (32 bits), index, count (16 bits each). */
const ID_BYTES = 11;
const SRTP_TAG = 16;
const BROWSER_SSRC = 0x0b0b_0b0b;
/** An Ethernet frame's worth, as the e2e links count it. */
const FULL_PACKET = 1514;

/** One packet the viewer was sent, as its header says, and what the payload was. */
export interface SentPacket {
  kind: 'media' | 'rtx' | 'padding';
  /** ms since the harness started. */
  at: number;
  seq: number;
  timestamp: number;
  transportWide: number | undefined;
  /** Bytes on the wire. */
  bytes: number;
  rung: number;
  frame: number;
  index: number;
  count: number;
  /** The first packet of a keyframe. */
  keyframeStart: boolean;
  /** The live packet as the ingest wrote it (false: a copy from a GOP replay). */
  live: boolean;
}

// ---------------------------------------------------------------------------------------------- source

export interface LadderOptions {
  /** bit/s, top first. */
  ladder: readonly number[];
  keyframeInterval: number;
  keyframeFactor: number;
  /** Frame sizes × this for rung `rung` at `tMs` (a scene change). Default 1. */
  sizeScale?: (rung: number, tMs: number) => number;
  seed: number;
}

/** Renditions of one picture: each rung's frames pushed into its IngestStream at 30 fps. */
export class LadderSource {
  readonly streams: IngestStream[];
  readonly #options: LadderOptions;
  readonly #rng: () => number;
  readonly #seq: number[];
  readonly #timestampBase: number[];
  /** The packets the ingest wrote live (a replay sends copies). */
  readonly live = new WeakSet<Buffer>();
  frame = 0;

  constructor(options: LadderOptions) {
    this.#options = options;
    this.#rng = createRng(options.seed * 7 + 1);
    this.streams = options.ladder.map((bitrate) => new IngestStream('h264', bitrate));
    this.#seq = options.ladder.map(() => Math.floor(this.#rng() * 0xffff));
    // Each rung its own clock origin, as ffmpeg's RTP muxer picks one per output.
    this.#timestampBase = options.ladder.map(() => Math.floor(this.#rng() * 0xffff_ffff));
  }

  get renditions(): Rendition[] {
    return this.streams;
  }

  /** The timestamp the ingest gives frame `frame` of `rung` (its first sender's clock, kept as is). */
  timestampOf(rung: number, frame: number): number {
    return (this.#timestampBase[rung]! + frame * 3000) >>> 0;
  }

  /** The delta frame's mean size for `rung`, bytes. */
  deltaBytes(rung: number): number {
    const { ladder, keyframeInterval: n, keyframeFactor: k } = this.#options;
    return (ladder[rung]! * n) / (8 * 30 * (n - 1 + k));
  }

  /** The next frame of every rung, at `tMs` (elapsed) and `nowMs` (the clock's). */
  push(tMs: number, nowMs: number): void {
    const n = this.frame++;
    const keyframe = n % this.#options.keyframeInterval === 0;
    const jitter = 0.85 + 0.3 * this.#rng();
    this.streams.forEach((stream, rung) => {
      const scale = this.#options.sizeScale?.(rung, tMs) ?? 1;
      const bytes = Math.max(ID_BYTES, Math.round(this.deltaBytes(rung) * scale * (keyframe ? this.#options.keyframeFactor : jitter)));
      const count = Math.ceil(bytes / MAX_PAYLOAD);
      const timestamp = this.timestampOf(rung, n);
      for (let index = 0; index < count; index++) {
        const size = Math.max(ID_BYTES, Math.min(MAX_PAYLOAD, bytes - index * MAX_PAYLOAD));
        const packet = Buffer.alloc(12 + size);
        packet[0] = 0x80;
        packet[1] = (index === count - 1 ? 0x80 : 0) | 96;
        packet.writeUInt16BE(this.#seq[rung]! & 0xffff, 2);
        this.#seq[rung] = (this.#seq[rung]! + 1) & 0xffff;
        packet.writeUInt32BE(timestamp, 4);
        packet.writeUInt32BE(0x1000 + rung, 8);
        // H.264 FU-A: start and end bits, IDR (5) or not (1).
        packet[12] = 0x7c;
        packet[13] = (index === 0 ? 0x80 : 0) | (index === count - 1 ? 0x40 : 0) | (keyframe ? 5 : 1);
        packet[14] = rung;
        packet.writeUInt32BE(n, 15);
        packet.writeUInt16BE(index, 19);
        packet.writeUInt16BE(count, 21);
        this.live.add(packet);
        stream.push(packet, nowMs);
      }
    });
  }

  /** Once a second, as the source does: the rungs' rates follow what they sent. */
  sample(): void {
    for (const stream of this.streams) stream.sample();
  }
}

/** What a packet's payload says (see LadderSource.push). */
function payloadIdOf(packet: Buffer): Pick<SentPacket, 'rung' | 'frame' | 'index' | 'count' | 'keyframeStart'> {
  const at = rtpHeaderLength(packet);
  return {
    rung: packet[at + 2]!,
    frame: packet.readUInt32BE(at + 3),
    index: packet.readUInt16BE(at + 7),
    count: packet.readUInt16BE(at + 9),
    keyframeStart: (packet[at + 1]! & 0x80) !== 0 && (packet[at + 1]! & 0x1f) === 5,
  };
}

// ---------------------------------------------------------------------------------------------- writer

/** The part of DirectRtpSender that VideoSender uses. */
export type WriterUsed = Pick<DirectRtpSender, 'write' | 'retransmit' | 'writePadding' | 'sentAt' | 'onSenderReport' | 'takeLaneReports'> & {
  readonly access: Pick<SenderAccess, 'ssrc' | 'onNack'>;
};

/** Where the writer's packets go. */
export type WireListener = (packet: SentPacket) => void;

export class FakeWriter implements WriterUsed {
  readonly sent: SentPacket[] = [];
  readonly #history = new Map<number, { packet: Buffer; timestamp: number; sentAt: number }>();
  readonly #live: WeakSet<Buffer>;
  readonly #t0: number;
  #nackHandler: ((lost: number[]) => void) | undefined;
  onWire: WireListener | undefined;
  onSenderReport: ((ntp: bigint, sentAtMs?: number) => void) | undefined;
  readonly access = {
    ssrc: 0x5eed_0001,
    onNack: (handler: (lost: number[]) => void): void => {
      this.#nackHandler = handler;
    },
  };

  constructor(live: WeakSet<Buffer>, t0: number) {
    this.#live = live;
    this.#t0 = t0;
  }

  /** No lane here: its reports are werift's loop's, told of as werift builds them (`onSenderReport`). */
  takeLaneReports(): void {}

  /** The browser's NACK, as werift hands it on (sequence numbers). */
  nack(lost: number[]): void {
    this.#nackHandler?.(lost);
  }

  write(packet: Buffer, seq: number, timestamp: number, transportWide?: { id: number; sequenceNumber: number }): number {
    const bytes = packet.length - rtpHeaderLength(packet) + 12 + (transportWide ? 8 : 0) + SRTP_TAG;
    this.#history.set(seq, { packet, timestamp, sentAt: performance.timeOrigin + performance.now() });
    if (this.#history.size > 1024) this.#history.delete(this.#history.keys().next().value!);
    this.#record({ kind: 'media', seq, timestamp, transportWide: transportWide?.sequenceNumber, bytes, live: this.#live.has(packet), ...payloadIdOf(packet) });
    return bytes;
  }

  retransmit(seq: number, transportWide?: { id: number; sequenceNumber: number }): number {
    const kept = this.#history.get(seq);
    if (!kept) return 0;
    kept.sentAt = performance.timeOrigin + performance.now();
    const bytes = kept.packet.length - rtpHeaderLength(kept.packet) + 12 + (transportWide ? 8 : 0) + SRTP_TAG;
    this.#record({ kind: 'rtx', seq, timestamp: kept.timestamp, transportWide: transportWide?.sequenceNumber, bytes, live: false, ...payloadIdOf(kept.packet) });
    return bytes;
  }

  writePadding(size: number, seq: number, timestamp: number, transportWide?: { id: number; sequenceNumber: number }): number {
    const bytes = 12 + size + (transportWide ? 8 : 0) + SRTP_TAG;
    this.#record({ kind: 'padding', seq, timestamp, transportWide: transportWide?.sequenceNumber, bytes, live: false, rung: -1, frame: -1, index: 0, count: 0, keyframeStart: false });
    return bytes;
  }

  sentAt(seq: number): number | undefined {
    return this.#history.get(seq)?.sentAt;
  }

  #record(packet: Omit<SentPacket, 'at'>): void {
    const sent = { ...packet, at: performance.now() - this.#t0 };
    this.sent.push(sent);
    this.onWire?.(sent);
  }
}

// ---------------------------------------------------------------------------------------------- link

export interface LinkOptions {
  /** The bottleneck's rate at `tMs` (elapsed), bit/s. Default: 100 Mbit/s. */
  capacity?: (tMs: number) => number;
  /** One way, ms. Default 20 (40 ms RTT). */
  oneWayDelayMs?: number;
  /**
   * Drop-tail queue, ms at the current rate. Default 100. As the e2e links' TBF (test/support/links/link.ts
   * tbfArgs): its bucket (10 ms, at least two full packets) plus this (at least four full packets), in bytes.
   */
  queueMs?: number;
  /** Random loss on the way to the browser (0–1). Default 0. */
  lossRate?: number;
}

export interface BrowserOptions {
  /**
   * Sends transport-cc feedback (it negotiated it and uses it). Default true. 'malformed': feedback whose
   * packet status count runs past its chunks (unparsable, as most of werift 0.25's receiver's).
   */
  feedback?: boolean | 'malformed';
  /** Sends NACKs. Default true. */
  nacks?: boolean;
  /**
   * Sends PLIs as Chromium's VideoReceiveStream2 does: no frame became decodable for 200 ms before the
   * first picture (a keyframe is required) or for 3 s after it, while packets arrive. Default true.
   */
  plis?: boolean;
}

interface InFlight {
  packet: SentPacket;
  arrival: number;
}

interface FrameState {
  received: Set<number>;
  count: number;
  complete: boolean;
  decodable: boolean;
  keyframe: boolean;
}

/** The path to the browser and the browser, on the harness's elapsed time. */
export class ViewerLink {
  readonly #options: Required<LinkOptions>;
  readonly #browser: Required<BrowserOptions>;
  readonly #rng: () => number;
  #linkFreeAt = 0;
  readonly #inFlight: InFlight[] = [];
  #inFlightHead = 0;
  readonly #deliveries: Array<{ at: number; deliver: () => void }> = [];
  // transport-cc
  readonly #arrivals = new Map<number, number>();
  #highestTw = -1;
  #nextToReport = 0;
  #feedbackCount = 0;
  #nextFeedbackAt: number;
  // RTP sequence numbers: what is missing, for NACKs
  #highestSeq = -1;
  readonly #missing = new Map<number, { since: number; tries: number; lastAt: number }>();
  #lastNackRun = 0;
  // frames
  readonly #frames = new Map<string, FrameState>();
  #displayed = -1;
  #displayedAt = 0;
  /** When a frame last became decodable (or the first packet came), and the last packet came. */
  #decodedAt = Number.NaN;
  #lastPacketAt = Number.NEGATIVE_INFINITY;
  #lastPliAt = Number.NEGATIVE_INFINITY;
  /** Frames the browser could show (the newest decodable one moved on): when, and which. */
  readonly shown: Array<{ at: number; frame: number; rung: number }> = [];
  readonly counts = { sent: 0, lost: 0, dropped: 0, feedbacks: 0, nacked: 0, plis: 0, reports: 0 };
  /** Received-packet counters for receiver reports. */
  #receivedSinceReport = 0;
  #expectedSinceReport = 0;

  constructor(options: LinkOptions, browser: BrowserOptions, seed: number) {
    this.#options = {
      capacity: options.capacity ?? (() => 100e6),
      oneWayDelayMs: options.oneWayDelayMs ?? 20,
      queueMs: options.queueMs ?? 100,
      lossRate: options.lossRate ?? 0,
    };
    this.#browser = {
      feedback: browser.feedback ?? true,
      nacks: browser.nacks ?? true,
      plis: browser.plis ?? true,
    };
    this.#rng = createRng(seed);
    this.#nextFeedbackAt = 50 + 50 * this.#rng();
  }

  get owd(): number {
    return this.#options.oneWayDelayMs;
  }

  /** How long a packet entering now waits in the bottleneck, ms. */
  queueDelay(t: number): number {
    return Math.max(0, this.#linkFreeAt - t);
  }

  /** A packet the writer sent at `packet.at`. */
  enter(packet: SentPacket): void {
    const t = packet.at;
    this.counts.sent++;
    if (this.#rng() < this.#options.lossRate) {
      this.counts.lost++;
      return;
    }
    const capacity = this.#options.capacity(t);
    const bytesPerMs = capacity / 8000;
    const limit = Math.max(2 * FULL_PACKET, bytesPerMs * 10) + Math.max(4 * FULL_PACKET, bytesPerMs * this.#options.queueMs);
    if (this.queueDelay(t) * bytesPerMs + packet.bytes > limit) {
      this.counts.dropped++;
      return;
    }
    const departure = Math.max(t, this.#linkFreeAt) + packet.bytes / bytesPerMs;
    this.#linkFreeAt = departure;
    this.#inFlight.push({ packet, arrival: departure + this.#options.oneWayDelayMs });
  }

  /** Something the browser sends, reaching the sender `owd` later. */
  #send(at: number, deliver: () => void): void {
    this.#deliveries.push({ at: at + this.#options.oneWayDelayMs, deliver });
  }

  /** Runs the browser up to `t`, and hands the sender what reached it by then. */
  advanceTo(t: number, sender: VideoSender, writer: FakeWriter): void {
    while (this.#inFlightHead < this.#inFlight.length && this.#inFlight[this.#inFlightHead]!.arrival <= t) {
      const { packet, arrival } = this.#inFlight[this.#inFlightHead++]!;
      this.#receive(packet, arrival);
    }
    if (this.#inFlightHead > 4096) {
      this.#inFlight.splice(0, this.#inFlightHead);
      this.#inFlightHead = 0;
    }
    if (t >= this.#nextFeedbackAt) {
      this.#feedback(t, writer);
      this.#nextFeedbackAt = t + 50 + 50 * this.#rng();
    }
    if (t - this.#lastNackRun >= 20) {
      this.#lastNackRun = t;
      this.#nacks(t, writer);
    }
    this.#watchStuck(t, sender, writer);
    this.#deliveries.sort((a, b) => a.at - b.at);
    while (this.#deliveries.length > 0 && this.#deliveries[0]!.at <= t) this.#deliveries.shift()!.deliver();
  }

  /** The sender's sender report left at `t`: the browser answers with a receiver report echoing it. */
  senderReport(t: number, ntpMiddle: number, sender: VideoSender, ssrc: number): void {
    const holdMs = 5;
    const arrives = t + this.queueDelay(t) + this.#options.oneWayDelayMs;
    const expected = this.#expectedSinceReport;
    const fractionLost = expected > 0 ? Math.max(0, Math.min(255, Math.round((256 * (expected - this.#receivedSinceReport)) / expected))) : 0;
    this.#expectedSinceReport = 0;
    this.#receivedSinceReport = 0;
    const report = receiverReport(BROWSER_SSRC, [{ ssrc, fractionLost, lsr: ntpMiddle, dlsr: Math.round((holdMs / 1000) * 65536) }]);
    this.counts.reports++;
    this.#send(arrives + holdMs, () => sender.onRtcp(report));
  }

  #receive(packet: SentPacket, arrival: number): void {
    if (packet.transportWide !== undefined) {
      // Unwrapped around the highest so far (the 16-bit numbers wrap in runs over 65 536 packets).
      const base = Math.max(0, this.#highestTw);
      const unwrapped = base + ((((packet.transportWide - base) & 0xffff) + 0x8000) & 0xffff) - 0x8000;
      this.#arrivals.set(unwrapped, arrival);
      this.#highestTw = Math.max(this.#highestTw, unwrapped);
    }
    this.#receivedSinceReport++;
    this.#lastPacketAt = arrival;
    if (Number.isNaN(this.#decodedAt)) this.#decodedAt = arrival;
    this.#trackSequence(packet.seq, arrival);
    if (packet.kind === 'padding') return;
    this.#frame(packet, arrival);
  }

  #trackSequence(seq: number, at: number): void {
    this.#missing.delete(seq);
    if (this.#highestSeq < 0) {
      this.#highestSeq = seq;
      this.#expectedSinceReport++;
      return;
    }
    const ahead = (seq - this.#highestSeq) & 0xffff;
    if (ahead === 0 || ahead >= 0x8000) return; // old or duplicate
    for (let k = 1; k < ahead; k++) this.#missing.set((this.#highestSeq + k) & 0xffff, { since: at, tries: 0, lastAt: Number.NEGATIVE_INFINITY });
    this.#expectedSinceReport += ahead;
    this.#highestSeq = seq;
  }

  #nacks(t: number, writer: FakeWriter): void {
    if (!this.#browser.nacks) return;
    const rtt = 2 * this.#options.oneWayDelayMs + 5;
    const lost: number[] = [];
    for (const [seq, entry] of this.#missing) {
      // Chromium: once per RTT, 10 tries, and not for packets it gave up on.
      if (entry.tries >= 10 || t - entry.since > 1000) {
        this.#missing.delete(seq);
        continue;
      }
      if (t - entry.since < 5 || t - entry.lastAt < rtt) continue;
      entry.tries++;
      entry.lastAt = t;
      lost.push(seq);
    }
    if (lost.length === 0) return;
    this.counts.nacked += lost.length;
    // Through the real parser: PID + BLP pairs.
    const pairs: Array<[number, number]> = [];
    for (const seq of lost) {
      const last = pairs.at(-1);
      const offset = last ? (seq - last[0]) & 0xffff : 0;
      if (last && offset >= 1 && offset <= 16) last[1] |= 1 << (offset - 1);
      else pairs.push([seq, 0]);
    }
    const parsed = readRtcp(nackPacket(BROWSER_SSRC, writer.access.ssrc, pairs)).nacks[0]!.sequenceNumbers;
    this.#send(t, () => writer.nack(parsed));
  }

  #feedback(t: number, writer: FakeWriter): void {
    if (!this.#browser.feedback || this.#highestTw < this.#nextToReport) return;
    let from = this.#nextToReport;
    while (from <= this.#highestTw) {
      const packets: ReportedPacket[] = [];
      for (let s = from; s <= this.#highestTw && packets.length < 2000; s++) packets.push({ sequence: s & 0xffff, arrivalUs: this.#usOf(this.#arrivals.get(s)) });
      const fci = encodeTwcc(packets, this.#feedbackCount++);
      if (!fci) break;
      if (this.#browser.feedback === 'malformed') fci.writeUInt16BE(0xffff, 2);
      const rtcp = transportFeedback(BROWSER_SSRC, writer.access.ssrc, fci);
      this.counts.feedbacks++;
      this.#send(t, () => this.#sender?.onRtcp(rtcp));
      from += packets.length;
    }
    for (let s = this.#nextToReport; s <= this.#highestTw; s++) this.#arrivals.delete(s);
    this.#nextToReport = this.#highestTw + 1;
  }

  #sender: VideoSender | undefined;
  attach(sender: VideoSender): void {
    this.#sender = sender;
  }

  /** Arrival (elapsed ms) on the browser's own µs clock. */
  #usOf(arrival: number | undefined): number | undefined {
    return arrival === undefined ? undefined : Math.round(arrival * 1000) + 5_000_000_000;
  }

  #frame(packet: SentPacket, at: number): void {
    const key = `${packet.rung}:${packet.frame}`;
    let frame = this.#frames.get(key);
    if (!frame) {
      frame = { received: new Set(), count: packet.count, complete: false, decodable: false, keyframe: false };
      this.#frames.set(key, frame);
    }
    if (packet.keyframeStart) frame.keyframe = true;
    frame.received.add(packet.index);
    if (frame.complete || frame.received.size < frame.count) return;
    frame.complete = true;
    this.#decode(packet.rung, packet.frame, at);
  }

  /** A frame that completed: decodable if a keyframe or its predecessor is; then its successors in turn. */
  #decode(rung: number, number: number, at: number): void {
    for (let n = number; ; n++) {
      const frame = this.#frames.get(`${rung}:${n}`);
      if (!frame?.complete || frame.decodable) return;
      const previous = this.#frames.get(`${rung}:${n - 1}`);
      if (!frame.keyframe && !previous?.decodable) return;
      frame.decodable = true;
      this.#decodedAt = at;
      if (n > this.#displayed) {
        this.#displayed = n;
        this.#displayedAt = at;
        this.shown.push({ at, frame: n, rung });
      }
      // Old frames are of no more use.
      this.#frames.delete(`${rung}:${n - 40}`);
    }
  }

  /** Chromium's keyframe request: no frame decodable for 200 ms before the first picture, 3 s after it. */
  #watchStuck(t: number, sender: VideoSender, writer: FakeWriter): void {
    if (!this.#browser.plis || t - this.#lastPacketAt > 5000) return;
    const wait = this.#displayed < 0 ? 200 : 3000;
    if (t - Math.max(this.#decodedAt, this.#lastPliAt) < wait) return;
    this.#lastPliAt = t;
    this.counts.plis++;
    const rtcp = pliPacket(BROWSER_SSRC, writer.access.ssrc);
    this.#send(t, () => sender.onRtcp(rtcp));
  }

  /** The last frame shown and when (elapsed ms). */
  get displayed(): { frame: number; at: number } {
    return { frame: this.#displayed, at: this.#displayedAt };
  }
}

// ---------------------------------------------------------------------------------------------- harness

export interface HarnessOptions extends Partial<Omit<LadderOptions, 'seed'>> {
  /** Transport-cc negotiated (id 3). Default true. */
  transportWide?: boolean;
  startBitrate?: number;
  link?: LinkOptions;
  browser?: BrowserOptions;
  seed?: number;
  /** Frames pushed before the viewer starts (its joiner's GOP). Default 10. */
  prefillFrames?: number;
  /** Told VideoSender's debug lines. */
  debug?: (message: string, tMs: number) => void;
  /** Runs the browser and the link (false: the test delivers RTCP itself). Default true. */
  browserRuns?: boolean;
}

/** A sample of the viewer's state every 100 ms. */
export interface HarnessSample {
  t: number;
  rendition: number;
  estimate: number | undefined;
  queueMs: number;
  capacity: number;
}

export class ViewerHarness {
  readonly time: VirtualTime;
  readonly source: LadderSource;
  readonly writer: FakeWriter;
  readonly link: ViewerLink;
  readonly sender: VideoSender;
  readonly samples: HarnessSample[] = [];
  readonly debugLines: Array<{ t: number; message: string }> = [];
  #t0: number;
  readonly #options: HarnessOptions;
  #nextFrameAt = 0;
  #nextSampleAt = 1000;
  #nextReportAt = 1000;
  #nextStatAt = 0;
  #reports = 0;
  #elapsed = 0;

  constructor(t: TestContext, options: HarnessOptions = {}) {
    this.#options = options;
    this.time = useVirtualTime(t);
    const sourceStart = this.time.now();
    const seed = options.seed ?? 1;
    this.source = new LadderSource({
      ladder: options.ladder ?? [2_500_000, 800_000, 250_000],
      keyframeInterval: options.keyframeInterval ?? 30,
      keyframeFactor: options.keyframeFactor ?? 8,
      sizeScale: options.sizeScale,
      seed,
    });
    // The source ran before this viewer came, at its own pace (its rates sampled every second since it
    // started): a GOP is cached.
    const prefill = options.prefillFrames ?? 10;
    for (let i = 0; i < prefill; i++) {
      this.source.push(-1, this.time.now());
      this.time.advance(FRAME_MS);
      if (this.time.now() - sourceStart >= this.#nextSampleAt) {
        this.source.sample();
        this.#nextSampleAt += 1000;
      }
    }
    this.#t0 = this.time.now();
    this.#nextSampleAt -= this.#t0 - sourceStart; // on the elapsed clock from here on
    this.writer = new FakeWriter(this.source.live, this.#t0);
    this.link = new ViewerLink(options.link ?? {}, options.browser ?? {}, seed);
    const senderOptions: VideoSenderOptions = {
      codec: 'h264',
      transportWideId: options.transportWide === false ? undefined : 3,
      startBitrate: options.startBitrate ?? 1_000_000,
      debug: (message) => {
        this.debugLines.push({ t: this.elapsed, message });
        options.debug?.(message, this.elapsed);
      },
    };
    this.sender = new VideoSender(this.writer as unknown as DirectRtpSender, this.source.renditions, senderOptions);
    this.link.attach(this.sender);
    if (options.browserRuns !== false) this.writer.onWire = (packet) => this.link.enter(packet);
    t.after(() => this.stop());
  }

  /** ms since the harness started. */
  get elapsed(): number {
    return this.time.now() - this.#t0;
  }

  start(): void {
    this.sender.start();
  }

  /** Stops the sender and lets the shared pacer clock see it (its timer must stop before the mock timers go). */
  stop(): void {
    this.sender.stop();
    this.time.advance(4);
  }

  /** Runs `ms` of frames, pacing, the link and the browser. */
  run(ms: number): void {
    const end = this.elapsed + ms;
    while (this.elapsed < end - 1e-9) {
      this.time.advance(STEP_MS);
      const t = this.elapsed;
      while (this.#nextFrameAt <= t) {
        this.source.push(this.#nextFrameAt, this.time.now());
        this.#nextFrameAt += FRAME_MS;
      }
      if (t >= this.#nextSampleAt) {
        this.source.sample();
        this.#nextSampleAt += 1000;
      }
      if (this.#options.browserRuns !== false) {
        if (t >= this.#nextReportAt) {
          // werift builds a sender report about every second: its NTP time, then the browser's echo.
          this.#reports++;
          const seconds = 0xe000_0000 + this.#reports;
          this.writer.onSenderReport?.((BigInt(seconds) << 32n) | 0x8000_0000n);
          this.link.senderReport(t, ntpMiddle32(seconds, 0x8000_0000), this.sender, this.writer.access.ssrc);
          this.#nextReportAt += 1000;
        }
        this.link.advanceTo(t, this.sender, this.writer);
      }
      if (t >= this.#nextStatAt) {
        const stats = this.sender.stats();
        this.samples.push({ t, rendition: stats.rendition, estimate: stats.estimate, queueMs: stats.pacer.queueMs, capacity: this.#options.link?.capacity?.(t) ?? 100e6 });
        this.#nextStatAt += 100;
      }
    }
  }

  /**
   * Transport-cc feedback for every packet sent since the last call, delivered now, for tests that deliver
   * RTCP themselves: each received `delayMs` after it left, after those before it crossed a link of
   * `capacity` bit/s (without loss).
   */
  acknowledge({ delayMs = 20, capacity = 100e6 }: { delayMs?: number; capacity?: number } = {}): void {
    const packets = this.writer.sent.slice(this.#acknowledged).filter((p) => p.transportWide !== undefined);
    this.#acknowledged = this.writer.sent.length;
    if (packets.length === 0) return;
    const reported = packets.map((p) => {
      this.#ackLinkFreeAt = Math.max(p.at, this.#ackLinkFreeAt) + (p.bytes * 8000) / capacity;
      return { sequence: p.transportWide!, arrivalUs: Math.round((this.#ackLinkFreeAt + delayMs) * 1000) + 5_000_000_000 };
    });
    this.sender.onRtcp(transportFeedback(BROWSER_SSRC, this.writer.access.ssrc, encodeTwcc(reported, this.#feedbacks++)!));
  }

  #acknowledged = 0;
  #ackLinkFreeAt = 0;
  #feedbacks = 0;

  /** Delivers an RTCP packet to the sender now. */
  rtcp(packet: Buffer): void {
    this.sender.onRtcp(packet);
  }

  /** The media and padding packets in the order they were sent (retransmissions left out). */
  get stream(): SentPacket[] {
    return this.writer.sent.filter((p) => p.kind !== 'rtx');
  }
}

/** Where the stream breaks its promises: a sequence number not one after the last, a timestamp going back. */
export function continuityErrors(stream: readonly SentPacket[]): string[] {
  const errors: string[] = [];
  for (let i = 1; i < stream.length; i++) {
    const [a, b] = [stream[i - 1]!, stream[i]!];
    if (b.seq !== ((a.seq + 1) & 0xffff)) errors.push(`#${i} at ${b.at.toFixed(0)} ms: seq ${a.seq} → ${b.seq}`);
    const forward = (b.timestamp - a.timestamp) >>> 0;
    if (forward >= 0x8000_0000) errors.push(`#${i} at ${b.at.toFixed(0)} ms: timestamp ${a.timestamp} → ${b.timestamp} (${b.kind}, rung ${b.rung} frame ${b.frame})`);
  }
  return errors;
}

/**
 * Where the media would not decode: a packet that does not continue the one before it (the next packet of
 * the same frame, or the first of the next frame of the same rung) and does not start a keyframe.
 */
export function decodeErrors(stream: readonly SentPacket[]): string[] {
  const media = stream.filter((p) => p.kind === 'media');
  const errors: string[] = [];
  for (let i = 1; i < media.length; i++) {
    const [a, b] = [media[i - 1]!, media[i]!];
    if (b.keyframeStart) continue;
    const sameFrame = b.rung === a.rung && b.frame === a.frame && b.index === a.index + 1;
    const nextFrame = b.rung === a.rung && b.frame === a.frame + 1 && b.index === 0 && a.index === a.count - 1;
    if (!sameFrame && !nextFrame) errors.push(`#${i} at ${b.at.toFixed(0)} ms: rung ${a.rung} frame ${a.frame} #${a.index} → rung ${b.rung} frame ${b.frame} #${b.index}`);
  }
  return errors;
}

/**
 * Padding inside a frame: a padding packet whose sequence number falls between two packets of one frame
 * (the browser cannot assemble that frame, nor decode the ones after it until a keyframe).
 */
export function paddingErrors(stream: readonly SentPacket[]): string[] {
  const errors: string[] = [];
  let last: SentPacket | undefined;
  stream.forEach((p, i) => {
    if (p.kind === 'media') last = p;
    else if (p.kind === 'padding' && last && last.index !== last.count - 1) {
      errors.push(`#${i} at ${p.at.toFixed(0)} ms: padding after rung ${last.rung} frame ${last.frame} #${last.index} of ${last.count}`);
    }
  });
  return errors;
}

/** The transport-wide numbers, in the order sent (media, padding and retransmissions), one after the other. */
export function transportWideErrors(sent: readonly SentPacket[]): string[] {
  const errors: string[] = [];
  for (let i = 1; i < sent.length; i++) {
    if (sent[i]!.transportWide !== ((sent[i - 1]!.transportWide! + 1) & 0xffff)) errors.push(`#${i}: ${sent[i - 1]!.transportWide} → ${sent[i]!.transportWide}`);
  }
  return errors;
}
