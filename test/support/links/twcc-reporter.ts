/**
 * Transport-wide congestion control feedback as a browser writes it, for werift viewers: every packet
 * from the last one reported to the highest received, each received one with its arrival time, the rest
 * as lost (encoded by test/unit/support/rtcp-builder.ts's `encodeTwcc`, which writes what libwebrtc does).
 *
 * Why not werift's own receiver (ReceiverTWCC, 0.25.2): its reference time is the previous feedback's last
 * arrival floored to 64 ms while its first delta counts from that arrival unfloored, so every feedback
 * packet shifts its arrival times by a different 0–64 ms; packets that did not arrive are reported as
 * received (their run-length chunks span the gaps, with fewer deltas than received statuses); its
 * feedback is not padded to 32 bits, so the RTCP length cuts off up to 3 bytes of deltas; and it sends
 * only every 11 packets (its 100 ms timer never runs). The server parsed about one of its feedbacks in ten,
 * and a viewer's estimate sank from 1 Mbit/s to the 100 kbit/s floor in under 20 s on an 800 kbit/s link
 * that dropped nothing, as if there were no feedback (bench/links.ts crowd with BENCH_TWCC=werift).
 */
import { encodeTwcc, transportFeedback, type ReportedPacket } from '../../unit/support/rtcp-builder.ts';

/** At most this many packets in one feedback packet (libwebrtc splits larger ones too). */
const MAX_PACKETS = 2000;

export class TwccReporter {
  /** Arrival times (µs, the receiver's clock) by extended transport sequence number, not yet reported. */
  readonly #arrivals = new Map<number, number>();
  #highest: number | undefined;
  #nextToReport = 0;
  #feedbackCount = 0;

  /** A packet arrived: its 16-bit transport sequence number and its arrival time in µs. */
  record(sequence: number, arrivalUs: number): void {
    let extended: number;
    if (this.#highest === undefined) {
      extended = sequence;
      this.#nextToReport = sequence;
    } else {
      extended = this.#highest + ((((sequence - this.#highest) & 0xffff) + 32768) % 65536) - 32768;
      // Reported (as lost) already: a late packet is not reported again.
      if (extended < this.#nextToReport) return;
    }
    this.#highest = Math.max(this.#highest ?? extended, extended);
    this.#arrivals.set(extended, arrivalUs);
  }

  /** The RTCP packets (RTPFB, FMT 15) reporting everything since the last call; none if nothing new came. */
  take(senderSsrc: number, mediaSsrc: number): Buffer[] {
    const highest = this.#highest;
    if (highest === undefined || highest < this.#nextToReport) return [];
    const packets: Buffer[] = [];
    for (let from = this.#nextToReport; from <= highest; ) {
      const reported: ReportedPacket[] = [];
      for (let s = from; s <= highest && reported.length < MAX_PACKETS; s++) reported.push({ sequence: s & 0xffff, arrivalUs: this.#arrivals.get(s) });
      const fci = encodeTwcc(reported, this.#feedbackCount);
      from += reported.length;
      // None: nothing of these arrived (no reference time to give), or a delta beyond 16 bits (8 s
      // between two arrivals of one feedback, which a 50 ms interval does not make): left out.
      if (!fci) continue;
      this.#feedbackCount = (this.#feedbackCount + 1) & 0xff;
      packets.push(transportFeedback(senderSsrc, mediaSsrc, fci));
    }
    for (let s = this.#nextToReport; s <= highest; s++) this.#arrivals.delete(s);
    this.#nextToReport = highest + 1;
    return packets;
  }
}
