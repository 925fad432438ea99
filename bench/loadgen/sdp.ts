/**
 * The viewer's WHEP offer and what it needs from the answer, written and read with sdp-transform.
 * The offer is what a browser's receive-only video offer boils down to: one bundled m=video, VP8 and
 * H.264, rtcp-mux, a=setup:actpass, one host candidate (no trickle). No NACK or PLI feedback is offered,
 * so every gap in the sequence numbers is a packet the server did not deliver.
 */
import { isIPv4 } from 'node:net';
import { parse, write, type MediaDescription, type SessionDescription } from 'sdp-transform';

export interface OfferParameters {
  ufrag: string;
  pwd: string;
  /** "AB:CD:…", the SHA-256 of the generator's certificate. */
  fingerprint: string;
  address: string;
  port: number;
  sessionId: number;
}

/** RFC 8445 §5.1.2.1: host type preference 126, local preference 65535, component 1. */
const HOST_PRIORITY = (126 * 2 ** 24) + (65535 << 8) + 255;

export function buildOffer(offer: OfferParameters): string {
  const media: MediaDescription = {
    type: 'video',
    port: offer.port,
    protocol: 'UDP/TLS/RTP/SAVPF',
    payloads: '96 102',
    connection: { version: 4, ip: offer.address },
    rtp: [
      { payload: 96, codec: 'VP8', rate: 90000 },
      { payload: 102, codec: 'H264', rate: 90000 },
    ],
    fmtp: [{ payload: 102, config: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' }],
    iceUfrag: offer.ufrag,
    icePwd: offer.pwd,
    fingerprint: { type: 'sha-256', hash: offer.fingerprint },
    setup: 'actpass',
    mid: '0',
    direction: 'recvonly',
    rtcpMux: 'rtcp-mux',
    candidates: [
      {
        foundation: '1',
        component: 1,
        transport: 'udp',
        priority: HOST_PRIORITY,
        ip: offer.address,
        port: offer.port,
        type: 'host',
      },
    ],
    endOfCandidates: 'end-of-candidates',
  };
  const session: SessionDescription = {
    version: 0,
    origin: {
      username: '-',
      sessionId: offer.sessionId,
      sessionVersion: 2,
      netType: 'IN',
      ipVer: 4,
      address: offer.address,
    },
    name: '-',
    timing: { start: 0, stop: 0 },
    groups: [{ type: 'BUNDLE', mids: '0' }],
    media: [media],
  };
  return write(session);
}

export interface AnswerParameters {
  ufrag: string;
  pwd: string;
  /** The 32 bytes of the server certificate's SHA-256, which the DTLS handshake must see. */
  fingerprint: Buffer;
  /** The server's candidate the viewer uses: UDP, IPv4, one we may send to. */
  address: string;
  port: number;
  /** The codec the server chose. */
  codec: string;
}

/** What the viewer needs from the server's answer; throws naming what is missing or unusable. */
export function parseAnswer(sdp: string, mayContact: (address: string) => boolean): AnswerParameters {
  const session = parse(sdp);
  const video = session.media.find((media) => media.type === 'video');
  if (!video || video.port === 0) throw new Error('the answer rejects the video section');
  // sdp-transform turns values that look like integers into numbers: an all-digit ufrag among them.
  const ufrag = String(video.iceUfrag ?? session.iceUfrag ?? '');
  const pwd = String(video.icePwd ?? session.icePwd ?? '');
  if (!ufrag || !pwd) throw new Error('the answer has no a=ice-ufrag / a=ice-pwd');
  const fingerprint = video.fingerprint ?? session.fingerprint;
  if (!fingerprint || fingerprint.type.toLowerCase() !== 'sha-256') {
    throw new Error(`the answer has no sha-256 a=fingerprint (${fingerprint?.type ?? 'none'})`);
  }
  const digest = Buffer.from(fingerprint.hash.replace(/:/g, ''), 'hex');
  if (digest.length !== 32) throw new Error(`the answer's a=fingerprint is not a SHA-256: ${fingerprint.hash}`);
  const setup = video.setup ?? session.setup;
  if (setup !== 'passive') {
    throw new Error(`the answer says a=setup:${setup ?? '(none)'}; this generator is a DTLS client and needs passive`);
  }
  const candidates = (video.candidates ?? [])
    .filter((candidate) => candidate.transport.toLowerCase() === 'udp' && candidate.component === 1)
    .filter((candidate) => isIPv4(candidate.ip) && mayContact(candidate.ip))
    .sort((a, b) => b.priority - a.priority);
  const chosen = candidates[0];
  if (!chosen) {
    const offered = (video.candidates ?? []).map((candidate) => `${candidate.ip}:${candidate.port}`).join(', ');
    throw new Error(
      `the answer offers no UDP IPv4 candidate on loopback or the allowed addresses (it offers: ${offered || 'none'})`,
    );
  }
  // sdp-transform gives a lone payload type as a number, several as a string.
  const first = String(video.payloads ?? '').split(' ')[0];
  const codec = video.rtp.find((rtp) => String(rtp.payload) === first)?.codec ?? '?';
  return { ufrag, pwd, fingerprint: digest, address: chosen.ip, port: chosen.port, codec };
}
