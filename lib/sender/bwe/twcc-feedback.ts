/**
 * The transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01
 * §3.1), parsed exactly: every packet it reports, in transport sequence order, received or not, with
 * its arrival time at the receiver's 250 µs resolution.
 *
 * Not werift's parser: werift 0.25.2 expands only run-length chunks, restarts each at the base and
 * rounds deltas to whole milliseconds (real-networks.md §1), which is wrong for every real feedback.
 *
 * FCI layout (after the RTPFB header's sender and media SSRCs):
 *   base sequence number (16) | packet status count (16)
 *   reference time (24, signed, × 64 ms) | feedback packet count (8)
 *   packet chunks (16 bits each), then one receive delta per received packet, then zero padding.
 */

/** µs per unit of the reference time. */
export const TWCC_REFERENCE_TIME_US = 64_000;
/** µs per unit of a receive delta. */
export const TWCC_DELTA_US = 250;

/** One parsed transport-cc feedback packet. */
export interface TwccFeedback {
  senderSsrc: number;
  mediaSsrc: number;
  /** The transport sequence number of the first packet reported. */
  baseSequence: number;
  /** How many packets are reported: `baseSequence` to `baseSequence + count − 1`, modulo 2^16. */
  packetStatusCount: number;
  /** Signed, in units of 64 ms on the receiver's clock (wraps at 2^24 units; see `referenceTimeRaw`). */
  referenceTime: number;
  /** The unsigned 24-bit reference time as sent, for unwrapping across feedback packets. */
  referenceTimeRaw: number;
  /** Counts the receiver's feedback packets (8 bits, wraps). */
  feedbackPacketCount: number;
  /**
   * Per reported packet i (transport sequence number `(baseSequence + i) & 0xffff`): its arrival time
   * in µs on the receiver's clock (reference time × 64 ms plus the deltas so far), NaN if not received.
   */
  arrivalTimesUs: Float64Array;
  /** How many of the reported packets were received. */
  receivedCount: number;
}

/** The transport sequence number of the packet at `index` in `feedback`. */
export const twccSequenceAt = (feedback: TwccFeedback, index: number): number => (feedback.baseSequence + index) & 0xffff;

/**
 * Parses a transport-cc FCI (the RTPFB FMT 15 payload after its two SSRCs, as `readRtcp()` gives it).
 * Returns undefined for anything malformed: too short, chunks or deltas past the end, a reserved
 * status symbol (3). Never throws.
 */
export function parseTwccFeedback(fci: Uint8Array, senderSsrc = 0, mediaSsrc = 0): TwccFeedback | undefined {
  if (fci.length < 8) return undefined;
  const baseSequence = (fci[0]! << 8) | fci[1]!;
  const count = (fci[2]! << 8) | fci[3]!;
  const referenceTimeRaw = (fci[4]! << 16) | (fci[5]! << 8) | fci[6]!;
  const referenceTime = referenceTimeRaw >= 0x800000 ? referenceTimeRaw - 0x1000000 : referenceTimeRaw;
  const feedbackPacketCount = fci[7]!;

  // First pass: the chunks, into one status symbol per reported packet.
  const symbols = new Uint8Array(count);
  let at = 8;
  let filled = 0;
  while (filled < count) {
    if (at + 2 > fci.length) return undefined;
    const chunk = (fci[at]! << 8) | fci[at + 1]!;
    at += 2;
    if ((chunk & 0x8000) === 0) {
      // Run length: T=0 | S(2) | run length(13).
      const symbol = (chunk >> 13) & 0x03;
      const run = Math.min(chunk & 0x1fff, count - filled);
      if (symbol === 3) return undefined;
      if (symbol !== 0) symbols.fill(symbol, filled, filled + run);
      filled += run;
    } else if ((chunk & 0x4000) === 0) {
      // Status vector, 14 one-bit symbols: 0 not received, 1 received (small delta).
      for (let bit = 13; bit >= 0 && filled < count; bit--) symbols[filled++] = (chunk >> bit) & 0x01;
    } else {
      // Status vector, 7 two-bit symbols: 0 not received, 1 small delta, 2 large or negative delta.
      for (let shift = 12; shift >= 0 && filled < count; shift -= 2) {
        const symbol = (chunk >> shift) & 0x03;
        if (symbol === 3) return undefined;
        symbols[filled++] = symbol;
      }
    }
  }

  // Second pass: the receive deltas, one per received packet, accumulated from the reference time.
  const arrivalTimesUs = new Float64Array(count);
  let timeUs = referenceTime * TWCC_REFERENCE_TIME_US;
  let receivedCount = 0;
  for (let i = 0; i < count; i++) {
    const symbol = symbols[i]!;
    if (symbol === 0) {
      arrivalTimesUs[i] = Number.NaN;
    } else if (symbol === 1) {
      if (at + 1 > fci.length) return undefined;
      timeUs += fci[at]! * TWCC_DELTA_US;
      at += 1;
      arrivalTimesUs[i] = timeUs;
      receivedCount++;
    } else {
      if (at + 2 > fci.length) return undefined;
      const delta = (fci[at]! << 8) | fci[at + 1]!;
      timeUs += (delta >= 0x8000 ? delta - 0x10000 : delta) * TWCC_DELTA_US;
      at += 2;
      arrivalTimesUs[i] = timeUs;
      receivedCount++;
    }
  }
  return {
    senderSsrc,
    mediaSsrc,
    baseSequence,
    packetStatusCount: count,
    referenceTime,
    referenceTimeRaw,
    feedbackPacketCount,
    arrivalTimesUs,
    receivedCount,
  };
}
