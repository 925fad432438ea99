/**
 * The viewer's RTCP as it arrives, decrypted (by the addon where it runs: lib/native/srtcp-open.c), before
 * werift parses it: the sender reads its transport-wide
 * feedback, receiver reports, NACKs and keyframe requests with its own parser (lib/rtp/rtcp.ts). werift's
 * parser misreads every real transport-cc feedback, and its router drops feedback whose media SSRC is not a
 * sender's (real-networks.md §1). werift gets every packet but the transport-cc feedback: it only fed that to
 * its own bandwidth estimator, which the direct path does not use, and a browser sends one every 50-100 ms
 * (about 4 µs of werift's parsing each, per viewer). Its receiver reports (stats), NACKs and keyframe
 * requests still reach werift as before.
 */
import type { KeyObject } from 'node:crypto';
import type { RTCRtpSender, RTCRtpTransceiver } from 'werift';
import { nativeSrtp } from '../native/index.ts';
import { withoutTransportFeedback } from '../rtp/rtcp.ts';
import { keyBytes } from './srtp-keys.ts';

/** The transport-cc header extension (draft-holmer-rmcat-transport-wide-cc-extensions-01). */
export const TRANSPORT_WIDE_CC_URI = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';

interface SrtcpSessionLike {
  decrypt: (data: Buffer) => Buffer;
  remoteContext?: { profile?: number; cipher?: { srtcpSessionKey?: Buffer | KeyObject; srtcpSessionSalt?: Buffer } };
}

/** SRTP's AEAD_AES_128_GCM profile (RFC 7714): the one the addon opens. */
const PROFILE_AEAD_AES_128_GCM = 0x0007;

/**
 * The addon's opener of the viewer's SRTCP, when it is there and the profile is AES-GCM: werift decrypts each
 * packet in JavaScript with a new cipher object and four Buffers (with a browser's transport-cc feedback
 * every 50-100 ms, per viewer). undefined: werift's own decrypt serves.
 */
function nativeOpener(session: SrtcpSessionLike): object | undefined {
  const context = session.remoteContext;
  const key = context?.cipher?.srtcpSessionKey;
  const salt = context?.cipher?.srtcpSessionSalt;
  if (!nativeSrtp || context?.profile !== PROFILE_AEAD_AES_128_GCM || !key || !Buffer.isBuffer(salt) || salt.length < 12) return undefined;
  try {
    return nativeSrtp.rtcpOpener(keyBytes(key), salt);
  } catch {
    return undefined;
  }
}

/**
 * Calls `handler` with every compound RTCP packet the sender's transport decrypts, from now on, and hands
 * werift the packet without its transport-cc feedback (nothing, when that is all it was). Returns
 * false when werift's layout has no place for it (then the sender gets no feedback and stays on its start
 * rendition).
 */
export function tapRtcp(sender: RTCRtpSender, handler: (rtcp: Buffer) => void): boolean {
  const session = (sender.dtlsTransport as unknown as { srtcp?: SrtcpSessionLike }).srtcp;
  if (typeof session?.decrypt !== 'function') return false;
  const decrypt = session.decrypt;
  const opener = nativeOpener(session);
  session.decrypt = (data: Buffer): Buffer => {
    const out = opener && Buffer.allocUnsafe(data.length);
    const length = out ? nativeSrtp!.openRtcp(opener, data, out) : -1;
    // What the addon cannot open goes to werift's, which rejects it as it always did (or opens what it can).
    const decrypted = length >= 0 ? out!.subarray(0, length) : decrypt(data);
    try {
      handler(decrypted);
    } catch {
      // a bug in the handler must not cost werift its RTCP
    }
    return withoutTransportFeedback(decrypted);
  };
  return true;
}

/** The extension id the answer gave transport-cc on this transceiver, or undefined when not negotiated. */
export function transportWideCcId(transceiver: RTCRtpTransceiver): number | undefined {
  const id = transceiver.headerExtensions.find((extension) => extension.uri === TRANSPORT_WIDE_CC_URI)?.id;
  // The one-byte header extension form (RFC 8285) the sender writes takes ids 1–14.
  return id !== undefined && id >= 1 && id <= 14 ? id : undefined;
}
