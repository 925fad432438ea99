import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  assertPlaysAt, connectWeriftViewer, cpuSeconds, ffmpegChildrenOf, launchChromium, makeTestVideo, measurePlayback, processInfo,
  recentFps, sleep, sourceFrames, startServer, tempDir, testOptions, waitFor,
} from './helpers.ts';

/** The encoder ffmpeg of this process (the one sending RTP), with its command line. */
function sourceFfmpeg(): { pid: number; cmdline: string } | undefined {
  for (const pid of ffmpegChildrenOf()) {
    const info = processInfo(pid);
    if (info?.cmdline.includes('rtp://127.0.0.1')) return { pid, cmdline: info.cmdline };
  }
  return undefined;
}

describe('passthrough: an H.264 source sent as is', { timeout: 90_000 }, () => {
  const data = tempDir();
  after(() => data.cleanup());
  const plain = makeTestVideo(join(data.path, 'no-b-frames.mp4'), { seconds: 30 });
  const withBFrames = makeTestVideo(join(data.path, 'b-frames.mp4'), { seconds: 30, bFrames: 2 });
  const short = makeTestVideo(join(data.path, 'short.mp4'), { seconds: 2, gop: 30 });

  test('transcode "auto": an H.264 file without B-frames runs with no encoder, near-zero CPU, and Chromium plays it', async () => {
    // One rendition: a ladder's lower rungs are encoded (next test).
    const server = await startServer(testOptions(data.path, { source: plain, codec: 'h264', renditions: false }));
    const browser: Browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const playback = await measurePlayback(page, `${server.url}/`, 3_000, { source: sourceFrames(server), againBelowFps: 25 });
      console.log(`passthrough in Chromium: ${playback.fps.toFixed(1)} fps at ${playback.width}x${playback.height}, first frame ${playback.firstFrameMs} ms`);
      assertPlaysAt(playback, 25);
      assert.deepEqual([playback.width, playback.height], [640, 360]);
      // The file's keyframes are 8 s apart (x264's default 250 frames): the GOP cache makes that no wait.
      assert.ok(playback.firstFrameMs < 3_000, `first frame ${playback.firstFrameMs} ms after page load`);

      const ffmpeg = sourceFfmpeg();
      assert.ok(ffmpeg, 'ffmpeg runs');
      assert.match(ffmpeg.cmdline, /-c:v copy/);
      assert.doesNotMatch(ffmpeg.cmdline, /libx264|libvpx/, 'no encoder in its arguments');
      assert.equal(server.rtc.stats().source.transcoding, false);
      const before = cpuSeconds(ffmpeg.pid);
      await sleep(3_000);
      const share = (cpuSeconds(ffmpeg.pid) - before) / 3;
      console.log(`passthrough ffmpeg: ${(share * 100).toFixed(1)} % of a core`);
      assert.ok(share < 0.05, `near-zero CPU (${(share * 100).toFixed(1)} % of a core)`);
    } finally {
      await browser.close();
      await server.close();
    }
  });

  test('with the ladder, the H.264 source stays the top rendition as is; the lower ones are encoded from it', async () => {
    const server = await startServer(testOptions(data.path, { source: plain, codec: 'h264' }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`, 'h264');
      await viewer.connected;
      assert.ok(await waitFor(() => server.rtc.stats().source.renditions.every((rendition) => rendition.framesPerSecond >= 25), 10_000), 'every rendition runs');
      const { renditions } = server.rtc.stats().source;
      assert.deepEqual(renditions.map(({ width, height }) => [width, height]), [[640, 360], [320, 180]], 'the source, and half its size (a quarter would be under 120 px)');
      const cmdline = sourceFfmpeg()?.cmdline ?? '';
      assert.match(cmdline, /-map 0:v:0 -c:v copy .*-map \[v1\] .*-c:v libx264/, 'the top copied, the lower rung encoded');
      assert.equal(server.rtc.stats().source.transcoding, false);
      await viewer.close();
    } finally {
      await server.close();
    }
  });

  test('transcode "auto" encodes a source with B-frames; "never" refuses it with a 503 and an error naming why', async () => {
    const auto = await startServer(testOptions(data.path, { source: withBFrames, codec: 'h264' }));
    try {
      const viewer = await connectWeriftViewer(`${auto.url}/offer`, 'h264');
      await viewer.connected;
      assert.ok(await waitFor(() => recentFps(viewer.frameTimes, 1_000) >= 25, 10_000), 'it plays');
      assert.match(sourceFfmpeg()?.cmdline ?? '', /libx264/, 'encoded');
      assert.equal(auto.rtc.stats().source.transcoding, true);
      await viewer.close();
    } finally {
      await auto.close();
    }

    const never = await startServer(testOptions(data.path, { source: withBFrames, codec: 'h264', transcode: 'never' }));
    const errors: Error[] = [];
    never.rtc.on('error', (error) => errors.push(error));
    try {
      await assert.rejects(connectWeriftViewer(`${never.url}/offer`, 'h264'), (error: Error & { status?: number }) => {
        assert.equal(error.status, 503);
        assert.match(error.message, /without encoding.*B-frames/);
        return true;
      });
      assert.match(errors[0]?.message ?? '', /transcode: "never".*B-frames/);
      assert.equal(never.rtc.stats().source.state, 'failed');
      assert.equal(sourceFfmpeg(), undefined, 'no ffmpeg was started');
      assert.equal((await fetch(`${never.url}/`)).status, 200, 'the page is still served');
    } finally {
      await never.close();
    }
  });

  test('loop: an H.264 file sent as is keeps playing across wraps (ffmpeg 5.1 lost every packet after the first)', async () => {
    const server = await startServer(testOptions(data.path, { source: short, codec: 'h264', loop: true }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`, 'h264');
      await viewer.connected;
      assert.equal(server.rtc.stats().source.transcoding, false, 'sent as is');
      // The file is 2 s long: 7 s is three wraps at least.
      await sleep(7_000);
      const fps = recentFps(viewer.frameTimes, 6_000);
      const gaps = viewer.frameTimes.slice(1).map((time, index) => time - viewer.frameTimes[index]!);
      const longestGap = Math.max(...gaps.slice(-150));
      console.log(`looped passthrough: ${fps.toFixed(1)} fps over 6 s, longest frame gap ${longestGap.toFixed(0)} ms`);
      assert.ok(fps >= 25, `≥ 25 fps across wraps (got ${fps.toFixed(1)})`);
      assert.ok(longestGap < 500, `no stall at a wrap (longest gap ${longestGap.toFixed(0)} ms)`);
      assert.equal(server.rtc.stats().source.state, 'running');
      await viewer.close();
    } finally {
      await server.close();
    }
  });
});
