/**
 * End to end over a real link: the server (the public API, in this process, on the link's root-side
 * address) streams the 720p test pattern to a browser inside the viewer namespace, 40 ms RTT away.
 * Needs root (network namespaces); skipped otherwise.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { measureFrames, sleep, tempDir, waitFor } from '../helpers.ts';
import { FIREFOX_PATH, launchChromiumIn, launchFirefoxIn } from '../../support/links/browsers.ts';
import { createLink, type Link } from '../../support/links/link.ts';
import { installProbe, pageNow, readProbe, waitForFirstFrame, type PlaybackReport, type ProbePage } from '../../support/links/probe.ts';
import { startLinkServer, type LinkServer } from '../../support/links/server.ts';

const skip = process.getuid?.() !== 0 ? 'needs root: network namespaces, veth, tc and nftables' : false;

/**
 * Opens the player, waits for its first frame and then for `ready` (the top rendition, for a browser whose
 * feedback makes it climb the ladder), then measures 3 s starting 1 s later (after the GOP replay):
 * `measure` is the wait (or test/helpers.ts's measureFrames, to check the probe against it).
 */
async function watch(page: ProbePage, url: string, measure = () => sleep(3_000), ready = async () => {}): Promise<PlaybackReport> {
  await installProbe(page);
  await page.goto(url);
  await waitForFirstFrame(page, 15_000);
  await ready();
  await sleep(1_000);
  const from = await pageNow(page);
  await measure();
  return readProbe(page, from);
}

/**
 * Waits for the viewer to reach the top rendition: a browser's transport-wide feedback (Chromium's, and
 * Firefox's) starts it on the rung its start estimate carries; a clean link takes it to the top in seconds.
 */
async function onTop(server: LinkServer): Promise<void> {
  // The newest viewer: the one before it (the previous test's browser, closed without a DELETE) may still be
  // listed, on the top rendition, and would end this wait before the new one has climbed.
  const video = () => server.rtc.stats().viewers.at(-1)?.video;
  assert.ok(await waitFor(() => video()?.rendition === 0, 10_000), `the top rendition within 10 s (${JSON.stringify(video())})`);
}

describe('a browser behind a real 40 ms RTT link', { skip, timeout: 60_000 }, () => {
  const data = tempDir();
  let link: Link;
  let server: LinkServer;
  before(async () => {
    link = await createLink({ delayMs: 20 });
    server = await startLinkServer([link], { source: 'testsrc', resolution: [1280, 720], customDataLocation: data.path });
  });
  after(async () => {
    await server?.close();
    await link?.close();
    data.cleanup();
  });

  test('Chromium in the viewer namespace plays the 720p test pattern at ≥ 25 fps', async () => {
    const browser = await launchChromiumIn(link);
    try {
      const page = await browser.newPage();
      let frames: Awaited<ReturnType<typeof measureFrames>> | undefined;
      const report = await watch(page, server.urlFor(link), async () => void (frames = await measureFrames(page)), () => onTop(server));
      assert.ok(Math.abs(frames!.framesPresented - report.framesPresented) <= 4,
        `the probe counts what measureFrames counts (${report.framesPresented} vs ${frames!.framesPresented} frames)`);
      console.log(`Chromium: first frame at ${report.firstFrameMs?.toFixed(0)} ms (ffmpeg starting with it), then ${report.fps.toFixed(1)} fps, ` +
        `${report.mainSize}, longest gap ${report.longestGapMs.toFixed(0)} ms, RTT ${report.roundTripTimeMs} ms, ${report.bitrateKbit.toFixed(0)} kbit/s`);
      assert.ok(report.fps >= 25, `${report.fps.toFixed(1)} fps`);
      assert.equal(report.mainSize, '1280x720');
      // At least the link's 40 ms (more on a busy machine: the server answers STUN from a loaded event loop).
      // Chromium's candidate pair sometimes has no round trip in the window: then the server's, from RTCP.
      const rtt = Number.isFinite(report.roundTripTimeMs) ? report.roundTripTimeMs : server.rtc.stats().viewers[0]?.roundTripTimeMs ?? Number.NaN;
      assert.ok(rtt >= 38 && rtt < 200, `the connection goes through the link (RTT ${rtt} ms)`);
    } finally {
      await browser.close();
    }
  });

  const noFirefox = !existsSync(FIREFOX_PATH) && `no Firefox at ${FIREFOX_PATH}`;

  // Firefox sends transport-wide feedback and climbs the ladder as Chromium does. This test was a `todo`: in
  // the whole suite it saw stalls (526 ms, 912 ms) or no climb at all (320x180); run alone, none in 15 runs. The
  // wait for the top rendition read the first viewer listed, which was still the previous test's Chromium
  // (closed without a DELETE, on the top rendition): Firefox was measured during its own climb, across an
  // up-switch whose GOP replay was stamped 1 tick apart (since timed as it is sent).
  test('Firefox ESR climbs the ladder to the top without a stall', { skip: noFirefox }, async () => {
    const firefox = await launchFirefoxIn(link);
    try {
      const report = await watch(await firefox.browser.newPage(), server.urlFor(link), undefined, () => onTop(server));
      console.log(`Firefox on the ladder: ${report.fps.toFixed(1)} fps, ${report.mainSize}, longest gap ${report.longestGapMs.toFixed(0)} ms`);
      assert.ok(report.longestGapMs <= 500, `longest gap ${report.longestGapMs.toFixed(0)} ms`);
      assert.equal(report.mainSize, '1280x720');
    } finally {
      await firefox.close();
    }
  });

  test('Firefox ESR in the viewer namespace plays it too (VP8, one rendition)', { skip: noFirefox }, async () => {
    // The same stream without the ladder (one rendition): what Firefox plays when nothing switches. The
    // ladder's server goes first: two 720p encoders at once would starve this machine's 2 cores.
    await server.close();
    server = await startLinkServer([link], { source: 'testsrc', resolution: [1280, 720], customDataLocation: data.path, renditions: false });
    const firefox = await launchFirefoxIn(link);
    try {
      const report = await watch(await firefox.browser.newPage(), server.urlFor(link));
      console.log(`Firefox: first frame at ${report.firstFrameMs?.toFixed(0)} ms, then ${report.fps.toFixed(1)} fps, ${report.mainSize}, ` +
        `longest gap ${report.longestGapMs.toFixed(0)} ms, RTT ${report.roundTripTimeMs} ms`);
      assert.ok(report.fps >= 20, `${report.fps.toFixed(1)} fps`);
      assert.equal(report.mainSize, '1280x720');
    } finally {
      await firefox.close();
    }
  });
});
