/**
 * WHEP pull (issue #11 item 3): an edge B pulls origin A's stream as one WHEP viewer of A and serves its
 * own viewers. A runs in its own process (test/e2e/fixtures/host.ts), so that it can be killed as a
 * crashed server is (no DELETE, no DTLS close) and started again on its address.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { RtpPacket } from 'werift';
import type { WhepStats } from 'webgear-rtc';
import {
  connectWeriftViewer, recentFps, sleep, startServer, tempDir, testOptions, vp8KeyframeSize, waitFor,
  type TestServer, type WeriftViewer,
} from './helpers.ts';

interface Origin {
  url: string;
  process: ChildProcess;
  /** What A's own /stats says. */
  stats(): Promise<{ source: { state: string }; viewers: Array<{ signaling: string; state: string }> }>;
  kill(): Promise<void>;
}

/** A free TCP port on loopback (for an origin that must come back on the same address). */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startOrigin(dataDir: string, port: number, options: Record<string, unknown>): Promise<Origin> {
  const child = spawn(process.execPath, ['test/e2e/fixtures/host.ts', dataDir, JSON.stringify({ port, ...options })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk;
      const found = /URL (\S+)/.exec(output);
      if (found) resolve(found[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the origin exited (${code}): ${output}`)));
  });
  return {
    url,
    process: child,
    async stats() {
      return (await (await fetch(`${url}/stats`)).json()) as Awaited<ReturnType<Origin['stats']>>;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}

function whepStats(server: TestServer): WhepStats {
  const stats = server.rtc.stats().source.webrtc;
  assert.equal(stats?.kind, 'whep');
  return stats as WhepStats;
}

/** The picture sizes of the VP8 keyframes a viewer receives, as they come. */
function keyframeSizes(viewer: WeriftViewer): string[] {
  const sizes: string[] = [];
  viewer.rtpListeners.push((rtp: RtpPacket) => {
    const size = vp8KeyframeSize(rtp.payload);
    if (size) sizes.push(`${size.width}x${size.height}`);
  });
  return sizes;
}

describe('WHEP pull: B, an edge of origin A', { timeout: 120_000 }, () => {
  const dataA = tempDir();
  const dataB = tempDir();
  let port: number;
  let origin: Origin;
  let edge: TestServer;
  let viewers: WeriftViewer[] = [];
  before(async () => {
    port = await freePort();
    origin = await startOrigin(dataA.path, port, { resolution: [640, 360] });
    edge = await startServer(testOptions(dataB.path, { source: `whep+${origin.url}/whep`, enableInfiniteFrames: true }));
  });
  after(async () => {
    await Promise.all(viewers.map((viewer) => viewer.close()));
    await edge?.close();
    await origin?.kill();
    dataA.cleanup();
    dataB.cleanup();
  });

  test('10 viewers on B get the picture at ≥ 25 fps; A sees exactly one viewer: B', async () => {
    viewers = await Promise.all(Array.from({ length: 10 }, () => connectWeriftViewer(`${edge.url}/whep`, 'vp8', { whep: true })));
    await Promise.all(viewers.map((viewer) => viewer.connected));
    assert.ok(await waitFor(() => viewers.every((viewer) => viewer.frames >= 60), 15_000), `frames: ${viewers.map((viewer) => viewer.frames)}`);
    const fps = viewers.map((viewer) => recentFps(viewer.frameTimes, 2_000));
    assert.ok(fps.every((rate) => rate >= 25), `${fps.map((rate) => rate.toFixed(1))} fps`);
    const atOrigin = await origin.stats();
    assert.deepEqual(atOrigin.viewers.map(({ signaling, state }) => [signaling, state]), [['whep', 'connected']]);
    // B is a viewer of A like any other: A's sender chooses its rendition from B's transport-wide feedback,
    // starting low and reaching the top within a second or two on this link.
    const top = () => edge.rtc.stats().source.renditions.map(({ width, height }) => `${width}x${height}`).join() === '640x360';
    assert.ok(await waitFor(top, 10_000), `the origin's top rendition, as is (${JSON.stringify(edge.rtc.stats().source.renditions)})`);
    const { source } = edge.rtc.stats();
    assert.equal(source.state, 'running');
    assert.equal(source.transcoding, false);
    const whep = whepStats(edge);
    assert.equal(whep.connection, 'connected');
    assert.equal(whep.sessions, 1);
  });

  test('A killed: B says so ("No Input", restarting); A back: B reconnects and its viewers recover by themselves', async () => {
    const sizes = viewers.map(keyframeSizes);
    await origin.kill();
    assert.ok(await waitFor(() => edge.rtc.stats().source.state === 'restarting', 8_000), `state ${edge.rtc.stats().source.state}`);
    assert.ok(await waitFor(() => edge.rtc.stats().source.slate === 'No Input', 5_000), '"No Input" meanwhile');
    const onSlate = viewers.map((viewer) => viewer.frames);
    await sleep(1_500);
    assert.ok(viewers.every((viewer, i) => viewer.frames - onSlate[i]! >= 20), 'the viewers keep getting pictures');

    // Back on the same address, with a picture of another size (to tell it from the slate and the first run).
    origin = await startOrigin(dataA.path, port, { resolution: [480, 272] });
    assert.ok(await waitFor(() => edge.rtc.stats().source.state === 'running' && edge.rtc.stats().source.slate === undefined, 30_000),
      `B is back (${edge.rtc.stats().source.state})`);
    assert.ok(await waitFor(() => sizes.every((seen) => seen.at(-1) === '480x272'), 10_000), 'every viewer shows the new picture');
    const back = viewers.map((viewer) => viewer.frames);
    await sleep(2_000);
    const fps = viewers.map((viewer, i) => (viewer.frames - back[i]!) / 2);
    assert.ok(fps.every((rate) => rate >= 25), `${fps} fps after`);
    assert.deepEqual(edge.rtc.stats().viewers.map((viewer) => viewer.state), Array(10).fill('connected'), 'nobody had to reconnect');
    assert.equal((await origin.stats()).viewers.length, 1, 'B is again one viewer of A');
    assert.ok(whepStats(edge).sessions >= 2);
  });

  test("B's close() leaves A (DELETE): A's viewer is gone at once", async () => {
    await Promise.all(viewers.map((viewer) => viewer.close()));
    viewers = [];
    await edge.close();
    assert.ok(await waitFor(async () => (await origin.stats()).viewers.length === 0, 3_000), 'A has no viewer left');
  });
});

describe('WHEP pull: an origin that refuses', { timeout: 30_000 }, () => {
  test("B's viewer gets a 503 naming what the origin answered (here: A streams H.264, B asks for VP8)", async () => {
    const dataA = tempDir();
    const dataB = tempDir();
    const origin = await startServer(testOptions(dataA.path, { codec: 'h264', resolution: [320, 240] }));
    const edge = await startServer(testOptions(dataB.path, { source: `whep+${origin.url}/whep` }));
    try {
      await assert.rejects(connectWeriftViewer(`${edge.url}/whep`, 'vp8', { whep: true }), (error: Error & { status?: number }) => {
        assert.equal(error.status, 503);
        assert.match(error.message, /the origin http:\/\/127\.0\.0\.1:\d+\/whep answered 406/);
        return true;
      });
      assert.equal(edge.rtc.stats().source.state, 'restarting', 'it keeps trying, with backoff');
    } finally {
      await edge.close();
      await origin.close();
      dataA.cleanup();
      dataB.cleanup();
    }
  });
});
