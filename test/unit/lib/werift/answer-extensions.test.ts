/**
 * werift patch 015 (patches/werift+0.25.2+015+answer-extensions.patch): an answer carries only the RTP header
 * extensions its offer had. The server configures transport-cc; before the patch, a viewer whose offer had
 * no extensions (the bench's load generator; WHEP players without a congestion controller) was answered
 * with a=extmap for it anyway, sent packets carrying it, and kept on the JavaScript send path for 3 s waiting
 * for feedback that could not come. Both builds, driven as lib/session/viewer.ts drives werift: the remote
 * offer, addTrack(), then createAnswer().
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { write } from 'sdp-transform';
import * as bundle from 'werift';

const require = createRequire(import.meta.url);
const commonJs = require('werift') as typeof bundle;
const TRANSPORT_WIDE_CC = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';
const SDES_MID = 'urn:ietf:params:rtp-hdrext:sdes:mid';

/** A browser's receive-only VP8 offer, with these header extensions (id, uri). */
function offer(extensions: Array<[number, string]>): string {
  return write({
    version: 0,
    origin: { username: '-', sessionId: 1, sessionVersion: 2, netType: 'IN', ipVer: 4, address: '127.0.0.1' },
    name: '-',
    timing: { start: 0, stop: 0 },
    groups: [{ type: 'BUNDLE', mids: '0' }],
    media: [{
      type: 'video', port: 9, protocol: 'UDP/TLS/RTP/SAVPF', payloads: '96',
      connection: { version: 4, ip: '127.0.0.1' },
      rtp: [{ payload: 96, codec: 'VP8', rate: 90000 }], fmtp: [],
      ext: extensions.map(([value, uri]) => ({ value, uri })),
      iceUfrag: 'abcd', icePwd: 'abcdefghijklmnopqrstuvwx',
      fingerprint: { type: 'sha-256', hash: Array(32).fill('AB').join(':') },
      setup: 'actpass', mid: '0', direction: 'recvonly', rtcpMux: 'rtcp-mux',
    }],
  });
}

async function answerTo(werift: typeof bundle, offerSdp: string) {
  const pc = new werift.RTCPeerConnection({ iceServers: [], headerExtensions: { video: [werift.useTransportWideCC()], audio: [] } });
  try {
    await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    const track = new werift.MediaStreamTrack({ kind: 'video' });
    pc.addTrack(track, new werift.MediaStream([track]));
    const answer = await pc.createAnswer();
    return {
      extmaps: answer.sdp.split('\r\n').filter((line) => line.startsWith('a=extmap:')),
      negotiated: pc.getTransceivers()[0]!.headerExtensions.map(({ id, uri }) => [id, uri]),
    };
  } finally {
    await pc.close();
  }
}

for (const [name, werift] of [['ESM bundle', bundle], ['CommonJS', commonJs]] as const) {
  test(`${name}: an offer without header extensions gets an answer without any, and nothing is negotiated`, async () => {
    assert.equal((werift.RTCPeerConnection as unknown as { patchAnswerExtensions?: boolean }).patchAnswerExtensions, true);
    assert.deepEqual(await answerTo(werift, offer([])), { extmaps: [], negotiated: [] });
  });

  test(`${name}: an offer with transport-cc gets it back under the offer's id; one this side does not use is left out`, async () => {
    assert.deepEqual(await answerTo(werift, offer([[3, TRANSPORT_WIDE_CC], [4, SDES_MID]])), {
      extmaps: [`a=extmap:3 ${TRANSPORT_WIDE_CC}`],
      negotiated: [[3, TRANSPORT_WIDE_CC]],
    });
  });
}
