/**
 * What a probe cluster measured (libwebrtc ProbeBitrateEstimator), from the send history once every
 * packet from the cluster's first to its last is reported.
 *
 * Unlike libwebrtc it counts every packet sent in that span, the media between the padding too: the
 * link carried all of them, and the media is what the padding tops up. Send rate = bytes (less the
 * last packet's) / send span; receive rate = bytes received (less the first arrival's) / arrival span.
 * Received at less than 90 % of the send rate: the link is saturated and its capacity is about the
 * receive rate (the result is 95 % of it); otherwise the link carried the probe (the result is the
 * lower of the two rates).
 */
import { REPORT_NONE, REPORT_RECEIVED, type SendHistory } from './send-history.ts';

export interface ProbeOutcome {
  id: number;
  /** What the link can carry as far as this probe tells, bit/s; 0 when it told nothing. */
  bitrate: number;
  sendBitrate: number;
  receiveBitrate: number;
  /** The link did not carry the probe's rate. */
  saturated: boolean;
}

const MIN_RATIO_UNSATURATED = 0.9;
const TARGET_UTILIZATION = 0.95;
const MAX_VALID_RATIO = 2;
const MAX_SPAN_MS = 1000;

export class ProbeTracker {
  #id = 0;
  #expected = 0;
  #sent = 0;
  #first = -1;
  #last = -1;

  /** Starts following a cluster of `packets` packets. */
  start(id: number, packets: number): void {
    this.#id = id;
    this.#expected = packets;
    this.#sent = 0;
    this.#first = -1;
    this.#last = -1;
  }

  get active(): boolean {
    return this.#id !== 0;
  }

  stop(): void {
    this.#id = 0;
  }

  /** A packet of cluster `id` went out as `unwrapped`. */
  onSent(id: number, unwrapped: number): void {
    if (id !== this.#id) return;
    if (this.#first < 0) this.#first = unwrapped;
    if (unwrapped > this.#last) this.#last = unwrapped;
    this.#sent++;
  }

  /** The outcome once the whole span is sent and reported; undefined until then. */
  evaluate(history: SendHistory): ProbeOutcome | undefined {
    if (this.#id === 0 || this.#sent < this.#expected || this.#first < 0) return undefined;
    let sentBytes = 0;
    let receivedBytes = 0;
    let firstArrival = Number.POSITIVE_INFINITY;
    let firstArrivalBytes = 0;
    let lastArrival = Number.NEGATIVE_INFINITY;
    for (let u = this.#first; u <= this.#last; u++) {
      if (history.lookup(u & 0xffff) !== u) continue; // not ours (never sent, or gone)
      const report = history.report(u);
      if (report === REPORT_NONE) return undefined; // not all reported yet
      const bytes = history.bytes(u);
      sentBytes += bytes;
      if (report !== REPORT_RECEIVED) continue;
      const arrival = history.arrivalUs(u) / 1000;
      receivedBytes += bytes;
      if (arrival < firstArrival) {
        firstArrival = arrival;
        firstArrivalBytes = bytes;
      }
      if (arrival > lastArrival) lastArrival = arrival;
    }
    const id = this.#id;
    this.#id = 0;
    const sendSpan = history.sendTimeMs(this.#last) - history.sendTimeMs(this.#first);
    const receiveSpan = lastArrival - firstArrival;
    const failed: ProbeOutcome = { id, bitrate: 0, sendBitrate: 0, receiveBitrate: 0, saturated: true };
    if (!(sendSpan > 0 && sendSpan <= MAX_SPAN_MS)) return failed;
    const sendBitrate = ((sentBytes - history.bytes(this.#last)) * 8000) / sendSpan;
    if (!(receiveSpan > 0 && receiveSpan <= MAX_SPAN_MS)) return { ...failed, sendBitrate };
    const receiveBitrate = ((receivedBytes - firstArrivalBytes) * 8000) / receiveSpan;
    if (receiveBitrate > MAX_VALID_RATIO * sendBitrate) {
      // Arrivals bunched up (a busy receiver, a radio's aggregation): the spacing says nothing, but if (nearly)
      // everything arrived the link carried at least the send rate.
      if (receivedBytes >= MIN_RATIO_UNSATURATED * sentBytes) return { id, bitrate: sendBitrate, sendBitrate, receiveBitrate, saturated: false };
      return { ...failed, sendBitrate, receiveBitrate };
    }
    const saturated = receiveBitrate < MIN_RATIO_UNSATURATED * sendBitrate;
    const bitrate = saturated ? TARGET_UTILIZATION * receiveBitrate : Math.min(sendBitrate, receiveBitrate);
    return { id, bitrate, sendBitrate, receiveBitrate, saturated };
  }
}
