/**
 * A viewer's RTCP sender reports (RFC 3550 §6.4.1), built and sealed by the addon (lib/native/sender-report.h)
 * instead of werift's loop per sender, which built, serialised and encrypted each one in JavaScript behind a
 * timer and a promise: a sixth of the JavaScript thread's time at 500 viewers. While the viewer is in its
 * lane, the lane sends them itself, after one of its packets, when one is due; out of it, `afterPacket()`
 * does, here. Both read and write one state: the lane's fields (REPORT_FIELD), or an array of its own for a
 * sender with no lane (audio). A viewer sent nothing for a while (a source that paused, a burst and then
 * nothing) still gets its reports, from one timer for all of them, as werift's loop sent them: the last
 * packet's RTP time and when it left.
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
/** How often the timer looks for reports no packet sent, and how late one may be before it sends it, ms. */
const IDLE_CHECK_MS = 500;
const IDLE_GRACE_MS = 500;

/** The reports of every live viewer, for the idle timer (which runs while there is one). */
const active = new Set<SenderReports>();
let idleTimer: NodeJS.Timeout | undefined;

function checkIdle(): void {
  const wallMs = performance.timeOrigin + performance.now();
  for (const reports of active) reports.sendIfIdle(wallMs);
  if (active.size === 0) {
    clearInterval(idleTimer);
    idleTimer = undefined;
  }
}

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
  /** Reports sent out of the lane (`afterPacket`, `sendIfIdle`). */
  #ownSent = 0;
  /** The last packet sent out of the lane: its RTP time, and when (ms since 1970). */
  #lastTimestamp = 0;
  #lastSentMs = 0;
  readonly #live: () => boolean;

  /**
   * Reports for the addon's context `context` (its `contextReports` called), kept in `state` (a lane's
   * fields) or in its own; `send` sends a sealed one (out of the lane); `onSent` hears of each that left;
   * `live` says whether the viewer is still sent to (once it is not, the idle timer forgets it). The first
   * is due a second from now.
   */
  constructor(
    context: object, state: Float64Array | undefined, send: (srtcp: Buffer) => void, onSent: SentReportHandler,
    live: () => boolean = () => true,
  ) {
    this.#context = context;
    this.#state = state ?? new Float64Array(REPORT_STATE_LENGTH);
    this.#send = send;
    this.#onSent = onSent;
    this.#live = live;
    this.#state[REPORT_FIELD.atMs] = performance.timeOrigin + performance.now() + INTERVAL_MIN_MS + INTERVAL_SPREAD_MS / 2;
    this.#laneReportsSeen = this.#state[REPORT_FIELD.sent]!;
    active.add(this);
    idleTimer ??= setInterval(checkIdle, IDLE_CHECK_MS).unref();
  }

  /** No more reports (the viewer is gone); the idle timer forgets it. */
  close(): void {
    active.delete(this);
  }

  /**
   * The report due more than IDLE_GRACE_MS ago that no packet sent (none came), with the last packet's RTP
   * time and when it left; the idle timer's, at `wallMs` (ms since 1970).
   */
  sendIfIdle(wallMs: number): void {
    if (!this.#live()) {
      this.close();
      return;
    }
    const state = this.#state;
    if (wallMs < state[REPORT_FIELD.atMs]! + IDLE_GRACE_MS) return;
    const laneLater = state[REPORT_FIELD.lastSentMs]! > this.#lastSentMs;
    const lastSentMs = laneLater ? state[REPORT_FIELD.lastSentMs]! : this.#lastSentMs;
    if (lastSentMs === 0) return; // nothing sent yet: nothing to report
    this.#report(wallMs, lastSentMs, laneLater ? state[REPORT_FIELD.lastTimestamp]! : this.#lastTimestamp);
  }

  /**
   * A packet sent out of the lane (`payloadBytes` of payload, RTP time `rtpTimestamp`, at `wallMs`: ms since
   * 1970): counted, and the report sent after it when one is due.
   */
  afterPacket(payloadBytes: number, rtpTimestamp: number, wallMs: number): void {
    const state = this.#state;
    state[REPORT_FIELD.packets]! += 1;
    state[REPORT_FIELD.octets]! += payloadBytes;
    this.#lastTimestamp = rtpTimestamp;
    this.#lastSentMs = wallMs;
    if (wallMs >= state[REPORT_FIELD.atMs]!) this.#report(wallMs, wallMs, rtpTimestamp);
  }

  /** Sends a report at `nowMs` of the packet with RTP time `rtpTimestamp` that left at `sentMs` (ms since 1970). */
  #report(nowMs: number, sentMs: number, rtpTimestamp: number): void {
    const state = this.#state;
    state[REPORT_FIELD.atMs] = nowMs + INTERVAL_MIN_MS + Math.random() * INTERVAL_SPREAD_MS;
    const seconds = Math.floor(sentMs / 1000);
    const ntpSeconds = (seconds + NTP_EPOCH_OFFSET_S) % TWO_TO_32;
    const ntpFraction = Math.floor((sentMs / 1000 - seconds) * TWO_TO_32);
    const length = nativeSrtp!.senderReport(
      this.#context, this.#out, ntpSeconds, ntpFraction, rtpTimestamp >>> 0,
      state[REPORT_FIELD.packets]! % TWO_TO_32, state[REPORT_FIELD.octets]! % TWO_TO_32,
    );
    if (length <= 0) return;
    this.#send(Buffer.from(this.#out.subarray(0, length)));
    this.#ownSent++;
    // The round trip its echo measures starts now, whatever NTP time it carries.
    this.#onSent(ntpOf(ntpSeconds, ntpFraction), performance.now(), nowMs);
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
