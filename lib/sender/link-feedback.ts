/**
 * What a viewer's RTCP tells about its link, for its estimator: the transport-wide feedback that parses
 * (werift 0.25's receiver sends transport-cc that mostly does not: unpadded, lost packets reported
 * received; an estimator fed a tenth of it decays to its floor, so it is counted, not used), and the round
 * trips its receiver reports measure against the sender reports that left.
 */
import { ntpMiddle32, roundTripTimeMs, type RtcpSummary } from '../rtp/rtcp.ts';
import { parseTwccFeedback, type BandwidthEstimator } from './bwe/index.ts';

/** The estimate is taken as measured after this long of feedback (or a probe the link carried). */
const MEASURED_AFTER_MS = 1_000;
/** Sender reports remembered for the round trip (one leaves every second or so). */
const SENDER_REPORTS_KEPT = 16;

export interface FeedbackCounts {
  /** Transport-cc feedback packets read. */
  received: number;
  /** Those that did not parse. */
  malformed: number;
}

export class LinkFeedback {
  readonly #ssrc: number;
  readonly counts: FeedbackCounts = { received: 0, malformed: 0 };
  /** When the first feedback that parsed came (ms, performance.now()); undefined before. */
  #firstAtMs: number | undefined;
  /** Sender reports sent: the middle 32 bits of their NTP time → when (ms). */
  readonly #senderReports = new Map<number, number>();

  /** `ssrc`: the viewer's video stream, whose report blocks count. */
  constructor(ssrc: number) {
    this.#ssrc = ssrc;
  }

  /** Whether feedback that parses has come. */
  get seen(): boolean {
    return this.#firstAtMs !== undefined;
  }

  /** Feedback came and most of it parses: an estimate can be built on it. */
  get usable(): boolean {
    return this.seen && this.counts.malformed <= this.counts.received;
  }

  /**
   * Whether the estimate is a measure rather than the start's guess: a second of feedback, or a probe the
   * link carried. (The estimate itself may still be the guess: see BandwidthEstimator.guessing.)
   */
  measured(estimator: BandwidthEstimator, nowMs: number): boolean {
    if (this.#firstAtMs !== undefined && nowMs - this.#firstAtMs >= MEASURED_AFTER_MS) return true;
    const probe = estimator.lastProbe;
    return probe !== undefined && !probe.saturated && probe.bitrate > 0;
  }

  /** Reads one compound RTCP packet's summary; feeds what it says of the link to `estimator`, if any. */
  read(summary: RtcpSummary, estimator: BandwidthEstimator | undefined, nowMs: number): void {
    for (const packet of summary.transportFeedback) {
      const feedback = parseTwccFeedback(packet.fci);
      if (!feedback) {
        this.counts.malformed++;
        continue;
      }
      this.counts.received++;
      this.#firstAtMs ??= nowMs;
      estimator?.onFeedback(feedback, nowMs);
    }
    if (!estimator) return;
    for (const block of summary.reports) {
      if (block.ssrc !== this.#ssrc) continue;
      const rtt = roundTripTimeMs(block, nowMs, this.#senderReports.get(block.lastSenderReport));
      if (rtt !== undefined) estimator.onRtt(rtt);
      estimator.onReceiverReport(block.fractionLost, nowMs);
    }
  }

  /** A sender report with NTP time `ntp` left at `nowMs`: the round trip its echo measures starts there. */
  onSenderReport(ntp: bigint, nowMs: number): void {
    const middle = ntpMiddle32(Number(ntp >> 32n), Number(ntp & 0xffffffffn));
    if (this.#senderReports.has(middle)) return; // read again (stats): the report left the first time
    this.#senderReports.set(middle, nowMs);
    if (this.#senderReports.size > SENDER_REPORTS_KEPT) this.#senderReports.delete(this.#senderReports.keys().next().value!);
  }
}
