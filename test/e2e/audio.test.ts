/** Audio: the source's sound (or an extra input) as one Opus stream, encoded once, sent with the video. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { webgearRtc, WebGearRtcOptionError, type CustomStream, type VideoFrame, type WebGearRtcOptions } from 'webgear-rtc';
import {
  connectWeriftViewer, ffmpegChildrenOf, launchChromium, makeTestVideo, processInfo, recentFps, sleep,
  startServer, tempDir, testOptions, waitFor, type TestServer,
} from './helpers.ts';

/** Opus at 20 ms a packet is 50 packets a second: 2 s give ~100; this many proves a steady flow. */
const AUDIO_PACKETS_IN_2S = 70;

/** The command line of this process's one source ffmpeg (the one sending RTP). */
function sourceFfmpeg(): string {
  const encoders = ffmpegChildrenOf().map((pid) => processInfo(pid)?.cmdline ?? '').filter((line) => line.includes('rtp://'));
  assert.equal(encoders.length, 1, `exactly one ffmpeg: ${encoders.join(' | ')}`);
  return encoders[0]!;
}

/** The answer's audio section: its port (0: refused) and whether it sends Opus. */
function answerAudio(sdp: string): { port: number; opus: boolean } | undefined {
  const section = sdp.split(/^(?=m=)/m).find((part) => part.startsWith('m=audio '));
  if (!section) return undefined;
  return { port: Number(section.split(' ')[1]), opus: /a=rtpmap:\d+ opus\/48000\/2/i.test(section) && /a=sendonly/.test(section) };
}

/** A moving grey rgb24 picture, read for ever. */
function greyStream(): CustomStream {
  let n = 0;
  return {
    read: (): VideoFrame => ({ data: Buffer.alloc(320 * 240 * 3, n++ % 256), width: 320, height: 240, format: 'rgb24' }),
    stop: () => {},
  };
}

async function withServer(
  options: WebGearRtcOptions,
  run: (server: TestServer) => Promise<void>,
  mountIt?: Parameters<typeof startServer>[1],
): Promise<void> {
  const server = await startServer(options, mountIt);
  try {
    await run(server);
  } finally {
    await server.close();
  }
}

describe('audio', { timeout: 120_000 }, () => {
  const data = tempDir();
  after(() => data.cleanup());
  const withAudio = makeTestVideo(join(data.path, 'with-audio.mp4'), { seconds: 30, audio: true });
  const silent = makeTestVideo(join(data.path, 'silent.mp4'), { seconds: 30 });

  test("a file with audio: Opus reaches a viewer whose offer asks for it, from the video's one ffmpeg", async () => {
    await withServer(testOptions(data.path, { source: withAudio }), async (server) => {
      const viewer = await connectWeriftViewer(`${server.url}/offer`, 'vp8', { audio: true });
      const videoOnly = await connectWeriftViewer(`${server.url}/offer`);
      assert.deepEqual(answerAudio(viewer.answerSdp), { port: 9, opus: true }, 'the answer sends Opus');
      assert.equal(answerAudio(videoOnly.answerSdp), undefined, 'an offer without audio gets none');
      await Promise.all([viewer.connected, videoOnly.connected]);
      await sleep(2_000);
      const packets = viewer.audioPackets;
      console.log(`audio: ${packets} Opus packets and ${viewer.frames} frames in ~2 s`);
      assert.ok(packets >= AUDIO_PACKETS_IN_2S, `Opus packets arrive (${packets})`);
      assert.ok(recentFps(viewer.frameTimes, 1_000) >= 25, 'and the picture');
      assert.ok(recentFps(videoOnly.frameTimes, 1_000) >= 25, 'the video-only viewer plays too');
      assert.equal(videoOnly.audioPackets, 0);
      const cmdline = sourceFfmpeg();
      assert.match(cmdline, /-map (0:v:0|\[v0\]) .*-map 0:a:0 .*-c:a libopus/, 'one process: the video outputs, then an Opus one');
      const { audio } = server.rtc.stats().source;
      assert.ok(audio && audio.packets >= packets && audio.bytes > audio.packets * 20, `stats count it: ${JSON.stringify(audio)}`);
      await Promise.all([viewer.close(), videoOnly.close()]);
    });
  });

  test('audio: false sends none, even to an offer that asks; a file without audio answers the same', async () => {
    for (const options of [{ source: withAudio, audio: false }, { source: silent }]) {
      await withServer(testOptions(data.path, options), async (server) => {
        const viewer = await connectWeriftViewer(`${server.url}/offer`, 'vp8', { audio: true });
        assert.equal(answerAudio(viewer.answerSdp)?.port, 0, `${JSON.stringify(options)}: the audio section is refused`);
        await viewer.connected;
        await sleep(1_500);
        assert.ok(recentFps(viewer.frameTimes, 1_000) >= 25, 'the video plays');
        assert.equal(viewer.audioPackets, 0);
        assert.doesNotMatch(sourceFfmpeg(), /libopus|0:a/);
        assert.equal(server.rtc.stats().source.audio, undefined);
        await viewer.close();
      });
    }
  });

  test('passthrough: an H.264 file with audio is sent as is, its audio as Opus', async () => {
    // One rendition: the lower rungs of a ladder would be encoded (with libx264).
    await withServer(testOptions(data.path, { source: withAudio, codec: 'h264', renditions: false }), async (server) => {
      const viewer = await connectWeriftViewer(`${server.url}/offer`, 'h264', { audio: true });
      await viewer.connected;
      await sleep(2_000);
      const cmdline = sourceFfmpeg();
      assert.match(cmdline, /-c:v copy/);
      assert.doesNotMatch(cmdline, /libx264/);
      assert.match(cmdline, /-c:a libopus/);
      assert.equal(server.rtc.stats().source.transcoding, false);
      assert.ok(viewer.audioPackets >= AUDIO_PACKETS_IN_2S, `Opus packets arrive (${viewer.audioPackets})`);
      assert.ok(recentFps(viewer.frameTimes, 1_000) >= 25, 'and the copied picture');
      await viewer.close();
    });
  });

  test('a custom stream is video-only, unless given an audio input', async () => {
    await withServer(testOptions(data.path, { customStream: greyStream() }), async (server) => {
      const viewer = await connectWeriftViewer(`${server.url}/offer`, 'vp8', { audio: true });
      assert.equal(answerAudio(viewer.answerSdp)?.port, 0);
      await viewer.connected;
      await sleep(1_500);
      assert.ok(viewer.frames > 20);
      assert.equal(viewer.audioPackets, 0);
      await viewer.close();
    });
    const audio = 'lavfi:sine=frequency=440';
    await withServer(testOptions(data.path, { customStream: greyStream(), audio }), async (server) => {
      const viewer = await connectWeriftViewer(`${server.url}/offer`, 'vp8', { audio: true });
      assert.equal(answerAudio(viewer.answerSdp)?.opus, true);
      await viewer.connected;
      await sleep(2_000);
      assert.ok(viewer.audioPackets >= AUDIO_PACKETS_IN_2S, `Opus packets arrive (${viewer.audioPackets})`);
      assert.ok(recentFps(viewer.frameTimes, 1_000) >= 25, `and frames (${recentFps(viewer.frameTimes, 1_000)} fps)`);
      assert.match(sourceFfmpeg(), /-f lavfi -i sine=frequency=440 .*-map 1:a:0/);
      await viewer.close();
    });
  });

  test('a custom stream that ends stops its endless audio input with it ("The End", no ffmpeg left)', async () => {
    let reads = 0;
    const frame: VideoFrame = { data: Buffer.alloc(320 * 240 * 3, 90), width: 320, height: 240, format: 'rgb24' };
    const customStream: CustomStream = { read: () => (++reads <= 45 ? frame : null), stop: () => {} };
    await withServer(testOptions(data.path, { customStream, audio: 'lavfi:sine=frequency=440' }), async (server) => {
      const viewer = await connectWeriftViewer(`${server.url}/offer`, 'vp8', { audio: true });
      await viewer.connected;
      assert.ok(await waitFor(() => server.rtc.stats().source.state === 'ended', 8_000), 'the stream ends');
      assert.ok(await waitFor(() => ffmpegChildrenOf().length === 0, 3_000), 'its ffmpeg (and "The End") finished');
      assert.ok(viewer.audioPackets > 0);
      await viewer.close();
    });
  });

  test('an ffmpeg restart keeps the audio one stream: sequence numbers carry on', async () => {
    await withServer(testOptions(data.path, { source: withAudio, loop: true }), async (server) => {
      const viewer = await connectWeriftViewer(`${server.url}/offer`, 'vp8', { audio: true });
      const seqs: number[] = [];
      viewer.audioRtpListeners.push((rtp) => seqs.push(rtp.header.sequenceNumber));
      await viewer.connected;
      await sleep(1_000);
      process.kill(ffmpegChildrenOf()[0]!, 'SIGKILL');
      assert.ok(await waitFor(() => server.rtc.stats().source.restarts === 1, 5_000), 'ffmpeg was restarted');
      const before = seqs.length;
      assert.ok(await waitFor(() => seqs.length > before + 25, 5_000), 'audio flows again');
      const jumps = seqs.slice(1).map((seq, i) => (seq - seqs[i]! + 0x10000) & 0xffff).filter((step) => step !== 1);
      assert.deepEqual(jumps, [], 'every packet follows the one before');
      await viewer.close();
    });
  });

  test('Chromium receives and decodes the audio with the video', async () => {
    const browser = await launchChromium();
    // A blank page of the server's origin: the test's own client runs in it (not the default page's).
    const blank: Parameters<typeof startServer>[1] = (app, rtc) => {
      app.use(rtc);
      app.use((ctx) => {
        if (ctx.path === '/blank') ctx.body = '<!doctype html><title>audio</title><body></body>';
      });
    };
    await withServer(testOptions(data.path, { source: withAudio }), async (server) => {
      try {
        const page = await browser.newPage();
        await page.goto(`${server.url}/blank`);
        const stats = await page.evaluate(async () => {
          const pc = new RTCPeerConnection();
          pc.addTransceiver('video', { direction: 'recvonly' });
          pc.addTransceiver('audio', { direction: 'recvonly' });
          const media = document.createElement('video');
          media.autoplay = true;
          pc.ontrack = (event) => (media.srcObject = event.streams[0]!);
          document.body.append(media);
          await pc.setLocalDescription(await pc.createOffer());
          await new Promise<void>((resolve) => {
            if (pc.iceGatheringState === 'complete') resolve();
            pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
          });
          const response = await fetch('/offer', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ sdp: pc.localDescription!.sdp, type: 'offer' }),
          });
          await pc.setRemoteDescription(await response.json());
          await new Promise((resolve) => setTimeout(resolve, 3_000));
          const inbound: Record<string, Record<string, number>> = {};
          // What the server's sender reports said, as Chromium read them (SRTCP it authenticated and decrypted).
          const reported: Record<string, Record<string, number>> = {};
          (await pc.getStats()).forEach((entry) => {
            if (entry.type === 'inbound-rtp') inbound[entry.kind] = entry;
            if (entry.type === 'remote-outbound-rtp') reported[entry.kind] = entry;
          });
          const streams = new Set(pc.getReceivers().map((receiver) => receiver.track.id));
          pc.close();
          return { inbound, reported, now: Date.now(), tracksInStream: (media.srcObject as MediaStream | null)?.getTracks().length ?? 0, streams: streams.size };
        });
        const audio = stats.inbound.audio ?? {};
        console.log(
          `Chromium audio: ${audio.packetsReceived} packets, ${audio.totalSamplesReceived} samples, level ${audio.audioLevel}; ` +
            `video: ${stats.inbound.video?.framesDecoded} frames decoded`,
        );
        assert.ok(audio.packetsReceived! >= 100, `audio packets received (${audio.packetsReceived})`);
        assert.ok(audio.totalSamplesReceived! > 48_000, `audio decoded (${audio.totalSamplesReceived} samples)`);
        assert.ok(audio.audioLevel! > 0.01, `the tone is heard, not silence (level ${audio.audioLevel})`);
        assert.ok(stats.inbound.video!.framesDecoded! > 30, 'and the video');
        assert.equal(stats.tracksInStream, 2, 'picture and sound arrive in one stream');
        // Sender reports (from the addon where it runs: lib/sender/sender-reports.ts) for both: Chromium's
        // remote-outbound-rtp stats exist only for reports it read.
        for (const kind of ['audio', 'video']) {
          const report = stats.reported[kind];
          console.log(`Chromium read ${kind} sender reports: ${JSON.stringify(report && { reportsSent: report.reportsSent, packetsSent: report.packetsSent, remoteTimestamp: report.remoteTimestamp })}`);
          assert.ok(report && report.reportsSent! >= 1, `${kind}: sender reports read (${report?.reportsSent})`);
          assert.ok(report.packetsSent! > 0 && report.packetsSent! <= stats.inbound[kind]!.packetsReceived! + 50, `${kind}: the report counts the packets sent (${report.packetsSent}; ${stats.inbound[kind]!.packetsReceived} received)`);
          assert.ok(Math.abs(report.remoteTimestamp! - stats.now) < 3_000, `${kind}: its NTP time is the server's wall clock (${stats.now - report.remoteTimestamp!} ms before the stats)`);
        }
      } finally {
        await browser.close();
      }
    }, blank);
  });
});

test('audio options are checked: a bad value throws a WebGearRtcOptionError naming "audio"', async () => {
  const data = tempDir();
  try {
    for (const audio of [1, '', '  ', {}, join(data.path, 'missing.wav'), 'nope:thing']) {
      assert.throws(
        () => webgearRtc(testOptions(data.path, { audio } as unknown as WebGearRtcOptions)),
        (error: unknown) => error instanceof WebGearRtcOptionError && error.option === 'audio' && error.message.includes('audio'),
        `audio: ${JSON.stringify(audio)}`,
      );
    }
    for (const audio of [true, false, 'lavfi:sine=frequency=440', 'alsa:default', 'rtsp://127.0.0.1/mic', 'http://127.0.0.1/radio.mp3']) {
      const rtc = webgearRtc(testOptions(data.path, { audio }));
      assert.equal(rtc.stats().source.audio, undefined, 'nothing runs before a viewer');
      await rtc.close();
    }
  } finally {
    data.cleanup();
  }
});
