/**
 * A viewer's RTCP sender reports (RFC 3550 §6.4.1), built and sealed by the addon (lib/native/sender-report.h)
 * instead of werift's loop per sender, which built, serialised and encrypted each one in JavaScript behind a
 * timer and a promise: a sixth of the JavaScript thread's time at 500 viewers. While the viewer is in its
 * lane, the lane sends them itself, after one of its packets, when one is due; out of it, `afterPacket()`
 * does, here. Both read and write one state: the lane's fields (REPORT_FIELD), or an array of its own for a
 * sender with no lane (audio).
 */
import { nativeSrtp } from '../native/index.ts';
import { REPORT_FIELD, REPORT_STATE_LENGTH } from './native-lane.ts';

/** A report every 0.5–1.5 s (RFC 3550 §6.3.5's randomization of its interval), as werift and lane.c do. */
const INTERVAL_MIN_MS = 500;
const INTERVAL_SPREAD_MS = 1000;
/** The addon's largest sealed report (lib/native/sender-report.h's SENDER_REPORT_MAX_LENGTH). */
const MAX_REPORT_LENGTH = 320;
/** Seconds between 1900 (NTP's epoch) and 1970. */
const NTP_EPOCH_OFFSET_S = 2_208_988_800;
const TWO_TO_32 = 0x1_0000_0000;

/** A report that left: its 64-bit NTP time, and when (performance.now() and ms since 1970). */
export type SentReportHandler = (ntp: bigint, sentAtMs: number, sentAtWallMs: number) => void;

export class SenderReports {
  readonly #context: object;
  readonly #state: Float64Array;
  readonly #send: (srtcp: Buffer) => void;
  readonly #onSent: SentReportHandler;
  readonly #out = Buffer.alloc(MAX_REPORT_LENGTH);
  /** The lane's reports already told to `onSent`. */
  #laneReportsSeen = 0;
  /** Reports sent out of the lane (`afterPacket`). */
  #ownSent = 0;

  /**
   * Reports for the addon's context `context` (its `contextReports` called), kept in `state` (a lane's
   * fields) or in its own; `send` sends a sealed one (out of the lane); `onSent` hears of each that left.
   * The first is due a second from now.
   */
  constructor(context: object, state: Float64Array | undefined, send: (srtcp: Buffer) => void, onSent: SentReportHandler) {
    this.#context = context;
    this.#state = state ?? new Float64Array(REPORT_STATE_LENGTH);
    this.#send = send;
    this.#onSent = onSent;
    this.#state[REPORT_FIELD.atMs] = performance.timeOrigin + performance.now() + INTERVAL_MIN_MS + INTERVAL_SPREAD_MS / 2;
    this.#laneReportsSeen = this.#state[REPORT_FIELD.sent]!;
  }

  /**
   * A packet sent out of the lane (`payloadBytes` of payload, RTP time `rtpTimestamp`, at `wallMs`: ms since
   * 1970): counted, and the report sent after it when one is due.
   */
  afterPacket(payloadBytes: number, rtpTimestamp: number, wallMs: number): void {
    const state = this.#state;
    state[REPORT_FIELD.packets]! += 1;
    state[REPORT_FIELD.octets]! += payloadBytes;
    if (wallMs < state[REPORT_FIELD.atMs]!) return;
    state[REPORT_FIELD.atMs] = wallMs + INTERVAL_MIN_MS + Math.random() * INTERVAL_SPREAD_MS;
    const seconds = Math.floor(wallMs / 1000);
    const ntpSeconds = (seconds + NTP_EPOCH_OFFSET_S) % TWO_TO_32;
    const ntpFraction = Math.floor((wallMs / 1000 - seconds) * TWO_TO_32);
    const length = nativeSrtp!.senderReport(
      this.#context, this.#out, ntpSeconds, ntpFraction, rtpTimestamp >>> 0,
      state[REPORT_FIELD.packets]! % TWO_TO_32, state[REPORT_FIELD.octets]! % TWO_TO_32,
    );
    if (length <= 0) return;
    this.#send(Buffer.from(this.#out.subarray(0, length)));
    this.#ownSent++;
    this.#onSent(ntpOf(ntpSeconds, ntpFraction), performance.now(), wallMs);
  }

  /** Tells `onSent` of the last report the lane sent since the last call, if any (before a receiver report is read). */
  takeLaneReports(): void {
    const state = this.#state;
    const sent = state[REPORT_FIELD.sent]!;
    if (sent === this.#laneReportsSeen) return;
    this.#laneReportsSeen = sent;
    const sentMs = state[REPORT_FIELD.sentMs]!;
    this.#onSent(ntpOf(state[REPORT_FIELD.ntpSeconds]!, state[REPORT_FIELD.ntpFraction]!), sentMs, performance.timeOrigin + sentMs);
  }

  /** How many reports were sent, out of the lane and from it. */
  get sent(): number {
    return this.#ownSent + this.#state[REPORT_FIELD.sent]!;
  }
}

function ntpOf(seconds: number, fraction: number): bigint {
  return (BigInt(seconds) << 32n) | BigInt(fraction);
}
