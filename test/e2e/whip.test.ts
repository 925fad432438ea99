/**
 * WHIP ingest (issue #11 item 2) with werift publishers, as OBS or any WHIP client publishes: the HTTP
 * exchange (RFC 9725: 201/Location/ETag, Bearer token, PATCH, DELETE), the publisher's RTP reaching
 * viewers as is (no ffmpeg), keyframe requests forwarded and rate-limited, VP8 and H.264, a publisher
 * replaced, killed and back. The browser publisher (the /publish page, simulcast) is whip-browser.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { RtpPacket } from 'werift';
import {
  connectWeriftViewer, ffmpegChildrenOf, recentFps, sleep, startServer, tempDir, testOptions, vp8KeyframeSize, waitFor,
  type TestServer, type WeriftViewer,
} from './helpers.ts';
import { closePublishers, payloadHash, publishWithWerift, whipStats } from './publishers.ts';

const SDP = 'application/sdp';
const TOKEN = 'open sesame';

/** The size of the VP8 keyframes a viewer received last. */
function keyframeSizes(viewer: WeriftViewer): Array<string> {
  const sizes: string[] = [];
  viewer.rtpListeners.push((rtp: RtpPacket) => {
    const size = vp8KeyframeSize(rtp.payload);
    if (size) sizes.push(`${size.width}x${size.height}`);
  });
  return sizes;
}

/** Sends PLIs for the viewer's video, `count` of them `gapMs` apart. */
async function sendPlis(viewer: WeriftViewer, count: number, gapMs: number): Promise<void> {
  const video = viewer.pc.getTransceivers().find((transceiver) => transceiver.kind === 'video')!;
  const ssrc = Number(/^a=ssrc:(\d+)/m.exec(viewer.answerSdp)![1]);
  for (let i = 0; i < count; i++) {
    await video.receiver.sendRtcpPLI(ssrc);
    if (i < count - 1) await sleep(gapMs);
  }
}

describe('WHIP ingest over HTTP', { timeout: 60_000 }, () => {
  const data = tempDir();
  let server: TestServer;
  before(async () => {
    server = await startServer(testOptions(data.path, { source: 'whip', whipToken: TOKEN }));
  });
  after(async () => {
    await closePublishers();
    await server?.close();
    data.cleanup();
  });

  test('OPTIONS /whip says what it takes; /publish is the page that publishes, its script and style served', async () => {
    const agent = request(server.url);
    const options = await agent.options('/whip').expect(204);
    assert.equal(options.headers['accept-post'], SDP);
    const page = await agent.get('/publish').expect(200).expect('Content-Type', /html/);
    const config = /data-config="([^"]*)"/.exec(page.text)![1]!.replaceAll('&quot;', '"');
    assert.deepEqual(JSON.parse(config), { whipUrl: '/whip', iceServers: [], codec: 'vp8', tokenRequired: true });
    assert.doesNotMatch(page.text, /open sesame/, 'the token is never in the page');
    assert.doesNotMatch(page.text, /<script>(?!<\/)/, 'no inline script');
    await agent.get('/static/js/publish.js').expect(200).expect('Content-Type', /javascript/);
    await agent.get('/static/css/publish.css').expect(200);
  });

  test('the Bearer token: none or a wrong one → 401 with a challenge; then bad offers → 415, 400, 406', async () => {
    const agent = request(server.url);
    const offer = 'v=0\r\n';
    const missing = await agent.post('/whip').set('Content-Type', SDP).send(offer).expect(401);
    assert.match(missing.headers['www-authenticate']!, /^Bearer /);
    assert.match(missing.text, /send Authorization: Bearer/);
    await agent.post('/whip').set('Content-Type', SDP).set('Authorization', 'Bearer nope').send(offer).expect(401, 'wrong token');
    const auth = { Authorization: `Bearer ${TOKEN}` };
    await agent.post('/whip').set(auth).set('Content-Type', 'application/json').send('{}').expect(415);
    await agent.post('/whip').set(auth).set('Content-Type', SDP).send('hello').expect(400);
    // A publisher that offers only H.264 to a VP8 server: refused, naming the codec.
    await assert.rejects(publishWithWerift(`${server.url}/whip`, { token: TOKEN, offerCodec: 'h264' }), (error: Error & { status?: number }) => {
      assert.equal(error.status, 406);
      assert.match(error.message, /must send video\/VP8/);
      return true;
    });
    // A viewer's offer (recvonly) posted to the publisher's endpoint.
    const viewerOffer = await fetch(`${server.url}/whip`, {
      method: 'POST',
      headers: { 'Content-Type': SDP, ...auth },
      body: await recvonlyOffer(),
    });
    assert.equal(viewerOffer.status, 400);
    assert.match(await viewerOffer.text(), /video is recvonly, it sends nothing: WHIP publishes, WHEP \(\/whep\) watches/);
    assert.equal(whipStats(server).publisher, undefined, 'no publisher came of it');
  });

  test('201 with the answer, Location and ETag; PATCH trickles (204, 412); DELETE ends it (200, then 404)', async () => {
    const publisher = await publishWithWerift(`${server.url}/whip`, { token: TOKEN });
    assert.match(publisher.resourceUrl, new RegExp(`^${server.url}/whip/[0-9a-f-]{36}$`));
    assert.match(publisher.etag!, /^"[^"]+"$/);
    assert.match(publisher.answerSdp, /^v=0/);
    await publisher.connected;
    const path = new URL(publisher.resourceUrl).pathname;
    const agent = request(server.url);
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const local = publisher.pc.localDescription!.sdp;
    const line = (name: string) => new RegExp(`^a=${name}:(.*?)\\r?$`, 'm').exec(local)![1]!;
    const fragment = `a=ice-ufrag:${line('ice-ufrag')}\r\na=ice-pwd:${line('ice-pwd')}\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:${line('candidate')}\r\n`;
    await agent.patch(path).set(auth).set('Content-Type', 'application/trickle-ice-sdpfrag').send(fragment).expect(204);
    await agent.patch(path).set(auth).set('If-Match', '"other"').set('Content-Type', 'application/trickle-ice-sdpfrag').send(fragment).expect(412);
    await agent.delete(path).expect(401, /token/);
    await agent.delete('/whip/not-a-publication').set(auth).expect(404);
    assert.ok(await waitFor(() => server.rtc.stats().source.state === 'running', 5_000), 'its picture flows');
    await agent.delete(path).set(auth).expect(200);
    assert.equal(server.rtc.stats().source.state, 'waiting');
    assert.equal(whipStats(server).publisher, undefined);
    await agent.delete(path).set(auth).expect(404);
    await publisher.kill();
  });

  test('a server whose source is not whip has no /whip, nor /publish', async () => {
    const other = await startServer(testOptions(data.path));
    try {
      await request(other.url).post('/whip').set('Content-Type', SDP).send('v=0\r\n').expect(404);
      await request(other.url).get('/publish').expect(404);
    } finally {
      await other.close();
    }
  });
});

describe('WHIP ingest: the publisher\'s RTP to the viewers', { timeout: 90_000 }, () => {
  const data = tempDir();
  let server: TestServer;
  before(async () => {
    // gop 600: no keyframe is asked for on our own, so the requests counted are the viewers'.
    server = await startServer(testOptions(data.path, { source: 'whip', enableInfiniteFrames: true, gop: 600 }));
  });
  after(async () => {
    await closePublishers();
    await server?.close();
    data.cleanup();
  });

  test('a viewer may come first (answered at once); video and Opus as published, at ≥ 25 fps, no ffmpeg', async () => {
    const started = performance.now();
    const early = await connectWeriftViewer(`${server.url}/whep`, 'vp8', { whep: true, audio: true });
    assert.ok(performance.now() - started < 2_000, 'no wait for a publisher');
    assert.equal(server.rtc.stats().source.state, 'waiting');
    const publisher = await publishWithWerift(`${server.url}/whip`, { audio: true, size: [640, 360] });
    const late = await connectWeriftViewer(`${server.url}/offer`);
    try {
      await Promise.all([early.connected, late.connected, publisher.connected]);
      assert.ok(await waitFor(() => early.frames >= 60 && late.frames >= 60 && early.audioPackets >= 50, 10_000),
        `frames ${early.frames}/${late.frames}, audio ${early.audioPackets}`);
      const fps = [recentFps(early.frameTimes, 2_000), recentFps(late.frameTimes, 2_000)];
      assert.ok(fps.every((rate) => rate >= 25), `${fps.map((rate) => rate.toFixed(1))} fps`);
      const { source } = server.rtc.stats();
      assert.equal(source.state, 'running');
      assert.equal(source.transcoding, false);
      assert.deepEqual(source.renditions.map(({ width, height }) => `${width}x${height}`), ['640x360', '640x360', '640x360'],
        'one layer: every rung of the ladder carries it');
      assert.deepEqual(source.webrtc?.layers.map(({ id, width, height, streams }) => ({ id, width, height, streams })),
        [{ id: 'video', width: 640, height: 360, streams: [0, 1, 2] }]);
      assert.ok(source.audio && source.audio.packets > 0, 'the Opus is counted');
      assert.deepEqual(ffmpegChildrenOf(), [], 'no ffmpeg runs: the RTP goes as is');
    } finally {
      await Promise.all([early.close(), late.close()]);
      await publisher.close();
    }
  });

  test("viewers' keyframe requests reach the publisher, at most one per layer per 500 ms", async () => {
    const publisher = await publishWithWerift(`${server.url}/whip`);
    const viewers = await Promise.all([1, 2, 3].map(() => connectWeriftViewer(`${server.url}/whep`, 'vp8', { whep: true })));
    try {
      await Promise.all([publisher.connected, ...viewers.map((viewer) => viewer.connected)]);
      assert.ok(await waitFor(() => viewers.every((viewer) => viewer.frames >= 10), 8_000));
      await sleep(600);
      const before = publisher.plis.length;
      const counted = whipStats(server).keyframeRequests;
      // Three viewers lose their picture at once (each viewer's sender passes one request per 250 ms).
      await Promise.all(viewers.map((viewer) => sendPlis(viewer, 2, 20)));
      assert.ok(await waitFor(() => publisher.plis.length > before, 2_000), 'the first one is forwarded');
      await sleep(300);
      assert.equal(publisher.plis.length - before, 1, 'the others within 500 ms are not');
      await sleep(700); // past 500 ms after the one forwarded, however late it went out
      await sendPlis(viewers[0]!, 1, 0);
      assert.ok(await waitFor(() => publisher.plis.length - before === 2, 2_000), 'a later one is');
      const requests = whipStats(server).keyframeRequests;
      assert.equal(requests.sent - counted.sent, 2);
      assert.ok(requests.suppressed - counted.suppressed >= 2, `held back: ${requests.suppressed - counted.suppressed}`);
    } finally {
      await Promise.all(viewers.map((viewer) => viewer.close()));
      await publisher.close();
    }
  });

  test('a new publisher replaces the current one; a killed one is "No Input", then the next one is back', async () => {
    const publications = whipStats(server).publications;
    const viewer = await connectWeriftViewer(`${server.url}/whep`, 'vp8', { whep: true });
    const sizes = keyframeSizes(viewer);
    const first = await publishWithWerift(`${server.url}/whip`, { size: [640, 360] });
    await Promise.all([viewer.connected, first.connected]);
    assert.ok(await waitFor(() => sizes.includes('640x360') && viewer.frames >= 20, 8_000), 'the first publisher is seen');

    const second = await publishWithWerift(`${server.url}/whip`, { size: [480, 272] });
    await second.connected;
    assert.ok(await waitFor(() => sizes.includes('480x272'), 15_000), 'the second one is seen, on the same viewer connection');
    const gone = await fetch(first.resourceUrl, { method: 'DELETE' });
    assert.equal(gone.status, 404, 'the first publication ended when it was replaced');
    assert.equal(whipStats(server).publications, publications + 2);

    // Killed: no DELETE; its connection just stops.
    await second.kill();
    assert.ok(await waitFor(() => server.rtc.stats().source.state === 'waiting', 8_000), 'the source says it waits');
    assert.ok(await waitFor(() => server.rtc.stats().source.slate === 'No Input', 5_000), '"No Input" is shown');
    const onSlate = viewer.frames;
    await sleep(1_500);
    assert.ok(viewer.frames - onSlate >= 30, `the viewer keeps getting pictures (${viewer.frames - onSlate} frames of the slate)`);

    const third = await publishWithWerift(`${server.url}/whip`, { size: [320, 240] });
    await third.connected;
    assert.ok(await waitFor(() => sizes.at(-1) === '320x240', 8_000), `the viewer sees the new publisher by itself (${sizes.slice(-3)})`);
    assert.equal(server.rtc.stats().source.state, 'running');
    assert.equal(server.rtc.stats().source.slate, undefined);
    const back = viewer.frames;
    await sleep(1_000);
    assert.ok(viewer.frames - back >= 25, `${viewer.frames - back} frames in the second after`);
    await viewer.close();
    await third.close();
  });
});

describe('WHIP ingest from a publisher that loses packets', { timeout: 60_000 }, () => {
  const data = tempDir();
  after(async () => {
    await closePublishers();
    data.cleanup();
  });

  test('3 % lost on the way: every frame a viewer gets is whole and in order (holes filled by NACK, or skipped to a keyframe)', async () => {
    const server = await startServer(testOptions(data.path, { source: 'whip' }));
    const publisher = await publishWithWerift(`${server.url}/whip`, { size: [640, 360], bitrate: 1_500_000, lossPercent: 3 });
    const viewer = await connectWeriftViewer(`${server.url}/whep`, 'vp8', { whep: true });
    try {
      // The frames the viewer receives, as the payloads of their packets in arrival order.
      const received: Array<{ payloads: string[]; whole: boolean }> = [];
      let current: { timestamp: number; payloads: string[]; whole: boolean } | undefined;
      viewer.rtpListeners.push((rtp) => {
        if (current?.timestamp !== rtp.header.timestamp) {
          if (current) received.push(current);
          current = { timestamp: rtp.header.timestamp, payloads: [], whole: false };
        }
        current.payloads.push(payloadHash(rtp.payload));
        current.whole = rtp.header.marker;
      });
      await Promise.all([publisher.connected, viewer.connected]);
      assert.ok(await waitFor(() => received.length >= 150, 20_000), `${received.length} frames`);
      const clip = new Map(publisher.frames.map((frame) => [frame[0]!, frame]));
      const broken = received.filter(({ payloads, whole }) => {
        const sent = clip.get(payloads[0]!);
        if (!sent) return true; // starts with a packet that starts no frame: a frame's head was lost
        // A frame cut short (a hole given up) may come without its end; never with a hole or another's packet.
        const prefix = payloads.every((payload, i) => payload === sent[i]);
        return !prefix || (whole && payloads.length !== sent.length);
      });
      const { losses } = whipStats(server);
      assert.equal(broken.length, 0, `${broken.length} of ${received.length} frames with a hole or out of order (${JSON.stringify(losses)})`);
      assert.ok(losses.recovered + losses.givenUp > 0, `packets were lost on the way: ${JSON.stringify(losses)}`);
      console.log(`3 % loss: ${received.length} frames, all whole; holes ${JSON.stringify(losses)}`);
    } finally {
      await viewer.close();
      await publisher.close();
      await server.close();
    }
  });
});

describe('WHIP ingest: H.264', { timeout: 60_000 }, () => {
  const data = tempDir();
  after(async () => {
    await closePublishers();
    data.cleanup();
  });

  test('an H.264 publisher to an H.264 server: its keyframes found (SPS), its picture to a viewer', async () => {
    const server = await startServer(testOptions(data.path, { source: 'whip', codec: 'h264' }));
    const publisher = await publishWithWerift(`${server.url}/whip`, { codec: 'h264', size: [640, 360] });
    const viewer = await connectWeriftViewer(`${server.url}/whep`, 'h264', { whep: true });
    try {
      await Promise.all([publisher.connected, viewer.connected]);
      assert.ok(await waitFor(() => viewer.frames >= 60, 20_000), `${viewer.frames} frames`);
      const [layer] = server.rtc.stats().source.webrtc!.layers;
      assert.deepEqual([layer!.width, layer!.height], [640, 360], 'the size from the SPS');
      assert.ok(recentFps(viewer.frameTimes, 2_000) >= 25);
    } finally {
      await viewer.close();
      await publisher.close();
      await server.close();
    }
  });
});

/** A recvonly offer, as a WHEP player would make. */
async function recvonlyOffer(): Promise<string> {
  const { RTCPeerConnection } = await import('werift');
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver('video', { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  const sdp = pc.localDescription!.sdp;
  await pc.close();
  return sdp;
}
