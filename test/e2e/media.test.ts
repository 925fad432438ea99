import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  connectWeriftViewer, ffmpegChildrenOf, makeTestVideo, recentFps, sleep, startServer, tempDir, testOptions, vp8KeyframeSize,
  waitFor,
} from './helpers.ts';

describe('media path: ffmpeg → RTP → one packet stream → werift viewers', { timeout: 120_000 }, () => {
  const data = tempDir();
  after(() => data.cleanup());

  test('a viewer receives RTP and whole frames at the source frame rate (VP8)', async () => {
    const server = await startServer(testOptions(data.path, { framerate: 30 }));
    try {
      assert.equal(server.rtc.stats().source.state, 'idle', 'ffmpeg waits for the first viewer');
      const viewer = await connectWeriftViewer(`${server.url}/offer`);
      await viewer.connected;
      await sleep(4_000);
      const fps = recentFps(viewer.frameTimes, 3_000);
      console.log(`vp8 viewer: ${viewer.packets} packets, ${viewer.frames} frames, ${fps.toFixed(1)} fps`);
      assert.ok(viewer.packets > viewer.frames, 'frames span several packets (pkt_size=1200)');
      assert.ok(fps >= 28 && fps <= 32, `frames arrive at the source rate (got ${fps.toFixed(1)} fps)`);
      assert.equal(server.rtc.stats().source.state, 'running');
      await viewer.close();
    } finally {
      await server.close();
    }
  });

  test('two viewers get the stream while ffmpeg runs once', async () => {
    const server = await startServer(testOptions(data.path));
    try {
      const first = await connectWeriftViewer(`${server.url}/offer`);
      const second = await connectWeriftViewer(`${server.url}/offer`);
      await Promise.all([first.connected, second.connected]);
      await sleep(3_000);
      assert.equal(ffmpegChildrenOf().length, 1, 'one ffmpeg for both viewers');
      for (const viewer of [first, second]) {
        assert.ok(recentFps(viewer.frameTimes, 2_000) >= 28, `viewer ${viewer.id} gets the full frame rate`);
      }
      assert.equal(server.rtc.stats().viewers.length, 2);
      await Promise.all([first.close(), second.close()]);
    } finally {
      await server.close();
    }
  });

  test('a viewer joining later sees the live stream, not the past, and the others never notice', async () => {
    const server = await startServer(testOptions(data.path));
    try {
      const early = await connectWeriftViewer(`${server.url}/offer`);
      await early.connected;
      await sleep(1_500);
      const framesBefore = early.frames;
      const late = await connectWeriftViewer(`${server.url}/offer`);
      await late.connected;
      await sleep(2_000);
      await late.close(); // leaving must not disturb the early viewer
      await sleep(1_000);
      assert.ok(recentFps(early.frameTimes, 1_000) >= 25, 'the early viewer keeps its frame rate');
      assert.ok(early.frames > framesBefore + 80, 'the early viewer never stalled');
      // The late joiner received about 2 s of frames plus at most one GOP (30 frames, the GOP cache that
      // lets it decode at once), not a backlog from the start.
      assert.ok(late.frames <= 2.5 * 30 + 30, `late joiner got ${late.frames} frames in 2 s`);
      await early.close();
    } finally {
      await server.close();
    }
  });

  test('codec h264: libx264 baseline reaches an H.264 viewer at the source rate', async () => {
    const server = await startServer(testOptions(data.path, { codec: 'h264' }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`, 'h264');
      await viewer.connected;
      await sleep(3_000);
      const fps = recentFps(viewer.frameTimes, 2_000);
      assert.ok(fps >= 28, `h264 at ${fps.toFixed(1)} fps`);
      await viewer.close();
    } finally {
      await server.close();
    }
  });

  test('a VP8 stream refuses an offer that cannot receive VP8 with 406 and a JSON error', async () => {
    const server = await startServer(testOptions(data.path, { codec: 'vp8' }));
    try {
      await assert.rejects(connectWeriftViewer(`${server.url}/offer`, 'h264'), (error: Error & { status?: number }) => {
        assert.equal(error.status, 406);
        assert.match(error.message, /video\/VP8/);
        return true;
      });
      assert.equal(ffmpegChildrenOf().length, 0, 'a refused offer starts no ffmpeg');
    } finally {
      await server.close();
    }
  });

  test('maxViewers: one viewer too many gets 503 JSON; that is an answer, not an app error', async () => {
    const server = await startServer(testOptions(data.path, { maxViewers: 1 }));
    const appErrors: unknown[] = [];
    server.app.on('error', (error) => appErrors.push(error));
    try {
      const first = await connectWeriftViewer(`${server.url}/offer`);
      await first.connected;
      await assert.rejects(connectWeriftViewer(`${server.url}/offer`), (error: Error & { status?: number }) => {
        assert.equal(error.status, 503);
        assert.match(error.message, /maximum of 1 viewers/);
        return true;
      });
      assert.deepEqual(appErrors, []);
      assert.equal(server.rtc.stats().viewers.length, 1);
      await first.close();
    } finally {
      await server.close();
    }
  });

  test('close() ends ffmpeg and every peer connection; no ffmpeg process is left', async () => {
    const server = await startServer(testOptions(data.path));
    const viewer = await connectWeriftViewer(`${server.url}/offer`);
    await viewer.connected;
    assert.equal(ffmpegChildrenOf().length, 1);
    const closedAt = Date.now();
    await server.rtc.close();
    assert.ok(Date.now() - closedAt < 5_000, 'close() is quick');
    assert.deepEqual(ffmpegChildrenOf(), [], 'no ffmpeg left');
    assert.equal(server.rtc.stats().viewers.length, 0);
    assert.equal(server.rtc.stats().source.state, 'closed');
    const framesAtClose = viewer.frames;
    await sleep(500);
    assert.ok(viewer.frames <= framesAtClose + 1, 'nothing is sent after close()');
    await server.rtc.close(); // idempotent
    await viewer.close();
    await server.close();
  });

  test('a file plays once by default (state "ended"), and again and again with loop: true', async () => {
    const clip = makeTestVideo(join(data.path, 'clip.mp4'), { seconds: 2 });
    const once = await startServer(testOptions(data.path, { source: clip }));
    try {
      const viewer = await connectWeriftViewer(`${once.url}/offer`);
      await viewer.connected;
      assert.ok(await waitFor(() => once.rtc.stats().source.state === 'ended', 8_000), 'the source ends with the file');
      const framesOfTheFile = viewer.frames;
      assert.ok(framesOfTheFile >= 50 && framesOfTheFile <= 62, `one pass of 60 frames (got ${framesOfTheFile})`);
      assert.ok(await waitFor(() => ffmpegChildrenOf().length === 0, 3_000), 'no ffmpeg once "The End" was shown');
      assert.ok(viewer.frames - framesOfTheFile <= 35, 'a second of "The End", no second pass');
      await viewer.close();
    } finally {
      await once.close();
    }
    const looped = await startServer(testOptions(data.path, { source: clip, loop: true }));
    try {
      const viewer = await connectWeriftViewer(`${looped.url}/offer`);
      await viewer.connected;
      await sleep(5_000);
      assert.equal(looped.rtc.stats().source.state, 'running');
      assert.ok(recentFps(viewer.frameTimes, 1_000) >= 25, 'still streaming after two passes');
      await viewer.close();
    } finally {
      await looped.close();
    }
  });

  test('frameSizeReduction and resolution shape the encoded picture (seen in the VP8 keyframe header)', async () => {
    const server = await startServer(testOptions(data.path, { resolution: [640, 480], frameSizeReduction: 50 }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`);
      const size = await new Promise<{ width: number; height: number }>((resolve) => {
        viewer.rtpListeners.push((rtp) => {
          const found = vp8KeyframeSize(rtp.payload);
          if (found) resolve(found);
        });
      });
      assert.deepEqual(size, { width: 320, height: 240 });
      await viewer.close();
    } finally {
      await server.close();
    }
  });
});
