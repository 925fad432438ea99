/** Reading a serialized RTP packet's fixed header (RFC 3550 §5.1) in place, without parsing it whole. */

export const RTP_SEQUENCE_OFFSET = 2;
export const RTP_TIMESTAMP_OFFSET = 4;
export const RTP_SSRC_OFFSET = 8;
/** Video's RTP clock, ticks per second (VP8 and H.264, RFC 7741 and RFC 6184). */
export const VIDEO_CLOCK_RATE = 90_000;

/** An RTP packet: version 2 and at least the fixed header. */
export const isRtp = (packet: Buffer): boolean => packet.length >= 12 && packet[0]! >> 6 === 2;

/** RTCP packet types (SR, RR, SDES, BYE, APP) sit where an RTP header has marker + payload type. */
export const isRtcp = (packet: Buffer): boolean => packet.length > 1 && packet[1]! >= 200 && packet[1]! <= 204;

export const ssrcOf = (packet: Buffer): number => packet.readUInt32BE(RTP_SSRC_OFFSET);
export const sequenceNumberOf = (packet: Buffer): number => packet.readUInt16BE(RTP_SEQUENCE_OFFSET);
export const timestampOf = (packet: Buffer): number => packet.readUInt32BE(RTP_TIMESTAMP_OFFSET);
/** The marker bit: the last packet of a video frame. */
export const hasMarker = (packet: Buffer): boolean => (packet[1]! & 0x80) !== 0;

/** The length of a serialized RTP packet's header (CSRCs and extension included); 0 if it is not one. */
export function rtpHeaderLength(packet: Buffer): number {
  if (packet.length < 12) return 0;
  let length = 12 + 4 * (packet[0]! & 0x0f);
  if (packet[0]! & 0x10) {
    if (packet.length < length + 4) return 0;
    length += 4 + 4 * packet.readUInt16BE(length + 2);
  }
  return packet.length >= length ? length : 0;
}

/** Where an RTP packet's payload starts (after CSRCs and header extensions). */
export function payloadOf(packet: Buffer): Buffer {
  const length = rtpHeaderLength(packet);
  return packet.subarray(length === 0 ? packet.length : length);
}

/** The fixed header fields `buildRtpPacket` writes. */
export interface RtpFields {
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
}

/**
 * A serialized RTP packet of a 12-byte header and `payload` (copied): no CSRCs, header extensions or
 * padding, as ffmpeg's packets are. How a WebRTC sender's packets enter the ingest: its extensions (MID,
 * RID, transport-cc…) are its connection's, not the viewers'.
 */
export function buildRtpPacket(fields: RtpFields, payload: Uint8Array): Buffer {
  const packet = Buffer.allocUnsafe(12 + payload.length);
  packet[0] = 0x80;
  packet[1] = (fields.marker ? 0x80 : 0) | (fields.payloadType & 0x7f);
  packet.writeUInt16BE(fields.sequenceNumber & 0xffff, RTP_SEQUENCE_OFFSET);
  packet.writeUInt32BE(fields.timestamp >>> 0, RTP_TIMESTAMP_OFFSET);
  packet.writeUInt32BE(fields.ssrc >>> 0, RTP_SSRC_OFFSET);
  packet.set(payload, 12);
  return packet;
}
