/**
 * The body of a WHIP `PATCH` that trickles candidates (`application/trickle-ice-sdpfrag`, RFC 8840 as
 * RFC 9725 §4.3.1 uses it): the session's ICE credentials, then one media section (the bundle's first, whose
 * transport every section shares) with its `a=mid`, the candidates and, when gathering is over,
 * `a=end-of-candidates`.
 */

/** What a fragment needs from the local offer: its ICE credentials and the first media section's mid. */
export interface OfferIce {
  ufrag: string;
  pwd: string;
  mid: string;
  /** The first media section's kind (`video`, `audio`). */
  kind: string;
}

/** The ICE credentials and first mid of an SDP offer, or undefined when it lacks one of them. */
export function offerIceOf(sdp: string): OfferIce | undefined {
  const ufrag = /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];
  const pwd = /^a=ice-pwd:(\S+)/m.exec(sdp)?.[1];
  const mid = /^a=mid:(\S+)/m.exec(sdp)?.[1];
  const kind = /^m=(\w+) /m.exec(sdp)?.[1];
  return ufrag && pwd && mid && kind ? { ufrag, pwd, mid, kind } : undefined;
}

/** A fragment with `candidates` (`candidate:…` strings, with or without `a=`), and the end mark if `end`. */
export function candidateFragment(ice: OfferIce, candidates: readonly string[], end: boolean): string {
  const lines = [
    `a=ice-ufrag:${ice.ufrag}`,
    `a=ice-pwd:${ice.pwd}`,
    `m=${ice.kind} 9 UDP/TLS/RTP/SAVPF 0`,
    `a=mid:${ice.mid}`,
    ...candidates.map((candidate) => `a=${candidate.replace(/^a=/, '')}`),
    ...(end ? ['a=end-of-candidates'] : []),
  ];
  return `${lines.join('\r\n')}\r\n`;
}
