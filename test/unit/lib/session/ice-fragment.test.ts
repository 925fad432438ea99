import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SignalingError } from '../../../../lib/errors.ts';
import { iceUfragOf, parseIceFragment } from '../../../../lib/session/ice-fragment.ts';

const candidate = (n: number, address = '192.0.2.10') => `candidate:${n} 1 udp ${2_122_260_223 - n} ${address} ${50_000 + n} typ host`;

/** Expects a 400 SignalingError whose message matches. */
function rejects(body: string, message: RegExp) {
  assert.throws(() => parseIceFragment(body), (error: unknown) => {
    assert.ok(error instanceof SignalingError, String(error));
    assert.equal(error.status, 400);
    assert.equal(error.expose, true);
    assert.match(error.message, message);
    return true;
  });
}

describe('parseIceFragment (RFC 8840 trickle-ICE SDP fragments)', () => {
  test("RFC 8840's example fragment: session ufrag/pwd, a media section with its mid and a candidate", () => {
    const body = [
      'a=ice-options:trickle ice2',
      'a=group:BUNDLE 1',
      'a=ice-ufrag:EsAw',
      'a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1',
      'm=audio 9 RTP/AVP 0',
      'a=mid:1',
      'a=candidate:1 1 UDP 2130706431 198.51.100.1 39132 typ host',
      '',
    ].join('\r\n');
    assert.deepEqual(parseIceFragment(body), {
      iceUfrag: 'EsAw',
      icePwd: 'P2uYro0UCOQ4zxjKXaWCBui1',
      candidates: [{ candidate: 'candidate:1 1 UDP 2130706431 198.51.100.1 39132 typ host', sdpMid: '1' }],
      endOfCandidates: false,
    });
  });

  test('candidates take the mid of their own section; a section without a=mid has none', () => {
    const body = [
      'a=ice-ufrag:abcd', 'a=ice-pwd:0123456789abcdefghijkl',
      'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:0', `a=${candidate(1)}`, `a=${candidate(2)}`,
      'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:audio', `a=${candidate(3)}`,
      'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', `a=${candidate(4)}`,
    ].join('\n'); // bare LF accepted too
    assert.deepEqual(parseIceFragment(body).candidates, [
      { candidate: candidate(1), sdpMid: '0' },
      { candidate: candidate(2), sdpMid: '0' },
      { candidate: candidate(3), sdpMid: 'audio' },
      { candidate: candidate(4), sdpMid: undefined },
    ]);
  });

  test('candidates before any m= line have no mid', () => {
    assert.deepEqual(parseIceFragment(`a=${candidate(1)}\r\n`).candidates, [{ candidate: candidate(1), sdpMid: undefined }]);
  });

  test('a=end-of-candidates, alone or after candidates', () => {
    assert.deepEqual(parseIceFragment('a=ice-ufrag:x\r\na=ice-pwd:y\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=end-of-candidates\r\n'), {
      iceUfrag: 'x', icePwd: 'y', candidates: [], endOfCandidates: true,
    });
    const both = parseIceFragment(`m=video 9 RTP/AVP 0\r\na=mid:0\r\na=${candidate(1)}\r\na=end-of-candidates\r\n`);
    assert.equal(both.candidates.length, 1);
    assert.equal(both.endOfCandidates, true);
  });

  test('an empty body, blank lines and surrounding spaces are fine; other SDP lines are ignored', () => {
    assert.deepEqual(parseIceFragment(''), { iceUfrag: undefined, icePwd: undefined, candidates: [], endOfCandidates: false });
    const fragment = parseIceFragment(`\r\n  a=ice-ufrag:u1  \r\n\r\nc=IN IP4 0.0.0.0\r\na=ice-options:trickle\r\nm=video 9 RTP/AVP 0\r\nb=AS:500\r\n a=${candidate(7)}\r\n`);
    assert.equal(fragment.iceUfrag, 'u1');
    assert.deepEqual(fragment.candidates, [{ candidate: candidate(7), sdpMid: undefined }]);
  });

  test('garbage is a 400', () => {
    rejects('hello world', /^not a trickle-ICE SDP fragment: "hello world"$/);
    rejects('{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0"}', /not a trickle-ICE SDP fragment: "\{\\"candidate\\":\\"candidate:1 1 udp 1 1.2/);
    rejects('a=ice-ufrag:x\r\n<html>', /"<html>"/);
    rejects('A=candidate:1', /not a trickle-ICE SDP fragment/);
    rejects(`a=ice-ufrag:x\r\n${'x'.repeat(100)}`, new RegExp(`"${'x'.repeat(40)}"$`));
  });

  test('at most 64 candidates in one fragment', () => {
    const lines = (count: number) => ['m=video 9 RTP/AVP 0', 'a=mid:0', ...Array.from({ length: count }, (_, i) => `a=${candidate(i)}`)].join('\r\n');
    assert.equal(parseIceFragment(lines(64)).candidates.length, 64);
    rejects(lines(65), /^too many candidates in one fragment \(65; at most 64\)$/);
  });
});

describe('iceUfragOf', () => {
  test('the first a=ice-ufrag of an SDP', () => {
    const sdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:Ab+/1\r\na=ice-pwd:x\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:second\r\n';
    assert.equal(iceUfragOf(sdp), 'Ab+/1');
    assert.equal(iceUfragOf('v=0\r\ns=-\r\n'), undefined);
    assert.equal(iceUfragOf('x a=ice-ufrag:notAtLineStart'), undefined);
  });
});
