/**
 * The viewer's RTCP as it arrives, decrypted, before werift parses it: the sender reads its transport-wide
 * feedback, receiver reports, NACKs and keyframe requests with its own parser (lib/rtp/rtcp.ts). werift's
 * parser misreads every real transport-cc feedback, and its router drops feedback whose media SSRC is not a
 * sender's (real-networks.md §1). werift still gets every packet, as before.
 */
import type { RTCRtpSender, RTCRtpTransceiver } from 'werift';

/** The transport-cc header extension (draft-holmer-rmcat-transport-wide-cc-extensions-01). */
export const TRANSPORT_WIDE_CC_URI = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';

interface SrtcpSessionLike {
  decrypt: (data: Buffer) => Buffer;
}

/**
 * Calls `handler` with every compound RTCP packet the sender's transport decrypts, from now on. Returns
 * false when werift's layout has no place for it (then the sender gets no feedback and stays on its start
 * rendition).
 */
export function tapRtcp(sender: RTCRtpSender, handler: (rtcp: Buffer) => void): boolean {
  const session = (sender.dtlsTransport as unknown as { srtcp?: SrtcpSessionLike }).srtcp;
  if (typeof session?.decrypt !== 'function') return false;
  const decrypt = session.decrypt;
  session.decrypt = (data: Buffer): Buffer => {
    const decrypted = decrypt(data);
    try {
      handler(decrypted);
    } catch {
      // a bug in the handler must not cost werift its RTCP
    }
    return decrypted;
  };
  return true;
}

/** The extension id the answer gave transport-cc on this transceiver, or undefined when not negotiated. */
export function transportWideCcId(transceiver: RTCRtpTransceiver): number | undefined {
  const id = transceiver.headerExtensions.find((extension) => extension.uri === TRANSPORT_WIDE_CC_URI)?.id;
  // The one-byte header extension form (RFC 8285) the sender writes takes ids 1–14.
  return id !== undefined && id >= 1 && id <= 14 ? id : undefined;
}
