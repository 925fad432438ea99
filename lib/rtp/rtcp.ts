/**
 * Reading a decrypted compound RTCP packet (RFC 3550 §6, RFC 4585 §6) for what a sender acts on:
 * receiver reports, transport-wide congestion feedback, REMB, keyframe requests (PLI, FIR) and NACKs.
 *
 * The packet comes from the network: every read is bounds-checked and nothing throws. A sub-packet
 * whose header is impossible (wrong version, length past the end) ends the walk, since nothing after
 * it can be framed; one whose body is malformed is skipped alone.
 */

export const RTCP_SR = 200;
export const RTCP_RR = 201;
/** Transport-layer feedback (RFC 4585): generic NACK (FMT 1), transport-cc (FMT 15). */
export const RTCP_RTPFB = 205;
/** The transport-cc feedback's FMT in an RTPFB packet (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1). */
const FMT_TRANSPORT_CC = 15;
/** Payload-specific feedback (RFC 4585): PLI (FMT 1), FIR (FMT 4, RFC 5104), REMB (FMT 15). */
export const RTCP_PSFB = 206;

/** One report block of an SR or RR (RFC 3550 §6.4.1): how the browser receives one of our streams. */
export interface ReportBlock {
  /** The SSRC of the sender that sent the report (the browser's). */
  reporterSsrc: number;
  /** The SSRC of our stream this block is about. */
  ssrc: number;
  /** Share of packets lost since the previous report, 0–1 (8-bit fixed point on the wire). */
  fractionLost: number;
  /** Packets lost since the start (expected − received), signed: duplicates can make it negative. */
  cumulativeLost: number;
  /** Extended highest sequence number received (cycles << 16 | sequence number). */
  highestSequence: number;
  /** Interarrival jitter, in RTP timestamp units. */
  jitter: number;
  /** LSR: the middle 32 bits of the NTP time of our last sender report it received, 0 if none. */
  lastSenderReport: number;
  /** DLSR: the time between receiving that sender report and sending this block, in 1/65536 s. */
  delaySinceLastSenderReport: number;
}

/** A transport-cc feedback packet (RTPFB FMT 15); parse `fci` with `parseTwccFeedback()`. */
export interface TransportFeedbackPacket {
  senderSsrc: number;
  mediaSsrc: number;
  /** The feedback control information (a view into the compound packet, not a copy). */
  fci: Buffer;
}

/** REMB (draft-alvestrand-rmcat-remb-03): the receiver's estimate of the bitrate it can take. */
export interface Remb {
  senderSsrc: number;
  /** bit/s */
  bitrate: number;
  ssrcs: number[];
}

/** A generic NACK (RFC 4585 §6.2.1): the sequence numbers the browser asks to be sent again. */
export interface Nack {
  senderSsrc: number;
  mediaSsrc: number;
  sequenceNumbers: number[];
}

/** A keyframe request: PLI (RFC 4585 §6.3.1) or FIR (RFC 5104 §4.3.1). */
export interface KeyframeRequest {
  kind: 'pli' | 'fir';
  senderSsrc: number;
  /** The SSRC of the stream that needs a keyframe. */
  mediaSsrc: number;
}

/** What a compound RTCP packet says to a sender; each list empty when it carried none. */
export interface RtcpSummary {
  reports: ReportBlock[];
  transportFeedback: TransportFeedbackPacket[];
  remb: Remb[];
  nacks: Nack[];
  keyframeRequests: KeyframeRequest[];
  /** Sub-packets that were skipped as malformed (the walk's own framing counts as one when it breaks). */
  malformed: number;
}

/** The length of the sub-packet whose header is at `at` (4 bytes there), padding included; 0 if it cannot be framed. */
function framedLength(buffer: Buffer, at: number): number {
  const length = 4 * (buffer.readUInt16BE(at + 2) + 1);
  return buffer[at]! >> 6 !== 2 || at + length > buffer.length ? 0 : length;
}

/** Walks a decrypted compound RTCP packet; never throws, whatever the bytes. */
export function readRtcp(packet: Uint8Array): RtcpSummary {
  const summary: RtcpSummary = { reports: [], transportFeedback: [], remb: [], nacks: [], keyframeRequests: [], malformed: 0 };
  const buffer = Buffer.isBuffer(packet) ? packet : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
  let at = 0;
  while (at + 4 <= buffer.length) {
    const first = buffer[at]!;
    const length = framedLength(buffer, at);
    if (length === 0) {
      summary.malformed++;
      break;
    }
    let end = at + length;
    if (first & 0x20) {
      // Padding (RFC 3550 §6.4.1): its last octet counts the padding octets, itself included.
      const padding = buffer[end - 1]!;
      if (padding === 0 || padding > length - 4) {
        summary.malformed++;
        break;
      }
      end -= padding;
    }
    const ok = readOne(buffer, at, end, first & 0x1f, buffer[at + 1]!, summary);
    if (!ok) summary.malformed++;
    at += length;
  }
  return summary;
}

/**
 * `packet` without its transport-cc feedback sub-packets: the same Buffer when it has none (or cannot be
 * framed: then it is handed on as it came), an empty one when that is all it carries.
 */
export function withoutTransportFeedback(packet: Buffer): Buffer {
  let kept: Buffer[] | undefined;
  let keptFrom = 0;
  let at = 0;
  while (at + 4 <= packet.length) {
    const length = framedLength(packet, at);
    if (length === 0) return packet;
    if (packet[at + 1] === RTCP_RTPFB && (packet[at]! & 0x1f) === FMT_TRANSPORT_CC) {
      kept ??= [];
      if (at > keptFrom) kept.push(packet.subarray(keptFrom, at));
      keptFrom = at + length;
    }
    at += length;
  }
  if (!kept || at !== packet.length) return packet;
  if (keptFrom < packet.length) kept.push(packet.subarray(keptFrom));
  return kept.length === 1 ? kept[0]! : Buffer.concat(kept);
}

/** One sub-packet between `start` (its header) and `end` (padding excluded); false if malformed. */
function readOne(buffer: Buffer, start: number, end: number, count: number, type: number, summary: RtcpSummary): boolean {
  switch (type) {
    case RTCP_SR:
      return readReportBlocks(buffer, start + 8, start + 28, end, count, summary);
    case RTCP_RR:
      return readReportBlocks(buffer, start + 8, start + 8, end, count, summary);
    case RTCP_RTPFB:
      return readTransportFeedback(buffer, start, end, count, summary);
    case RTCP_PSFB:
      return readPayloadFeedback(buffer, start, end, count, summary);
    default:
      return true; // SDES, BYE, APP, XR: nothing a sender needs here.
  }
}

function readReportBlocks(buffer: Buffer, ssrcEnd: number, blocksAt: number, end: number, count: number, summary: RtcpSummary): boolean {
  if (blocksAt + 24 * count > end) return false;
  const reporterSsrc = buffer.readUInt32BE(ssrcEnd - 4);
  for (let i = 0, at = blocksAt; i < count; i++, at += 24) {
    summary.reports.push({
      reporterSsrc,
      ssrc: buffer.readUInt32BE(at),
      fractionLost: buffer[at + 4]! / 256,
      cumulativeLost: buffer.readIntBE(at + 5, 3),
      highestSequence: buffer.readUInt32BE(at + 8),
      jitter: buffer.readUInt32BE(at + 12),
      lastSenderReport: buffer.readUInt32BE(at + 16),
      delaySinceLastSenderReport: buffer.readUInt32BE(at + 20),
    });
  }
  return true;
}

function readTransportFeedback(buffer: Buffer, start: number, end: number, format: number, summary: RtcpSummary): boolean {
  if (start + 12 > end) return false;
  const senderSsrc = buffer.readUInt32BE(start + 4);
  const mediaSsrc = buffer.readUInt32BE(start + 8);
  if (format === FMT_TRANSPORT_CC) {
    summary.transportFeedback.push({ senderSsrc, mediaSsrc, fci: buffer.subarray(start + 12, end) });
    return true;
  }
  if (format !== 1) return true;
  if ((end - start - 12) % 4 !== 0) return false;
  const sequenceNumbers: number[] = [];
  for (let at = start + 12; at + 4 <= end; at += 4) {
    // PID, then BLP: bit i set means PID + i + 1 is lost too.
    const pid = buffer.readUInt16BE(at);
    const blp = buffer.readUInt16BE(at + 2);
    sequenceNumbers.push(pid);
    for (let bit = 0; bit < 16; bit++) if (blp & (1 << bit)) sequenceNumbers.push((pid + bit + 1) & 0xffff);
  }
  summary.nacks.push({ senderSsrc, mediaSsrc, sequenceNumbers });
  return true;
}

function readPayloadFeedback(buffer: Buffer, start: number, end: number, format: number, summary: RtcpSummary): boolean {
  if (start + 12 > end) return false;
  const senderSsrc = buffer.readUInt32BE(start + 4);
  const mediaSsrc = buffer.readUInt32BE(start + 8);
  const fci = start + 12;
  switch (format) {
    case 1:
      summary.keyframeRequests.push({ kind: 'pli', senderSsrc, mediaSsrc });
      return true;
    case 4: {
      // FIR: the media SSRC field is unused; each 8-octet FCI entry names a stream.
      if ((end - fci) % 8 !== 0 || end === fci) return false;
      for (let at = fci; at + 8 <= end; at += 8) {
        summary.keyframeRequests.push({ kind: 'fir', senderSsrc, mediaSsrc: buffer.readUInt32BE(at) });
      }
      return true;
    }
    case 15: {
      // Application layer feedback: REMB is the one identified by the ASCII "REMB".
      if (fci + 8 > end || buffer.readUInt32BE(fci) !== 0x52454d42) return true;
      const ssrcCount = buffer[fci + 4]!;
      if (fci + 8 + 4 * ssrcCount > end) return false;
      const exponent = buffer[fci + 5]! >> 2;
      const mantissa = ((buffer[fci + 5]! & 0x03) << 16) | buffer.readUInt16BE(fci + 6);
      const ssrcs: number[] = [];
      for (let i = 0; i < ssrcCount; i++) ssrcs.push(buffer.readUInt32BE(fci + 8 + 4 * i));
      summary.remb.push({ senderSsrc, bitrate: mantissa * 2 ** exponent, ssrcs });
      return true;
    }
    default:
      return true;
  }
}

/**
 * The round-trip time a report block gives (RFC 3550 §6.4.1): now − LSR − DLSR, where the sender
 * report named by LSR left at `senderReportSentAtMs` on this clock. `undefined` when the block names
 * no sender report (LSR 0) or the result is negative (a stale or foreign LSR).
 *
 * Going through the local send time rather than NTP arithmetic keeps this right whatever clock wrote
 * the NTP timestamp of our sender reports (werift's NTP fraction is wrong: real-networks.md §3).
 */
export function roundTripTimeMs(block: ReportBlock, receivedAtMs: number, senderReportSentAtMs: number | undefined): number | undefined {
  if (block.lastSenderReport === 0 || senderReportSentAtMs === undefined) return undefined;
  const rtt = receivedAtMs - senderReportSentAtMs - (block.delaySinceLastSenderReport * 1000) / 65536;
  return rtt >= 0 ? rtt : undefined;
}

/** The middle 32 bits of a 64-bit NTP timestamp (what a report block's LSR echoes). */
export function ntpMiddle32(ntpSeconds: number, ntpFraction: number): number {
  return (((ntpSeconds & 0xffff) << 16) | (ntpFraction >>> 16)) >>> 0;
}
