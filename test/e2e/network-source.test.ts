import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import {
  connectWeriftViewer, ffmpegChildrenOf, processInfo, recentFps, sleep, startServer, tempDir, testOptions,
  vp8KeyframeSize, waitFor,
} from './helpers.ts';

/**
 * A tiny live MJPEG-over-HTTP camera: each client gets a multipart/x-mixed-replace stream of JPEG
 * frames (640x480, 30 fps) made by its own ffmpeg. `stop()` drops everyone, as a camera that reboots.
 */
async function startMjpegCamera(port = 0): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const encoders = new Set<ChildProcess>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    const encoder = spawn('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=640x480:rate=30',
      '-q:v', '6', '-f', 'mpjpeg', 'pipe:1',
    ], { stdio: ['ignore', 'pipe', 'ignore'] });
    encoders.add(encoder);
    encoder.once('exit', () => encoders.delete(encoder));
    response.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace;boundary=ffmpeg' });
    encoder.stdout!.pipe(response);
    request.once('close', () => encoder.kill('SIGKILL'));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}/stream.mjpg`,
    port: bound,
    async stop() {
      for (const encoder of encoders) encoder.kill('SIGKILL');
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('network sources', { timeout: 90_000 }, () => {
  const data = tempDir();
  after(() => data.cleanup());

  test('a live MJPEG-over-HTTP camera streams, and after it restarts the picture comes back by itself', async () => {
    let camera = await startMjpegCamera();
    const server = await startServer(testOptions(data.path, { source: camera.url }));
    const errors: Error[] = [];
    server.rtc.on('error', (error) => errors.push(error));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`);
      await viewer.connected;
      await sleep(2_500);
      assert.ok(recentFps(viewer.frameTimes, 2_000) >= 25, 'the live camera plays');

      await camera.stop(); // the camera goes away…
      await sleep(2_000);
      assert.ok(recentFps(viewer.frameTimes, 1_000) < 5, 'no frames while it is gone');
      camera = await startMjpegCamera(camera.port); // …and comes back on the same address
      const backAt = Date.now();
      assert.ok(await waitFor(() => recentFps(viewer.frameTimes, 1_000) >= 25, 20_000), 'the picture comes back');
      console.log(`picture back ${Date.now() - backAt} ms after the camera; ${errors.length} errors reported meanwhile`);
      assert.equal(viewer.pc.connectionState, 'connected', 'the viewer never had to reconnect');
      assert.ok(errors.length >= 1, "the drop was reported on rtc.on('error')");
      const encoders = ffmpegChildrenOf().filter((pid) => processInfo(pid)?.cmdline.includes('rtp://127.0.0.1'));
      assert.equal(encoders.length, 1, 'one encoder: the restarts replaced it, never added one');
      await viewer.close();
    } finally {
      await server.close();
      await camera.stop();
    }
  });

  test('with enableInfiniteFrames, a camera outage shows "No Input" at the camera size until the picture returns', async () => {
    let camera = await startMjpegCamera();
    const server = await startServer(testOptions(data.path, { source: camera.url, enableInfiniteFrames: true }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`);
      const keyframeSizes: string[] = [];
      viewer.rtpListeners.push((rtp) => {
        const size = vp8KeyframeSize(rtp.payload);
        if (size) keyframeSizes.push(`${size.width}x${size.height}`);
      });
      await viewer.connected;
      assert.ok(await waitFor(() => recentFps(viewer.frameTimes, 1_000) >= 25, 10_000), 'the live camera plays');

      await camera.stop();
      const goneAt = Date.now();
      assert.ok(await waitFor(() => server.rtc.stats().source.slate === 'No Input', 5_000), '"No Input" is shown');
      console.log(`"No Input" ${Date.now() - goneAt} ms after the camera went away`);
      keyframeSizes.length = 0;
      await sleep(2_000);
      const duringOutage = recentFps(viewer.frameTimes, 1_500);
      assert.ok(duringOutage >= 25, `frames keep flowing during the outage (${duringOutage.toFixed(1)} fps)`);
      assert.ok(keyframeSizes.length > 0 && keyframeSizes.every((size) => size === '640x480'), `at the camera size: ${keyframeSizes}`);

      camera = await startMjpegCamera(camera.port);
      assert.ok(
        await waitFor(() => server.rtc.stats().source.state === 'running' && !server.rtc.stats().source.slate, 20_000),
        'the camera replaces "No Input" by itself',
      );
      await sleep(1_000);
      assert.ok(recentFps(viewer.frameTimes, 1_000) >= 25, 'and plays');
      assert.equal(viewer.pc.connectionState, 'connected', 'the viewer never had to reconnect');
      const generators = ffmpegChildrenOf().filter((pid) => processInfo(pid)?.cmdline.includes('color=c='));
      assert.equal(generators.length, 0, 'the "No Input" generator is gone');
      await viewer.close();
    } finally {
      await server.close();
      await camera.stop();
    }
  });

  test('an unreachable URL: the first viewer gets 503 JSON within 5 s and the error event fires; the host keeps serving', async () => {
    const camera = await startMjpegCamera();
    await camera.stop(); // a port where nothing listens any more
    const server = await startServer(testOptions(data.path, { source: camera.url }));
    const errors: Error[] = [];
    server.rtc.on('error', (error) => errors.push(error));
    try {
      const askedAt = Date.now();
      await assert.rejects(connectWeriftViewer(`${server.url}/offer`), (error: Error & { status?: number }) => {
        assert.equal(error.status, 503);
        assert.match(error.message, /source is unavailable/);
        return true;
      });
      assert.ok(Date.now() - askedAt < 5_000, `answered in ${Date.now() - askedAt} ms`);
      assert.ok(errors.length >= 1 && /ffmpeg/.test(errors[0]!.message));
      const response = await fetch(`${server.url}/offer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sdp: 'v=0', type: 'offer' }),
      });
      assert.equal(response.status, 400, 'other requests are still served');
      assert.equal(server.rtc.stats().viewers.length, 0, 'the refused viewer left nothing behind');
    } finally {
      await server.close();
    }
  });
});
