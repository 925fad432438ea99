/**
 * Writing transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01
 * §3.1) as a receiver: what a publisher's browser needs from us to estimate its uplink and send more than
 * its start bitrate (and, with simulcast, its upper layers at all).
 *
 * Not werift's ReceiverTWCC: its first receive delta is taken from the previous feedback's last packet
 * instead of the reference time (floored to 64 ms), so every feedback moves its packets by up to 64 ms;
 * Chromium reads that as queueing delay and lowers its estimate to its floor (measured: 300 → 100 kbit/s
 * in 10 s on loopback, the upper simulcast layers never sent).
 *
 * Laid out as libwebrtc's TransportFeedback: the reference time is the first received packet's arrival
 * floored to 64 ms, deltas on a 250 µs grid that does not drift, runs of one status as run-length chunks,
 * mixed stretches as 2-bit status vectors, padding with the P bit.
 */
import { RTCP_RTPFB } from './rtcp.ts';

/** µs per unit of the reference time, and of a receive delta. */
const TWCC_REFERENCE_TIME_US = 64_000;
const TWCC_DELTA_US = 250;

/** One reported packet: its arrival in µs on the receiver's clock, undefined when it did not arrive. */
export type ArrivalUs = number | undefined;

/** Status symbols (§3.1.1); 0 is "not received". */
const SMALL_DELTA = 1;
const LARGE_DELTA = 2;
/** A run-length chunk pays off from this many equal symbols (a 2-bit vector holds 7). */
const MIN_RUN = 7;
const MAX_RUN = 0x1fff;

export interface TwccFeedbackFields {
  senderSsrc: number;
  mediaSsrc: number;
  /** The transport sequence number of `arrivals[0]` (16 bits). */
  baseSequence: number;
  /** Counts this receiver's feedback packets (8 bits, wraps). */
  feedbackCount: number;
}

/**
 * The RTCP packet (RTPFB, FMT 15) reporting `arrivals` for consecutive transport sequence numbers from
 * `baseSequence`. Undefined when nothing was received, or a delta does not fit 16 bits (8 s between
 * two packets of one feedback: the caller reports fewer at a time).
 */
export function writeTwccFeedback(arrivals: readonly ArrivalUs[], fields: TwccFeedbackFields): Buffer | undefined {
  if (arrivals.length === 0 || arrivals.length > 0xffff) return undefined;
  const first = arrivals.find((arrival) => arrival !== undefined);
  if (first === undefined) return undefined;
  const reference = Math.floor(first / TWCC_REFERENCE_TIME_US);
  let gridUs = reference * TWCC_REFERENCE_TIME_US;
  const symbols = new Uint8Array(arrivals.length);
  const deltas: number[] = [];
  for (let i = 0; i < arrivals.length; i++) {
    const arrival = arrivals[i];
    if (arrival === undefined) continue; // symbol 0: not received
    const ticks = Math.round((arrival - gridUs) / TWCC_DELTA_US);
    gridUs += ticks * TWCC_DELTA_US;
    if (ticks >= 0 && ticks <= 0xff) {
      symbols[i] = SMALL_DELTA;
      deltas.push(ticks);
    } else if (ticks >= -0x8000 && ticks <= 0x7fff) {
      symbols[i] = LARGE_DELTA;
      deltas.push((ticks >> 8) & 0xff, ticks & 0xff);
    } else {
      return undefined;
    }
  }
  const chunks = statusChunks(symbols);
  const bodyLength = 8 + 8 + 2 * chunks.length + deltas.length;
  const padding = (4 - (bodyLength % 4)) % 4;
  const packet = Buffer.alloc(4 + bodyLength + padding);
  packet[0] = 0x80 | (padding > 0 ? 0x20 : 0) | 15;
  packet[1] = RTCP_RTPFB;
  packet.writeUInt16BE(packet.length / 4 - 1, 2);
  packet.writeUInt32BE(fields.senderSsrc >>> 0, 4);
  packet.writeUInt32BE(fields.mediaSsrc >>> 0, 8);
  packet.writeUInt16BE(fields.baseSequence & 0xffff, 12);
  packet.writeUInt16BE(arrivals.length, 14);
  packet.writeUIntBE(((reference % 0x1000000) + 0x1000000) % 0x1000000, 16, 3);
  packet[19] = fields.feedbackCount & 0xff;
  let at = 20;
  for (const chunk of chunks) {
    packet.writeUInt16BE(chunk, at);
    at += 2;
  }
  for (const byte of deltas) packet[at++] = byte;
  if (padding > 0) packet[packet.length - 1] = padding;
  return packet;
}

/** The status symbols as chunks: run-length for runs of at least MIN_RUN, 2-bit vectors of 7 otherwise. */
function statusChunks(symbols: Uint8Array): number[] {
  const chunks: number[] = [];
  let i = 0;
  while (i < symbols.length) {
    const run = runAt(symbols, i);
    if (run >= MIN_RUN) {
      chunks.push((symbols[i]! << 13) | run);
      i += run;
      continue;
    }
    // A vector always holds the next 7 symbols (a receiver reads 7 from it, stopping only at the count).
    let chunk = 0xc000;
    for (let k = 0; k < 7 && i < symbols.length; k++, i++) chunk |= symbols[i]! << (12 - 2 * k);
    chunks.push(chunk);
  }
  return chunks;
}

function runAt(symbols: Uint8Array, start: number): number {
  let run = 1;
  while (start + run < symbols.length && symbols[start + run] === symbols[start] && run < MAX_RUN) run++;
  return run;
}

