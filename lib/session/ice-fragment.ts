import { SignalingError } from '../errors.ts';

/** One trickled candidate, as `RTCPeerConnection.addIceCandidate()` takes it. */
export interface TrickledCandidate {
  candidate: string;
  sdpMid: string | undefined;
}

/** What a WHEP `PATCH` body (`application/trickle-ice-sdpfrag`, RFC 8840) carries. */
export interface IceFragment {
  iceUfrag: string | undefined;
  icePwd: string | undefined;
  candidates: TrickledCandidate[];
  endOfCandidates: boolean;
}

/** The largest fragment accepted: a few dozen candidates are a few KB. */
const MAX_CANDIDATES = 64;

/**
 * Reads a trickle-ICE SDP fragment: the session's `a=ice-ufrag`/`a=ice-pwd`, then per `m=` section its
 * `a=mid` and `a=candidate` lines. Throws a 400 SignalingError for a body that is not one.
 */
export function parseIceFragment(body: string): IceFragment {
  const fragment: IceFragment = { iceUfrag: undefined, icePwd: undefined, candidates: [], endOfCandidates: false };
  let mid: string | undefined;
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('m=')) {
      mid = undefined;
    } else if (line.startsWith('a=mid:')) {
      mid = line.slice('a=mid:'.length);
    } else if (line.startsWith('a=ice-ufrag:')) {
      fragment.iceUfrag = line.slice('a=ice-ufrag:'.length);
    } else if (line.startsWith('a=ice-pwd:')) {
      fragment.icePwd = line.slice('a=ice-pwd:'.length);
    } else if (line.startsWith('a=candidate:')) {
      fragment.candidates.push({ candidate: line.slice('a='.length), sdpMid: mid });
    } else if (line === 'a=end-of-candidates') {
      fragment.endOfCandidates = true;
    } else if (!/^[a-z]=/.test(line)) {
      throw new SignalingError(400, `not a trickle-ICE SDP fragment: ${JSON.stringify(line.slice(0, 40))}`);
    }
  }
  if (fragment.candidates.length > MAX_CANDIDATES) {
    throw new SignalingError(400, `too many candidates in one fragment (${fragment.candidates.length}; at most ${MAX_CANDIDATES})`);
  }
  return fragment;
}

/** The `a=ice-ufrag` of an SDP (the first one: bundled sections share it). */
export function iceUfragOf(sdp: string): string | undefined {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];
}
