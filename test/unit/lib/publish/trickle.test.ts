import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { candidateFragment, offerIceOf } from '../../../../lib/publish/trickle.ts';
import { parseIceFragment } from '../../../../lib/session/ice-fragment.ts';

const OFFER = [
  'v=0', 'o=- 1 0 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=group:BUNDLE 0 1',
  'm=video 9 UDP/TLS/RTP/SAVPF 97', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:1792', 'a=ice-pwd:ad6c7c496ecd773ab37676', 'a=mid:0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:1792', 'a=ice-pwd:ad6c7c496ecd773ab37676', 'a=mid:1', '',
].join('\r\n');

describe('trickled candidates (RFC 8840 fragments for a WHIP PATCH)', () => {
  test("offerIceOf: the offer's ICE credentials and its first section's mid and kind", () => {
    assert.deepEqual(offerIceOf(OFFER), { ufrag: '1792', pwd: 'ad6c7c496ecd773ab37676', mid: '0', kind: 'video' });
    assert.equal(offerIceOf(OFFER.replace(/a=mid:.*\r\n/g, '')), undefined);
  });

  test('candidateFragment reads back as the candidates of the bundle\'s first section, CRLF line ends', () => {
    const ice = offerIceOf(OFFER)!;
    const candidates = ['candidate:1 1 udp 2116026367 10.231.7.1 51693 typ host', 'a=candidate:2 1 udp 1685987071 198.51.100.7 40000 typ srflx raddr 10.231.7.1 rport 51693'];
    const body = candidateFragment(ice, candidates, false);
    assert.ok(body.endsWith('\r\n') && !/[^\r]\n/.test(body), 'CRLF');
    assert.deepEqual(parseIceFragment(body), {
      iceUfrag: '1792',
      icePwd: 'ad6c7c496ecd773ab37676',
      candidates: [
        { candidate: candidates[0], sdpMid: '0' },
        { candidate: candidates[1]!.slice(2), sdpMid: '0' },
      ],
      endOfCandidates: false,
    });
    assert.match(body, /^m=video 9 /m);
  });

  test('the end of gathering: a=end-of-candidates, with or without candidates', () => {
    const fragment = parseIceFragment(candidateFragment(offerIceOf(OFFER)!, [], true));
    assert.deepEqual(fragment.candidates, []);
    assert.equal(fragment.endOfCandidates, true);
  });
});
