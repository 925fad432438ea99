import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildRtpPacket, sequenceNumberOf, ssrcOf } from '../../../../../lib/rtp/rtp-packet.ts';
import { vp8KeyframeSize } from '../../../../../lib/rtp/rtp-payload.ts';
import { INACTIVE_MS, LayerRouter } from '../../../../../lib/source/webrtc/layer-router.ts';

/**
 * A one-packet VP8 frame as a browser's encoder sends it: the payload descriptor (S=1, partition 0), then
 * a keyframe's header (frame tag, start code, 14-bit sizes) or an interframe's tag.
 */
function vp8Frame(ssrc: number, seq: number, keyframe: boolean, [width, height] = [1280, 720]): Buffer {
  const payload = Buffer.alloc(24);
  payload[0] = 0x10;
  payload[1] = keyframe ? 0x00 : 0x01; // frame tag: bit 0 clear on a keyframe
  if (keyframe) {
    payload.set([0x9d, 0x01, 0x2a], 4);
    payload.writeUInt16LE(width, 7);
    payload.writeUInt16LE(height, 9);
  }
  return buildRtpPacket({ marker: true, payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc }, payload);
}

const SIZES = { h: [1280, 720], m: [640, 360], l: [320, 180] } as const;
const SSRCS = { h: 1, m: 2, l: 3 } as const;
type Rid = keyof typeof SIZES;

function router(streams = 3, gop = 0) {
  const delivered: Array<{ stream: number; packet: Buffer }> = [];
  const requests: number[] = [];
  const layers = new LayerRouter({
    codec: 'vp8',
    streams,
    gop,
    deliver: (stream, packet) => delivered.push({ stream, packet }),
    requestKeyframe: (ssrc) => requests.push(ssrc),
  });
  let seq = 0;
  const send = (rid: Rid, keyframe: boolean, now: number) => layers.push(rid, vp8Frame(SSRCS[rid], seq++, keyframe, [...SIZES[rid]]), now);
  /** Per stream: the RID of the layer each delivered packet came from, in order. */
  const fed = () => Array.from({ length: streams }, (_, stream) =>
    delivered.filter((entry) => entry.stream === stream).map((entry) => (Object.keys(SSRCS) as Rid[]).find((rid) => SSRCS[rid] === ssrcOf(entry.packet))));
  return { layers, delivered, requests, send, fed };
}

describe('LayerRouter', () => {
  test('one layer: nothing before its first keyframe (a keyframe is asked for), then every stream from it', () => {
    const { layers, delivered, requests, send, fed } = router();
    assert.equal(send('h', false, 0), false);
    assert.deepEqual(requests, [SSRCS.h], 'a layer without a keyframe is asked for one');
    assert.equal(send('h', true, 10), true);
    send('h', false, 20);
    assert.deepEqual(fed(), [['h', 'h'], ['h', 'h'], ['h', 'h']]);
    // Each stream gets a buffer of its own (an IngestStream rewrites it in place).
    const keyframes = delivered.slice(0, 3).map((entry) => entry.packet);
    assert.equal(new Set(keyframes).size, 3);
    assert.deepEqual(layers.stats().map(({ id, width, height, streams }) => ({ id, width, height, streams })), [
      { id: 'h', width: 1280, height: 720, streams: [0, 1, 2] },
    ]);
  });

  test('simulcast arriving lowest first: the streams take the layers top first, each at its keyframe', () => {
    const { layers, send, fed, requests } = router();
    send('l', true, 0); // the browser starts with its lowest layer: every stream shows it
    send('l', false, 10);
    send('m', true, 20); // stream 0 takes m at once (this is its keyframe)
    send('l', false, 30);
    send('m', false, 40);
    send('h', false, 50); // h without a keyframe yet: nothing changes
    send('h', true, 60); // stream 0 → h, stream 1 → m at m's next keyframe
    send('m', false, 70);
    send('l', false, 80);
    send('m', true, 90);
    send('h', false, 100);
    assert.deepEqual(fed(), [
      ['l', 'l', 'm', 'm', 'h', 'h'],
      ['l', 'l', 'l', 'l', 'm'],
      ['l', 'l', 'l', 'l'],
    ]);
    assert.ok(requests.includes(SSRCS.m), 'the layer a stream waits for is asked for a keyframe');
    assert.deepEqual(layers.stats().map(({ id, streams }) => [id, streams]), [['l', [2]], ['m', [1]], ['h', [0]]]);
  });

  test('a layer that goes silent is left: its streams take the next best from its keyframe', () => {
    const { layers, send, fed, requests } = router(2);
    send('h', true, 0);
    send('l', true, 10);
    send('l', false, INACTIVE_MS - 100);
    layers.sample(INACTIVE_MS + 10); // h silent since 0
    requests.length = 0;
    send('l', false, INACTIVE_MS + 20);
    assert.deepEqual(fed()[0], ['h'], 'stream 0 waits for l\'s keyframe');
    layers.sample(INACTIVE_MS + 1_000);
    assert.deepEqual(requests, [SSRCS.l], 'asked for');
    send('l', true, INACTIVE_MS + 1_100);
    assert.deepEqual(fed()[0], ['h', 'l']);
    // h back: used again only from its keyframe.
    send('h', false, INACTIVE_MS + 1_200);
    send('h', true, INACTIVE_MS + 1_300);
    assert.deepEqual(fed()[0], ['h', 'l', 'h']);
  });

  test("viewers' keyframe requests: one per layer per 500 ms", () => {
    const { layers, send, requests } = router(1);
    send('h', true, 0);
    for (const now of [100, 150, 200, 550]) layers.requestKeyframe(0, now);
    layers.requestKeyframe(0, 700);
    assert.deepEqual(requests, [SSRCS.h, SSRCS.h]);
    assert.deepEqual(layers.keyframeRequests, { sent: 2, suppressed: 3 });
  });

  test('gop: a layer that sent more than gop frames since its keyframe is asked for one', () => {
    const { send, requests } = router(1, 3);
    send('h', true, 0);
    for (let frame = 1; frame <= 2; frame++) send('h', false, frame * 33);
    assert.deepEqual(requests, [], 'a source with keyframes every gop frames is never asked');
    send('h', false, 100);
    send('h', false, 133);
    assert.deepEqual(requests, [SSRCS.h]);
  });

  test('a new sender (reset): the streams wait for its keyframes; a restarted encoding (new SSRC) too', () => {
    const { layers, send, fed, delivered } = router(1);
    send('h', true, 0);
    layers.reset();
    send('h', false, 10);
    send('h', true, 20);
    assert.deepEqual(fed()[0], ['h', 'h']);
    // Same RID, another SSRC: deltas of the new encoder are not mixed in.
    layers.push('h', vp8Frame(99, 500, false), 30);
    layers.push('h', vp8Frame(99, 501, true), 40);
    assert.deepEqual(delivered.map((entry) => [ssrcOf(entry.packet), sequenceNumberOf(entry.packet)]), [[1, 0], [1, 2], [99, 501]]);
  });

  test('the sizes it orders by are the keyframes\' (VP8 header)', () => {
    assert.deepEqual(vp8KeyframeSize(vp8Frame(1, 0, true, [640, 360]).subarray(12)), { width: 640, height: 360 });
  });
});
