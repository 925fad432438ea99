import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  assertPlaysAt, connectWeriftViewer, launchChromium, makeTestVideo, measureFrames, openPlayer, recentFps, sleep, sourceFrames,
  startServer, tempDir, testOptions, videoCenterColor, vp8KeyframeSize, waitFor,
} from './helpers.ts';

/** The slate's background, 0x202020: nothing in testsrc2 is this even dark gray. */
const SLATE_GRAY = 0x20;

describe('when the source ends or drops: enableInfiniteFrames and "The End"', { timeout: 90_000 }, () => {
  const data = tempDir();
  after(() => data.cleanup());
  const clip = makeTestVideo(join(data.path, 'three-seconds.mp4'), { seconds: 3 });

  test('enableInfiniteFrames: after a 3 s file ends, Chromium keeps decoding "No Input" frames at the file size', async () => {
    const server = await startServer(testOptions(data.path, { source: clip, enableInfiniteFrames: true }));
    const browser: Browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await openPlayer(page, `${server.url}/`);
      assert.notEqual(server.rtc.stats().source.slate, 'No Input', 'the file plays first');
      assert.ok(await waitFor(() => server.rtc.stats().source.state === 'ended', 10_000), 'the file ends');
      await sleep(1_000);
      const after = await measureFrames(page, 3_000, sourceFrames(server));
      console.log(`after the end: ${after.fps.toFixed(1)} fps at ${after.width}x${after.height}`);
      assertPlaysAt(after, 25, 'after the end, the page');
      assert.deepEqual([after.width, after.height], [640, 360], 'the placeholder has the size of the file');
      assert.equal(server.rtc.stats().source.slate, 'No Input');
      const corner = await videoCenterColor(page, [0.1, 0.1]);
      for (const channel of corner) assert.ok(Math.abs(channel - SLATE_GRAY) < 16, `the slate is shown (corner ${corner.map(Math.round)})`);
      const stillEnded = server.rtc.stats().source;
      assert.equal(stillEnded.state, 'ended');
    } finally {
      await browser.close();
      await server.close();
    }
  });

  test('without it, a finished file shows "The End" for about a second, then the stream stops; the connection stays up', async () => {
    const server = await startServer(testOptions(data.path, { source: clip }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`);
      // With the source's state when each keyframe came: the slate's first one may come before the poll
      // below sees 'ended' (its ffmpeg can start within the 100 ms between polls), never before the state.
      const keyframes: Array<{ ended: boolean; width: number; height: number }> = [];
      viewer.rtpListeners.push((rtp) => {
        const size = vp8KeyframeSize(rtp.payload);
        if (size) keyframes.push({ ended: server.rtc.stats().source.state === 'ended', ...size });
      });
      await viewer.connected;
      let sawTheEnd = false;
      assert.ok(
        await waitFor(() => {
          sawTheEnd ||= server.rtc.stats().source.slate === 'The End';
          return server.rtc.stats().source.state === 'ended';
        }, 10_000),
        'the file ends',
      );
      const endedAt = performance.now();
      assert.ok(await waitFor(() => (sawTheEnd ||= server.rtc.stats().source.slate === 'The End'), 1_000), '"The End" is shown');
      await sleep(2_500);
      const framesAfterEnd = viewer.frameTimes.filter((time) => time > endedAt).length;
      console.log(`${framesAfterEnd} "The End" frames after the file ended`);
      assert.ok(framesAfterEnd >= 20 && framesAfterEnd <= 45, `about a second of "The End" (${framesAfterEnd} frames)`);
      assert.ok(keyframes.some((keyframe) => keyframe.ended && keyframe.width === 640), 'it starts with a keyframe at the file size');
      assert.equal(recentFps(viewer.frameTimes, 1_000), 0, 'then nothing more is sent');
      assert.equal(server.rtc.stats().source.slate, undefined);
      assert.equal(viewer.pc.connectionState, 'connected', 'the peer connection stays healthy');
      await viewer.close();
    } finally {
      await server.close();
    }
  });
});
