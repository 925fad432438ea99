import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { VideoCapture, type CustomStream, type Logger, type VideoFrame } from 'webgear-rtc';
import {
  assertPlaysAt, connectWeriftViewer, ffmpegChildrenOf, launchChromium, makeTestVideo, measurePlayback, recentFps, sleep, sourceFrames,
  startServer, tempDir, testOptions, videoCenterColor, vp8KeyframeSize, waitFor,
} from './helpers.ts';

/** A solid-colour rgb24 frame. */
function solidFrame(width: number, height: number, [r, g, b]: [number, number, number]): VideoFrame {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = r;
    data[i + 1] = g;
    data[i + 2] = b;
  }
  return { data, width, height, format: 'rgb24' };
}

function collectingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (message: string) => void lines.push(message);
  return { lines, debug: () => {}, info: keep, warn: keep, error: keep };
}

describe('customStream: frames from your own code', { timeout: 120_000 }, () => {
  const data = tempDir();
  after(() => data.cleanup());

  test('a synchronous read() streams at the framerate, ends cleanly on null, and stop() is called on close', async () => {
    let reads = 0;
    let stops = 0;
    // A canvas's ImageData.data is a Uint8ClampedArray: taken as is.
    const frame = { ...solidFrame(320, 240, [255, 0, 0]), data: new Uint8ClampedArray(320 * 240 * 3).fill(128) };
    const customStream: CustomStream = { read: () => (++reads <= 120 ? frame : null), stop: () => void stops++ };
    const server = await startServer(testOptions(data.path, { customStream }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`);
      await viewer.connected;
      await sleep(2_500);
      const fps = recentFps(viewer.frameTimes, 2_000);
      assert.ok(fps >= 27 && fps <= 33, `frames at the custom stream's 30 fps (got ${fps.toFixed(1)})`);
      assert.ok(await waitFor(() => server.rtc.stats().source.state === 'ended', 6_000), 'the stream ends after null');
      assert.equal(server.rtc.stats().source.slate, 'The End', 'as in vidgear, "The End" is shown');
      assert.ok(await waitFor(() => ffmpegChildrenOf().length === 0, 3_000), 'the encoder and "The End" finished');
      assert.equal(viewer.pc.connectionState, 'connected', 'the peer connection stays healthy');
      await viewer.close();
    } finally {
      await server.close();
    }
    assert.equal(stops, 1);
  });

  test('odd frame sizes are cropped to even ones, so H.264 (4:2:0) takes them', async () => {
    const frame = solidFrame(321, 241, [0, 255, 0]);
    const server = await startServer(testOptions(data.path, { customStream: { read: () => frame, stop: () => {} }, codec: 'h264' }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`, 'h264');
      await viewer.connected;
      assert.ok(await waitFor(() => recentFps(viewer.frameTimes, 1_000) >= 25, 8_000), 'a 321x241 stream plays');
      assert.equal(server.rtc.stats().source.restarts, 0, 'the encoder never failed');
    } finally {
      await server.close();
    }
  });

  test('VideoCapture yields frames of the asked size and format, newest first, and null after stop()', async () => {
    const capture = new VideoCapture('testsrc', { format: 'rgb24', width: 320, height: 240, framerate: 30 });
    try {
      const first = await capture.read();
      assert.ok(first);
      assert.deepEqual([first.width, first.height, first.format, first.data.length], [320, 240, 'rgb24', 320 * 240 * 3]);
      await sleep(500); // 15 frames arrive meanwhile; a queue would hand them all over at once
      const started = performance.now();
      for (let i = 0; i < 10; i++) assert.ok(await capture.read());
      const elapsed = performance.now() - started;
      // Newest only: one frame was waiting, the other nine each waited for ffmpeg (~33 ms apart).
      assert.ok(elapsed >= 200, `10 reads took ${elapsed.toFixed(0)} ms: no backlog`);
    } finally {
      await capture.stop();
    }
    assert.equal(await capture.read(), null);
    assert.deepEqual(ffmpegChildrenOf(), []);
  });

  test('VideoCapture probes a file for its size, and ends with null when the file does', async () => {
    const clip = makeTestVideo(join(data.path, 'short.mp4'), { seconds: 1, width: 192, height: 108 });
    const capture = new VideoCapture(clip, { format: 'gray' });
    try {
      let frames = 0;
      let frame: VideoFrame | null;
      while ((frame = await capture.read())) {
        assert.deepEqual([frame.width, frame.height, frame.data.length], [192, 108, 192 * 108]);
        frames++;
      }
      assert.ok(frames >= 20, `read ${frames} frames of a 30-frame clip`);
    } finally {
      await capture.stop();
    }
  });

  test('an async read() wrapping VideoCapture with a transform: Chromium sees the transform', async () => {
    const capture = new VideoCapture('testsrc', { format: 'rgb24', width: 320, height: 240, framerate: 30 });
    const customStream: CustomStream = {
      // The transform: keep only the blue channel, at full strength.
      read: async () => {
        const frame = await capture.read();
        if (!frame) return null;
        for (let i = 0; i < frame.data.length; i += 3) {
          frame.data[i] = 0;
          frame.data[i + 1] = 0;
          frame.data[i + 2] = 255;
        }
        return frame;
      },
      stop: () => capture.stop(),
    };
    const server = await startServer(testOptions(data.path, { customStream }));
    const browser: Browser = await launchChromium();
    try {
      const page = await browser.newPage();
      // 3 s: the capture's and the pump's 30 Hz clocks beat, and a 1.5 s window can miss one frame in it.
      const report = await measurePlayback(page, `${server.url}/`, 3_000, { source: sourceFrames(server), againBelowFps: 25 });
      assert.deepEqual([report.width, report.height], [320, 240]);
      assertPlaysAt(report, 25);
      const [r, g, b] = await videoCenterColor(page);
      assert.ok(b > 200 && r < 40 && g < 40, `the decoded picture is blue: rgb(${r}, ${g}, ${b})`);
    } finally {
      await browser.close();
      await server.close();
    }
    assert.deepEqual(ffmpegChildrenOf(), [], 'closing stopped the capture too');
  });

  test('customStream: new VideoCapture(...) directly', async () => {
    const server = await startServer(testOptions(data.path, {
      customStream: new VideoCapture('testsrc', { width: 320, height: 240, framerate: 30 }),
    }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`);
      await viewer.connected;
      await sleep(2_500);
      assert.ok(recentFps(viewer.frameTimes, 2_000) >= 25);
      await viewer.close();
    } finally {
      await server.close();
    }
    assert.deepEqual(ffmpegChildrenOf(), []);
  });

  test('a slow read() skips ticks instead of queueing them: no latency piles up', async () => {
    let calls = 0;
    const frame = solidFrame(160, 120, [0, 255, 0]);
    const customStream: CustomStream = {
      read: async () => {
        calls++;
        await sleep(100); // a 10 fps producer behind a 30 fps clock
        return frame;
      },
      stop: () => {},
    };
    const server = await startServer(testOptions(data.path, { customStream }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`);
      await viewer.connected;
      await sleep(3_000);
      const stats = server.rtc.stats().source.customStream!;
      const fps = recentFps(viewer.frameTimes, 2_000);
      // Every frame that went out was just read: one read at a time, about 10 a second, never a backlog.
      assert.ok(fps >= 7 && fps <= 12, `the viewer gets the producer's ~10 fps (got ${fps.toFixed(1)})`);
      assert.ok(stats.skippedTicks >= 2 * stats.framesRead - 5, `ticks were skipped: ${JSON.stringify(stats)}`);
      assert.ok(Math.abs(calls - stats.framesRead) <= 1, 'no read() was left waiting in a queue');
      await viewer.close();
    } finally {
      await server.close();
    }
  });

  test('a change of frame size mid-stream re-inits the encoder; the viewer keeps one continuous stream', async () => {
    let reads = 0;
    const small = solidFrame(320, 240, [255, 255, 0]);
    const large = solidFrame(640, 480, [0, 255, 255]);
    const customStream: CustomStream = { read: () => (++reads < 45 ? small : large), stop: () => {} };
    const server = await startServer(testOptions(data.path, { customStream }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`);
      const sizes: string[] = [];
      let largestSeqGap = 0;
      let lastSeq = -1;
      viewer.rtpListeners.push((rtp) => {
        const size = vp8KeyframeSize(rtp.payload);
        if (size && sizes.at(-1) !== `${size.width}x${size.height}`) sizes.push(`${size.width}x${size.height}`);
        if (lastSeq >= 0) largestSeqGap = Math.max(largestSeqGap, (rtp.header.sequenceNumber - lastSeq) & 0xffff);
        lastSeq = rtp.header.sequenceNumber;
      });
      await viewer.connected;
      assert.ok(await waitFor(() => sizes.includes('640x480'), 8_000), `sizes seen: ${sizes}`);
      await sleep(1_000);
      assert.deepEqual(sizes.slice(-2), ['320x240', '640x480']);
      assert.ok(largestSeqGap <= 3, `RTP sequence numbers run on across the re-init (largest gap ${largestSeqGap})`);
      assert.ok(recentFps(viewer.frameTimes, 800) >= 25, 'frames flow at the new size');
      assert.equal(server.rtc.stats().source.restarts, 1);
      assert.equal(ffmpegChildrenOf().length, 1, 'the old encoder is gone');
      await viewer.close();
    } finally {
      await server.close();
    }
  });

  test('a read() that throws or returns garbage is logged, not fatal: the stream goes on', async () => {
    const logger = collectingLogger();
    let reads = 0;
    const frame = solidFrame(160, 120, [10, 20, 30]);
    const customStream: CustomStream = {
      read: () => {
        reads++;
        if (reads % 3 === 0) throw new Error('camera hiccup');
        if (reads % 7 === 0) return { data: new Uint8Array(5), width: 160, height: 120, format: 'rgb24' };
        return frame;
      },
      stop: () => {},
    };
    const server = await startServer(testOptions(data.path, { customStream, logger }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`);
      await viewer.connected;
      await sleep(2_500);
      const stats = server.rtc.stats().source.customStream!;
      assert.ok(stats.readErrors > 10 && stats.badFrames > 3, JSON.stringify(stats));
      assert.ok(recentFps(viewer.frameTimes, 2_000) >= 15, 'the good frames still go out');
      assert.ok(logger.lines.some((line) => line.includes('camera hiccup')), 'the exception is logged');
      assert.ok(logger.lines.some((line) => /holds 5 bytes/.test(line)), 'the bad frame is logged');
      assert.ok(logger.lines.length < 10, `repeated errors are rate-limited (${logger.lines.length} lines)`);
      const page = await fetch(`${server.url}/`);
      assert.equal(page.status, 200, 'the host keeps serving');
      await viewer.close();
    } finally {
      await server.close();
    }
  });
});

describe('source options: timeDelay, inputOptions, filters', { timeout: 60_000 }, () => {
  const data = tempDir();
  after(() => data.cleanup());

  test('timeDelay waits before reading; inputOptions and filters reach ffmpeg and shape the picture', async () => {
    const server = await startServer(
      testOptions(data.path, {
        timeDelay: 1.5,
        inputOptions: ['-thread_queue_size', '64'],
        filters: 'scale=256:144',
        resolution: [640, 360],
      }),
    );
    let viewer: Awaited<ReturnType<typeof connectWeriftViewer>> | undefined;
    try {
      const offeredAt = Date.now();
      // The answer waits for the source's first packet, so ask without waiting for it yet.
      const connecting = connectWeriftViewer(`${server.url}/offer`);
      await sleep(1_000);
      assert.equal(ffmpegChildrenOf().length, 0, 'nothing read during the delay');
      viewer = await connecting;
      const size = new Promise<{ width: number; height: number }>((resolve) =>
        viewer!.rtpListeners.push((rtp) => {
          const found = vp8KeyframeSize(rtp.payload);
          if (found) resolve(found);
        }),
      );
      assert.deepEqual(await size, { width: 256, height: 144 });
      assert.ok(Date.now() - offeredAt >= 1_500, 'first frame after the delay');
      const [ffmpeg] = ffmpegChildrenOf();
      const args = readFileSync(`/proc/${ffmpeg}/cmdline`, 'utf8').split('\0');
      const input = args.indexOf('-i');
      assert.ok(args.indexOf('-thread_queue_size') > 0 && args.indexOf('-thread_queue_size') < input, 'input option before -i');
    } finally {
      await viewer?.close();
      await server.close();
    }
  });

  test('close() during a long timeDelay returns at once and leaves no timer behind', async () => {
    const server = await startServer(testOptions(data.path, { timeDelay: 600 }));
    const connecting = connectWeriftViewer(`${server.url}/offer`).catch((error: Error) => error);
    await sleep(300);
    const startedAt = Date.now();
    await server.rtc.close();
    assert.ok(Date.now() - startedAt < 2_000, 'close() did not wait for the delay');
    const outcome = await connecting;
    assert.ok(outcome instanceof Error && /503/.test(outcome.message), `the waiting viewer is told: ${String(outcome)}`);
    await server.close();
    assert.deepEqual(ffmpegChildrenOf(), []);
  });

  test('stabilize (ffmpeg deshake) keeps the full frame rate', async () => {
    const server = await startServer(testOptions(data.path, { stabilize: true, resolution: [640, 360] }));
    try {
      const viewer = await connectWeriftViewer(`${server.url}/offer`);
      await viewer.connected;
      await sleep(3_000);
      const [ffmpeg] = ffmpegChildrenOf();
      assert.match(readFileSync(`/proc/${ffmpeg}/cmdline`, 'utf8'), /deshake/);
      const fps = recentFps(viewer.frameTimes, 2_000);
      assert.ok(fps >= 25, `stabilized at ${fps.toFixed(1)} fps`);
      await viewer.close();
    } finally {
      await server.close();
    }
  });

  test("colorspace applies vidgear's conversion to the picture Chromium shows (red → blue with COLOR_BGR2RGB)", async () => {
    const red = solidFrame(320, 240, [255, 0, 0]);
    const browser = await launchChromium();
    try {
      for (const [colorspace, check] of [
        ['COLOR_BGR2RGB', ([r, g, b]: number[]) => b! > 200 && r! < 50 && g! < 50],
        ['COLOR_BGR2GRAY', ([r, g, b]: number[]) => Math.abs(r! - g!) < 12 && Math.abs(g! - b!) < 12 && r! > 40],
      ] as const) {
        const server = await startServer(testOptions(data.path, { customStream: { read: () => red, stop: () => {} }, colorspace }));
        try {
          const page = await browser.newPage();
          await measurePlayback(page, `${server.url}/`, 300);
          const color = await videoCenterColor(page);
          assert.ok(check(color), `${colorspace}: rgb(${color.map(Math.round).join(', ')})`);
          await page.close();
        } finally {
          await server.close();
        }
      }
    } finally {
      await browser.close();
    }
  });
});

