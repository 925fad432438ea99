import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  assertPlaysAt, DIRECT_SEND_PATH, chromiumProcessesOf, ffmpegChildrenOf, isRunning, launchChromium, measureFrames, measurePlayback, sleep, sourceFrames, startServer, tempDir, testOptions, waitFor,
  type TestServer,
} from './helpers.ts';

describe('the default page in Chromium', () => {
  const data = tempDir();
  let browser: Browser;
  let server: TestServer;

  before(async () => {
    browser = await launchChromium();
    server = await startServer(testOptions(data.path, { source: 'testsrc', resolution: [1280, 720], framerate: 30 }));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    data.cleanup();
  });

  test('GET / plays the stream: frames decoded at ≥ 25 fps at the source size (the top rendition, on a clean link)', async () => {
    const page = await browser.newPage();
    const report = await measurePlayback(page, `${server.url}/`, 3_000, { size: [1280, 720], source: sourceFrames(server), againBelowFps: 25 });
    console.log('chromium playback', report);
    assert.equal(report.state, 'connected');
    assert.equal(report.width, 1280);
    assert.equal(report.height, 720);
    assertPlaysAt(report, 25);
    // Chromium and werift agree on AES-GCM SRTP, so its packets take the direct send path (rtp-sender.ts).
    const { viewers } = server.rtc.stats();
    assert.deepEqual(viewers.map((viewer) => viewer.sendPath), [DIRECT_SEND_PATH]);
    await page.close();
  });
});

test('frameSizeReduction: 50 halves the size Chromium decodes (1280x720 → 640x360)', { timeout: 60_000 }, async () => {
  const data = tempDir();
  const browser = await launchChromium();
  const server = await startServer(testOptions(data.path, { resolution: [1280, 720], frameSizeReduction: 50, renditions: false }));
  try {
    const page = await browser.newPage();
    const report = await measurePlayback(page, `${server.url}/`, 3_000, { source: sourceFrames(server), againBelowFps: 25 });
    assert.deepEqual([report.width, report.height], [640, 360]);
    assertPlaysAt(report, 25);
  } finally {
    await browser.close();
    await server.close();
    data.cleanup();
  }
});

describe('viewers come and go in Chromium', { timeout: 120_000 }, () => {
  const data = tempDir();
  let browser: Browser;
  let server: TestServer;

  before(async () => {
    browser = await launchChromium();
    server = await startServer(testOptions(data.path, { resolution: [640, 360] }));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    data.cleanup();
  });

  test('a page that closes is cleaned up within seconds; the page that stays keeps playing', async () => {
    const stays = await browser.newPage();
    const leaves = await browser.newPage();
    await measurePlayback(stays, `${server.url}/`, 500);
    await measurePlayback(leaves, `${server.url}/`, 500);
    assert.equal(server.rtc.stats().viewers.length, 2);
    const leftAt = Date.now();
    await leaves.close({ runBeforeUnload: true });
    assert.ok(await waitFor(() => server.rtc.stats().viewers.length === 1, 5_000), 'the closed page is gone');
    console.log(`closed page cleaned up after ${Date.now() - leftAt} ms`);
    const after = await measureFrames(stays, 3_000, sourceFrames(server)); // the same session, not a reload
    assertPlaysAt(after, 25, 'the other page');
    await stays.close();
  });

  test('a browser killed outright (no pagehide, no beacon) is dropped within seconds, not ICE consent\'s 30 s', async () => {
    const others = new Set(chromiumProcessesOf(process.pid));
    const doomed = await launchChromium();
    const doomedPids = chromiumProcessesOf(process.pid).filter((pid) => !others.has(pid));
    assert.equal(doomedPids.length, 1);
    const page = await doomed.newPage();
    await measurePlayback(page, `${server.url}/`, 500);
    const before = server.rtc.stats().viewers.length;
    const killedAt = Date.now();
    process.kill(doomedPids[0]!, 'SIGKILL');
    const dropped = await waitFor(() => server.rtc.stats().viewers.length === before - 1, 15_000, 250);
    console.log(`killed browser dropped after ${Date.now() - killedAt} ms`);
    assert.ok(dropped, 'the vanished viewer is dropped within 15 s');
    await doomed.close().catch(() => {});
  });

  test('a viewer stays through a 10 s source stall and plays again after it', async () => {
    const page = await browser.newPage();
    await measurePlayback(page, `${server.url}/`, 500);
    const viewers = server.rtc.stats().viewers.length;
    const [ffmpeg] = ffmpegChildrenOf();
    process.kill(ffmpeg!, 'SIGSTOP'); // frozen, not dead: no frames (after 5 s the watchdog replaces it)
    try {
      await sleep(10_000);
      assert.equal(server.rtc.stats().viewers.length, viewers, 'nobody was dropped while no media flowed');
      assert.ok(server.rtc.stats().source.restarts >= 1, 'the hung ffmpeg was replaced');
    } finally {
      if (isRunning(ffmpeg!)) process.kill(ffmpeg!, 'SIGCONT');
    }
    const after = await measureFrames(page, 3_000, sourceFrames(server)); // the same session, not a reload
    assertPlaysAt(after, 25, 'the same session, again,');
    await page.close();
  });
});

describe("vidgear WebGear_RTC's own client protocol", { timeout: 60_000 }, () => {
  const data = tempDir();
  let browser: Browser;
  let server: TestServer;

  // The signaling steps of vidgear-vitals' webgear_rtc/static/js/custom.js, written anew: Google STUN
  // in the config (unreachable here), wait for gathering with no time limit, POST {sdp, type} to
  // '/offer', hand `response.json()` as is to setRemoteDescription (our extra `id` included), and
  // play `evt.streams[0]` (so the answer must carry a stream id).
  const clientPage = `<!doctype html><video id="video" autoplay playsinline muted></video><script>
    const pc = new RTCPeerConnection({ sdpSemantics: 'unified-plan', iceServers: [{ urls: ['stun:stun.l.google.com:19302'] }] });
    pc.addEventListener('track', (evt) => { if (evt.track.kind == 'video') document.getElementById('video').srcObject = evt.streams[0]; });
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.createOffer().then((offer) => pc.setLocalDescription(offer)).then(() => new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
    })).then(() => fetch('/offer', { body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
      headers: { 'Content-Type': 'application/json' }, method: 'POST' }))
      .then((response) => response.json()).then((answer) => pc.setRemoteDescription(answer))
      .catch((e) => { document.title = 'error: ' + e; });
  </script>`;

  before(async () => {
    browser = await launchChromium();
    server = await startServer(testOptions(data.path, { resolution: [640, 360] }), (app, rtc) => {
      app.use(rtc);
      app.use((ctx) => {
        if (ctx.path === '/vidgear-client') ctx.body = clientPage;
      });
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    data.cleanup();
  });

  test('plays against POST /offer', async () => {
    const page = await browser.newPage();
    const report = await measurePlayback(page, `${server.url}/vidgear-client`, 3_000, { source: sourceFrames(server), againBelowFps: 25 });
    assert.deepEqual([report.width, report.height], [640, 360]);
    assertPlaysAt(report, 25);
    assert.doesNotMatch(await page.title(), /error/);
    await page.close();
  });
});
