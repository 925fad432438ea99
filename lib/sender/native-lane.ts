/**
 * A viewer's lane: its video numbered and queued in C while it is steady (lib/native/lane.h), one call per
 * source packet for all such viewers of a rendition (lib/fanout/native-fanout.ts). The viewer's sender hands
 * its numbering and pacer's bucket over when the viewer is steady (`enter`) and reads them back
 * (`numbering`) for anything else: a switch, a probe, a repair, a picture loss, a packet the lane refused
 * (the bucket empty, or the viewer gone). Both sides read and write one Buffer of doubles, the lane's state
 * (`FIELD`, lane.h's LANE_*, then the ring of send records), only on this thread.
 */
import { constants } from 'node:os';
import { nativeSrtp } from '../native/index.ts';

const ENOBUFS = constants.errno.ENOBUFS;

/** Where each field is in the state (lib/native/lane.h's LANE_* enum, in the same order). */
const FIELD = {
  nextSeq: 0,
  rocHighest: 1,
  rocRollovers: 2,
  timestampOffset: 3,
  lastTimestamp: 4,
  lastAtMs: 5,
  pictureOffset: 6,
  pictureLast: 7,
  pictureLastSource: 8,
  pictureRebase: 9,
  transportWideId: 10,
  transportWideNext: 11,
  frameEnded: 12,
  packets: 13,
  payloadBytes: 14,
  headerBytes: 15,
  datagrams: 16,
  datagramBytes: 17,
  lastSentMs: 18,
  refused: 19,
  payloadType: 20,
  ssrc: 21,
  contextId: 22,
  socketId: 23,
  foundTimestamp: 24,
  foundPatch: 25,
  foundSentMs: 26,
  paceRate: 27,
  paceBudget: 28,
  paceAtMs: 29,
  sentCount: 30,
  reportAtMs: 31,
  reportPackets: 32,
  reportOctets: 33,
  reports: 34,
  reportNtpSeconds: 35,
  reportNtpFraction: 36,
  reportSentMs: 37,
} as const;
const FIELDS = 38;

/** Where a sender report's state is in a lane's fields (lib/sender/sender-reports.ts reads and writes them). */
export const REPORT_FIELD = {
  atMs: FIELD.reportAtMs,
  packets: FIELD.reportPackets,
  octets: FIELD.reportOctets,
  sent: FIELD.reports,
  ntpSeconds: FIELD.reportNtpSeconds,
  ntpFraction: FIELD.reportNtpFraction,
  sentMs: FIELD.reportSentMs,
  /** The lane's last packet: its RTP timestamp and when it was queued (ms since 1970; 0 in a state with no lane). */
  lastTimestamp: FIELD.lastTimestamp,
  lastSentMs: FIELD.lastSentMs,
} as const;
/** The doubles a sender report's state needs when it has no lane (the same indices). */
export const REPORT_STATE_LENGTH = FIELDS;
/** Transport-wide send records in the ring after the fields (lane.h's LANE_SENT_RECORDS), three doubles each. */
const SENT_RECORDS = 256;

/** The numbering a viewer's stream carries on with, from JavaScript into the lane and back. */
export interface LaneNumbering {
  /** The next sequence number; the rollover counter's highest sequence number (-1: none) and rollovers. */
  nextSeq: number;
  rollover: { highest: number; rollovers: number };
  /** Source timestamp + offset (mod 2^32) is the viewer's; the last one sent, and when its packet came. */
  timestampOffset: number;
  lastTimestamp: number;
  lastAtMs: number;
  /** The VP8 PictureIDs' state (lib/sender/picture-ids.ts); undefined for H.264. */
  pictureIds: { offset: number; last: number; lastSource: number; rebase: boolean } | undefined;
  /** The transport-wide extension's id and next number; undefined when not negotiated. */
  transportWide: { id: number; next: number } | undefined;
  /** Whether the last packet sent ended its frame. */
  frameEnded: boolean;
  /**
   * The pacer's token bucket (lib/sender/pacer.ts): its rate (bits/s; 0: unpaced), the bytes it may still
   * send and when it was last filled (performance.now()).
   */
  pacing: { rate: number; budget: number; atMs: number };
}

/** What the lane sent since last asked: for werift's sender reports and transport counters. */
export interface LaneCounts {
  packets: number;
  payloadBytes: number;
  headerBytes: number;
  datagrams: number;
  datagramBytes: number;
  /** The last packet's timestamp and when it was queued (ms since 1970). */
  lastTimestamp: number;
  lastSentMs: number;
}

export class NativeLane {
  /** The addon's lane. */
  readonly handle: object;
  readonly #state: Float64Array;
  readonly #counts: LaneCounts = { packets: 0, payloadBytes: 0, headerBytes: 0, datagrams: 0, datagramBytes: 0, lastTimestamp: 0, lastSentMs: 0 };
  #target: Buffer | undefined;
  /** Send records read so far (of `sentCount`). */
  #sentRead = 0;

  /** A lane for the viewer whose SRTP context is handle `contextId` (the addon's `handleId`). */
  constructor(payloadType: number, ssrc: number, contextId: number) {
    // Not from Buffer's pool: C reads it as doubles, so it must be 8-byte aligned (and alone).
    const bytes = Buffer.alloc((FIELDS + 3 * SENT_RECORDS) * 8);
    this.#state = new Float64Array(bytes.buffer, bytes.byteOffset, FIELDS + 3 * SENT_RECORDS);
    this.#state[FIELD.payloadType] = payloadType;
    this.#state[FIELD.ssrc] = ssrc;
    this.#state[FIELD.contextId] = contextId;
    this.handle = nativeSrtp!.lane(bytes);
  }

  /** The lane's fields (its sender reports' state is kept there: REPORT_FIELD). */
  get state(): Float64Array {
    return this.#state;
  }

  /** Whether the lane refused a packet (its context or socket gone, the send queue stuck). */
  get refused(): boolean {
    return this.#state[FIELD.refused] !== 0;
  }

  /** Whether it refused only because its pacer's bucket was empty (the packet waits in JavaScript's pacer). */
  get paced(): boolean {
    return this.#state[FIELD.refused] === -ENOBUFS;
  }

  /** Why, as -errno (0: it did not). */
  get refusal(): number {
    return this.#state[FIELD.refused]!;
  }

  /** Where its packets go: socket `socketId` (a handle number), to `target` (the addon's socket address). */
  route(socketId: number, target: Buffer): void {
    this.#state[FIELD.socketId] = socketId;
    if (target !== this.#target) {
      nativeSrtp!.laneRoute(this.handle, target);
      this.#target = target;
    }
  }

  /** Takes the stream's numbering over from JavaScript (before it is put in a fan-out). */
  enter(numbering: LaneNumbering): void {
    const state = this.#state;
    state[FIELD.nextSeq] = numbering.nextSeq;
    state[FIELD.rocHighest] = numbering.rollover.highest;
    state[FIELD.rocRollovers] = numbering.rollover.rollovers;
    state[FIELD.timestampOffset] = numbering.timestampOffset;
    state[FIELD.lastTimestamp] = numbering.lastTimestamp;
    state[FIELD.lastAtMs] = numbering.lastAtMs;
    const ids = numbering.pictureIds;
    state[FIELD.pictureOffset] = ids?.offset ?? 0;
    state[FIELD.pictureLast] = ids?.last ?? -1;
    state[FIELD.pictureLastSource] = ids?.lastSource ?? -1;
    state[FIELD.pictureRebase] = ids?.rebase ? 1 : 0;
    state[FIELD.transportWideId] = numbering.transportWide?.id ?? 0;
    state[FIELD.transportWideNext] = numbering.transportWide?.next ?? 0;
    state[FIELD.frameEnded] = numbering.frameEnded ? 1 : 0;
    state[FIELD.paceRate] = numbering.pacing.rate;
    state[FIELD.paceBudget] = numbering.pacing.budget;
    state[FIELD.paceAtMs] = numbering.pacing.atMs;
    state[FIELD.refused] = 0;
  }

  /** The pacer's bucket as the lane has it: the bytes it may still send, and when it was last filled. */
  get bucket(): { budget: number; atMs: number } {
    return { budget: this.#state[FIELD.paceBudget]!, atMs: this.#state[FIELD.paceAtMs]! };
  }

  /** Paces at `rate` (bits/s) from `bucket` on (the pacer's, filled at the old rate until the change). */
  pace(rate: number, bucket: { budget: number; atMs: number }): void {
    const state = this.#state;
    state[FIELD.paceRate] = rate;
    state[FIELD.paceBudget] = bucket.budget;
    state[FIELD.paceAtMs] = bucket.atMs;
  }

  /**
   * Calls `sent` with each packet the lane sent with a transport-wide number since the last call (its number,
   * bytes, when: performance.now()), oldest first; records overwritten unread (more than the ring holds
   * between two calls) are skipped.
   */
  takeSent(sent: (transportSequence: number, bytes: number, atMs: number) => void): void {
    const state = this.#state;
    const count = state[FIELD.sentCount]!;
    let next = Math.max(this.#sentRead, count - SENT_RECORDS);
    for (; next < count; next++) {
      const at = FIELDS + 3 * (next % SENT_RECORDS);
      sent(state[at]!, state[at + 1]!, state[at + 2]!);
    }
    this.#sentRead = count;
  }

  /** The numbering as the lane left it (after it is out of its fan-out), for JavaScript to carry on with. */
  numbering(): LaneNumbering {
    const state = this.#state;
    return {
      nextSeq: state[FIELD.nextSeq]!,
      rollover: { highest: state[FIELD.rocHighest]!, rollovers: state[FIELD.rocRollovers]! },
      timestampOffset: state[FIELD.timestampOffset]!,
      lastTimestamp: state[FIELD.lastTimestamp]!,
      lastAtMs: state[FIELD.lastAtMs]!,
      pictureIds: {
        offset: state[FIELD.pictureOffset]!,
        last: state[FIELD.pictureLast]!,
        lastSource: state[FIELD.pictureLastSource]!,
        rebase: state[FIELD.pictureRebase] !== 0,
      },
      transportWide: state[FIELD.transportWideId]! > 0 ? { id: state[FIELD.transportWideId]!, next: state[FIELD.transportWideNext]! } : undefined,
      frameEnded: state[FIELD.frameEnded] !== 0,
      pacing: { rate: state[FIELD.paceRate]!, budget: state[FIELD.paceBudget]!, atMs: state[FIELD.paceAtMs]! },
    };
  }

  /** What the lane sent since the last call (one object, reused), its counters then set to zero. */
  takeCounts(): LaneCounts {
    const state = this.#state;
    const counts = this.#counts;
    counts.packets = state[FIELD.packets]!;
    counts.payloadBytes = state[FIELD.payloadBytes]!;
    counts.headerBytes = state[FIELD.headerBytes]!;
    counts.datagrams = state[FIELD.datagrams]!;
    counts.datagramBytes = state[FIELD.datagramBytes]!;
    counts.lastTimestamp = state[FIELD.lastTimestamp]!;
    counts.lastSentMs = state[FIELD.lastSentMs]!;
    state[FIELD.packets] = state[FIELD.payloadBytes] = state[FIELD.headerBytes] = state[FIELD.datagrams] = state[FIELD.datagramBytes] = 0;
    return counts;
  }

  /** Packet `seq` as the lane sent it (its timestamp, payload patch, when), or undefined when not kept. */
  sent(seq: number): { timestamp: number; patch: number; sentMs: number } | undefined {
    if (!nativeSrtp!.laneHistory(this.handle, seq)) return undefined;
    const state = this.#state;
    return { timestamp: state[FIELD.foundTimestamp]!, patch: state[FIELD.foundPatch]!, sentMs: state[FIELD.foundSentMs]! };
  }

  /** Packet `seq` of the lane's history again, under the first `headerLength` bytes of `header`; bytes, or -errno. */
  resend(seq: number, header: Buffer, headerLength: number, rolloverCounter: number): number {
    return nativeSrtp!.laneResend(this.handle, seq, header, headerLength, rolloverCounter);
  }
}
