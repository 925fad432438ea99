/**
 * `publish`: the stream pushed by WHIP into a real ingest nobody here wrote: Debian's Janus behind
 * Meetecho's simple-whip-server (test/support/janus/), in a network namespace of its own. A subscriber
 * joining Janus's VideoRoom (werift, through Janus's HTTP API) gets the frames; the endpoint killed and
 * started again is published to again without help. Needs root and test/support/janus/install.sh.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import type { PublishStats } from '../../lib/publish/publisher.ts';
import { JanusEndpoint, janusSkipReason, ROOM } from '../support/janus/janus-endpoint.ts';
import { JanusSubscriber } from '../support/janus/janus-subscriber.ts';
import { DIRECT_SEND_PATH, sleep, startServer, tempDir, testOptions, waitFor, type TestServer } from './helpers.ts';

const ENDPOINT_ID = 'webgear';
const TOKEN = 'let-me-publish';

/**
 * A subscriber's frame rate over `measureMs`, a second after its first frames arrived, and the source's
 * over the same window (a loaded machine's ffmpeg may deliver fewer: then the failure says so).
 */
async function watch(endpoint: JanusEndpoint, server: TestServer, measureMs = 5_000): Promise<{ fps: number; frames: number; sourceFps: number }> {
  const subscriber = await JanusSubscriber.join(endpoint.apiUrl, ROOM, 10_000);
  try {
    assert.ok(await waitFor(() => subscriber.frames.times.length >= 10, 10_000), 'the subscriber gets frames');
    await sleep(1_000);
    const sourceFrames = server.rtc.stats().source.frames;
    await sleep(measureMs);
    const sourceFps = ((server.rtc.stats().source.frames - sourceFrames) * 1000) / measureMs;
    return { fps: subscriber.fps(measureMs), frames: subscriber.frames.times.length, sourceFps };
  } finally {
    await subscriber.close();
  }
}

const publishOf = (server: TestServer): PublishStats => server.rtc.stats().publish!;

describe('publish: WHIP push to Janus behind simple-whip-server', { skip: janusSkipReason(), timeout: 150_000 }, () => {
  const data = tempDir();
  let endpoint: JanusEndpoint;
  let server: TestServer;

  before(async () => {
    endpoint = await JanusEndpoint.start(ENDPOINT_ID, TOKEN);
    server = await startServer(testOptions(data.path, {
      publish: { url: endpoint.whipUrl(ENDPOINT_ID), token: TOKEN },
      metrics: true,
      logging: !!process.env.WEBGEAR_TEST_LOG,
    }));
  });
  after(async () => {
    await server?.close();
    await endpoint?.close();
    data.cleanup();
  });

  test('a VideoRoom subscriber gets the frames at ≥ 25 fps; its PLI is answered; /stats and /metrics say so', async () => {
    assert.ok(await waitFor(() => publishOf(server).state === 'connected', 20_000),
      `publishes: ${JSON.stringify(publishOf(server))}\n${endpoint.whipLog()}`);
    const { fps, frames, sourceFps } = await watch(endpoint, server);
    console.log(`VideoRoom subscriber: ${fps.toFixed(1)} fps (the source: ${sourceFps.toFixed(1)}); publish: ${JSON.stringify(publishOf(server))}`);
    assert.ok(fps >= 25, `the subscriber gets ≥ 25 fps (got ${fps.toFixed(1)}, ${frames} frames; the source delivered ${sourceFps.toFixed(1)} fps)`);

    const publish = publishOf(server);
    assert.equal(publish.url, endpoint.whipUrl(ENDPOINT_ID));
    assert.equal(publish.sendPath, DIRECT_SEND_PATH, 'the viewers\' send path');
    assert.ok(publish.connectedAt! <= Date.now() && publish.packetsSent > 100 && publish.bytesSent > 50_000, JSON.stringify(publish));
    // Janus asks the publisher for a keyframe when a subscriber starts: the GOP is replayed, as for a viewer.
    assert.ok(publish.pliCount >= 1 && publish.video!.keyframeRequests >= 1, `a PLI was answered: ${JSON.stringify(publish)}`);
    // Janus sends transport-wide feedback: the publisher has an estimate, and the link carries the top rendition.
    assert.ok(publish.estimate! > 0, `an estimate: ${JSON.stringify(publish)}`);
    assert.ok(await waitFor(() => publishOf(server).rendition === 0, 10_000), `the top rendition: ${JSON.stringify(publishOf(server))}`);

    const stats = (await (await fetch(`${server.url}/stats`)).json()) as { publish: PublishStats; viewers: unknown[] };
    assert.equal(stats.publish.state, 'connected');
    assert.deepEqual(stats.viewers, [], 'the publisher is no viewer');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^webgear_rtc_publish_state\{state="connected"\} 1$/m);
  });

  test('the endpoint killed and started again: the publisher reconnects by itself', async () => {
    const restartsBefore = publishOf(server).restarts;
    await endpoint.killServers();
    const killedAt = performance.now();
    // No goodbye from a killed Janus: its silence (RTCP, ICE consent) ends the session.
    assert.ok(await waitFor(() => publishOf(server).state !== 'connected', 15_000), 'the lost endpoint is noticed');
    console.log(`the lost endpoint noticed after ${Math.round(performance.now() - killedAt)} ms: ${publishOf(server).lastError}`);
    await sleep(2_000); // a few attempts fail meanwhile: connection refused
    assert.ok(publishOf(server).lastError, 'why it is not connected');
    const restartedAt = performance.now();
    await endpoint.startServers(ENDPOINT_ID, TOKEN);
    assert.ok(await waitFor(() => publishOf(server).state === 'connected', 40_000),
      `connected again: ${JSON.stringify(publishOf(server))}\n${endpoint.whipLog()}`);
    console.log(`published again ${Math.round(performance.now() - restartedAt)} ms after the endpoint was started again (restarts: ${publishOf(server).restarts})`);
    assert.ok(publishOf(server).restarts > restartsBefore);
    const { fps, frames, sourceFps } = await watch(endpoint, server);
    console.log(`VideoRoom subscriber after the restart: ${fps.toFixed(1)} fps (the source: ${sourceFps.toFixed(1)}); publish video: ${JSON.stringify(publishOf(server).video)}`);
    assert.ok(fps >= 25, `after the restart ≥ 25 fps (got ${fps.toFixed(1)}, ${frames} frames; the source delivered ${sourceFps.toFixed(1)} fps)`);
  });

  test('a wrong token is refused (403) and retried with backoff, and named in stats', async () => {
    await endpoint.createEndpoint('spare', TOKEN);
    const other = await startServer(testOptions(data.path, { publish: { url: endpoint.whipUrl('spare'), token: 'wrong' } }));
    try {
      assert.ok(await waitFor(() => /answered 403: Unauthorized/.test(publishOf(other).lastError ?? ''), 10_000), JSON.stringify(publishOf(other)));
      assert.equal(publishOf(other).state, 'retrying');
      assert.equal(publishOf(server).state, 'connected', 'the first publisher is untouched');
    } finally {
      await other.close();
    }
  });

  test('H.264 into a VP8 room: the endpoint refuses the video, and stats say so', async () => {
    await endpoint.createEndpoint('h264');
    const other = await startServer(testOptions(data.path, { codec: 'h264', publish: { url: endpoint.whipUrl('h264') } }));
    try {
      assert.ok(await waitFor(() => publishOf(other).lastError !== undefined, 15_000), JSON.stringify(publishOf(other)));
      assert.match(publishOf(other).lastError!, /refused the video \(video\/H264: it answered the video inactive\)/, `${publishOf(other).lastError}\n${endpoint.whipLog()}\n${endpoint.janusLog()}`);
    } finally {
      await other.close();
    }
  });

  test('close() DELETEs the resource: the endpoint is free again', async () => {
    const endpoints = async () => (await (await fetch(`http://${endpoint.address}:7080/whip/endpoints`)).json()) as Array<{ id: string; enabled: boolean }>;
    assert.equal((await endpoints()).find((each) => each.id === ENDPOINT_ID)?.enabled, true);
    await server.close();
    assert.equal(publishOf(server).state, 'closed');
    assert.equal((await endpoints()).find((each) => each.id === ENDPOINT_ID)?.enabled, false, endpoint.whipLog());
  });

  test('an offer sent before gathering ends (a STUN server that never answers): the rest trickled by PATCH', async () => {
    // A STUN server that never answers makes werift gather for 5 s: the offer leaves after 1 s without it.
    const blackHole: Socket = createSocket('udp4');
    await new Promise<void>((resolve) => blackHole.bind(0, '127.0.0.1', resolve));
    const stun = `stun:127.0.0.1:${blackHole.address().port}`;
    const trickling = await startServer(testOptions(data.path, {
      publish: { url: endpoint.whipUrl(ENDPOINT_ID), token: TOKEN, iceServers: [{ urls: stun }] },
    }));
    try {
      assert.ok(await waitFor(() => publishOf(trickling).state === 'connected', 20_000), JSON.stringify(publishOf(trickling)));
      assert.ok(await waitFor(() => endpoint.whipLog().includes('/resource[trickle]/'), 10_000), `PATCHed:\n${endpoint.whipLog()}`);
      assert.match(endpoint.whipLog(), /a=end-of-candidates/);
      const { fps, sourceFps } = await watch(endpoint, trickling, 3_000);
      assert.ok(fps >= 25, `≥ 25 fps (got ${fps.toFixed(1)}; the source delivered ${sourceFps.toFixed(1)})`);
    } finally {
      await trickling.close();
      blackHole.close();
    }
  });
});
