/**
 * A viewer's RTP header for a packet of the shared stream: the viewer's payload type, SSRC, sequence number
 * and timestamp, the source's marker and padding bits, and (when negotiated) the transport-wide sequence
 * number (draft-holmer-rmcat-transport-wide-cc-extensions-01) in a one-byte header extension (RFC 8285).
 * The source's CSRCs and extensions are not carried over.
 */

/** Where a header's fields go; `transportWide` is set when transport-cc is negotiated. */
export interface HeaderFields {
  payloadType: number;
  ssrc: number;
  sequenceNumber: number;
  timestamp: number;
  /** The extension id negotiated for transport-cc and this packet's transport-wide sequence number. */
  transportWide?: { id: number; sequenceNumber: number };
}

export const FIXED_HEADER_LENGTH = 12;
/** 0xBEDE, one 32-bit word: the id/length byte, two bytes of sequence number, one byte of padding. */
export const TRANSPORT_WIDE_EXTENSION_LENGTH = 8;

/** Writes the viewer's header for `packet` (a serialized RTP packet of the shared stream) into `out` at 0; returns its length. */
export function writeHeader(out: Buffer, packet: Buffer, fields: HeaderFields): number {
  const extension = fields.transportWide;
  out[0] = 0x80 | (packet[0]! & 0x20) | (extension ? 0x10 : 0);
  out[1] = (packet[1]! & 0x80) | fields.payloadType;
  out.writeUInt16BE(fields.sequenceNumber & 0xffff, 2);
  out.writeUInt32BE(fields.timestamp >>> 0, 4);
  out.writeUInt32BE(fields.ssrc >>> 0, 8);
  if (!extension) return FIXED_HEADER_LENGTH;
  out[12] = 0xbe;
  out[13] = 0xde;
  out.writeUInt16BE(1, 14);
  out[16] = (extension.id << 4) | 1; // one-byte form: id, then length − 1
  out.writeUInt16BE(extension.sequenceNumber & 0xffff, 17);
  out[19] = 0;
  return FIXED_HEADER_LENGTH + TRANSPORT_WIDE_EXTENSION_LENGTH;
}
