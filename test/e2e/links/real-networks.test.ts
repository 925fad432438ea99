/**
 * Issue 17 on real links: a 720p30 source with the default ladder, Chromium in a network namespace behind
 * a 40 ms RTT and a rate cap or random loss (test/support/links/), 20 s windows. Each viewer must get the
 * best picture its own link carries. Needs root (network namespaces); skipped otherwise.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sleep, tempDir } from '../helpers.ts';
import { launchChromiumIn } from '../../support/links/browsers.ts';
import { createLink, type Link, type LinkOptions } from '../../support/links/link.ts';
import { noisyClip } from '../../support/links/noisy-clip.ts';
import { installProbe, pageNow, playerLog, readProbe, waitForFirstFrame, type PlaybackReport } from '../../support/links/probe.ts';
import { startLinkServer, startSource, type LinkServer } from '../../support/links/server.ts';

const skip = process.getuid?.() !== 0 ? 'needs root: network namespaces, veth, tc and nftables' : false;
const WINDOW_MS = 20_000;


interface Watched {
  report: PlaybackReport;
  /** The server's view of the viewer at the end. */
  rendition: number | undefined;
  estimate: number | undefined;
  /** What `during` returned. */
  note: unknown;
  /** Frames per second the source's top rendition made over the window (a busy machine's ffmpeg makes fewer than 30). */
  sourceFps: number;
  /** The default player's video receiver's jitterBufferTarget at the end (null: the browser's own). */
  jitterBufferTarget: number | null;
  /** The player's console lines ("[webgear] …") with their time in the page (ms since navigation). */
  said: Array<[number, string]>;
  /** The first window's report, when `again` asked for a second (`report` is then the second's). */
  first: PlaybackReport | undefined;
}

/**
 * One Chromium behind a link with `options` watching the default page: from 1 s after its first frame,
 * for `windowMs`; `during(link)` runs meanwhile (a cap that changes). `again(report)`: a second window
 * follows when the first's report says so (the report is then the second's).
 */
async function watch(
  dir: string,
  options: LinkOptions,
  { windowMs = WINDOW_MS, during, again }: {
    windowMs?: number;
    during?: (link: Link, server: LinkServer) => Promise<unknown>;
    again?: (report: PlaybackReport) => boolean;
  } = {},
): Promise<Watched> {
  const link = await createLink({ delayMs: 20, ...options });
  const server = await startLinkServer([link], { source: noisyClip(dir, 10), loop: true, customDataLocation: dir });
  const browser = await launchChromiumIn(link);
  try {
    const page = await browser.newPage();
    await installProbe(page);
    await startSource(server, link);
    await page.goto(server.urlFor(link));
    await waitForFirstFrame(page, 15_000);
    await sleep(1_000);
    let from = await pageNow(page);
    const source = { frames: server.rtc.stats().source.frames, at: performance.now() };
    const [note] = await Promise.all([during?.(link, server), sleep(windowMs)]);
    let report = await readProbe(page, from);
    let first: PlaybackReport | undefined;
    if (again?.(report)) {
      first = report;
      from = await pageNow(page);
      await sleep(windowMs);
      report = await readProbe(page, from);
    }
    const jitterBufferTarget = await page.evaluate(() => {
      const pc = (window as unknown as { webgear: { pc: RTCPeerConnection | null } }).webgear.pc;
      return pc?.getReceivers().find((receiver) => receiver.track.kind === 'video')?.jitterBufferTarget ?? null;
    });
    const said = await playerLog(page);
    const stats = server.rtc.stats();
    const sourceFps = ((stats.source.frames - source.frames) * 1000) / (performance.now() - source.at);
    const viewer = stats.viewers[0];
    const watched = { report, rendition: viewer?.video?.rendition, estimate: viewer?.video?.estimate, note, sourceFps, jitterBufferTarget, said, first };
    if (first) console.log(`${JSON.stringify(options)}, a first window: ${first.fps.toFixed(1)} fps (${first.decodedFps.toFixed(1)} decoded); a second one follows`);
    console.log(`${JSON.stringify(options)}: ${report.fps.toFixed(1)} fps (${report.decodedFps.toFixed(1)} decoded, the source made ${sourceFps.toFixed(1)}), longest gap ${report.longestGapMs.toFixed(0)} ms, ` +
      `frozen ${(report.frozenMs / 1000).toFixed(1)} s, ${report.mainSize}, ${report.bitrateKbit.toFixed(0)} kbit/s, ` +
      `lost ${report.lossPercent.toFixed(1)} %, first frame ${report.firstFrameMs?.toFixed(0)} ms, jitter buffer ${report.jitterBufferMs.toFixed(0)} ms ` +
      `(target ${jitterBufferTarget ?? 'the browser\'s'}); server: rendition ` +
      `${watched.rendition}, estimate ${Math.round((watched.estimate ?? 0) / 1000)} kbit/s, ${JSON.stringify(viewer?.video)}; ` +
      `gaps over 500 ms at (s into the window): ${report.gapsOver500.map((gap) => `${((gap.atMs - from) / 1000).toFixed(1)} (${gap.ms.toFixed(0)} ms)`).join(', ') || 'none'}; ` +
      `sizes: ${report.sizes.map((size) => `${((size.atMs - from) / 1000).toFixed(1)} ${size.width}x${size.height}`).join(', ')}; ` +
      `the player: ${said.map(([at, text]) => `${text} (${(at / 1000).toFixed(1)} s)`).join('; ') || 'nothing'}`);
    return watched;
  } finally {
    await browser.close().catch(() => {});
    await server.close();
    await link.close();
  }
}

/*
 * Frames Chromium decoded per second (`report.decodedFps`): what the link and the sender let through. The presented
 * rate (`report.fps`) would be lower under loss: a frame repaired by a NACK comes a round trip late and the
 * one behind it waits for it, both are decoded within one refresh and only one is shown (Chromium keeps a
 * 20–30 ms jitter buffer here), unless the player asks for a longer one while repairs are frequent, as
 * the default page does; and on this VM's software compositor a 720p page shows ~29 of 30.
 */

/**
 * From now until the returned function is called: the longest time the source's top rendition went without a
 * new frame, as this process saw it (its stats polled every 10 ms).
 */
function longestSourceGap(server: LinkServer): () => number {
  let frames = server.rtc.stats().source.frames;
  let at = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const current = server.rtc.stats().source.frames;
    if (current !== frames) {
      longest = Math.max(longest, now - at);
      frames = current;
      at = now;
    }
  }, 10);
  return () => {
    clearInterval(timer);
    return Math.max(longest, performance.now() - at);
  };
}

const pixels = (size: string) => size.split('x').map(Number).reduce((a, b) => a * b, 1);

// Each test takes its window plus ~10 s (link, server, browser, first frame): a timeout per test, none for the suite.
describe('real networks: each viewer gets the best picture its own link carries', { skip }, () => {
  const data = tempDir();
  after(() => data.cleanup());

  test('a clean link: the top rendition at full rate (≥ 28 fps decoded, or all the source made), no frame gap over 500 ms', { timeout: 60_000 }, async () => {
    const { report, rendition, sourceFps, jitterBufferTarget } = await watch(data.path, {});
    // No repairs, so the player leaves the browser's own (short) jitter buffer alone.
    assert.equal(jitterBufferTarget, null);
    // The link and the sender must pass every frame; a busy machine's ffmpeg may make fewer than 28.
    assert.ok(report.decodedFps >= Math.min(28, 0.97 * sourceFps), `${report.decodedFps.toFixed(1)} fps decoded, the source made ${sourceFps.toFixed(1)}`);
    assert.ok(report.fps >= 22, `${report.fps.toFixed(1)} fps shown`);
    assert.ok(report.longestGapMs <= 500, `longest gap ${report.longestGapMs.toFixed(0)} ms`);
    assert.equal(report.mainSize, '1280x720');
    assert.equal(rendition, 0);
  });

  test('1.5 Mbit/s: at least 640x360, ≥ 28 fps decoded, no frame gap over 500 ms', { timeout: 60_000 }, async () => {
    const { report } = await watch(data.path, { rateKbit: 1500 });
    assert.ok(report.decodedFps >= 28, `${report.decodedFps.toFixed(1)} fps decoded`);
    assert.ok(report.fps >= 25, `${report.fps.toFixed(1)} fps shown`);
    assert.ok(report.longestGapMs <= 500, `longest gap ${report.longestGapMs.toFixed(0)} ms`);
    assert.ok(pixels(report.mainSize) >= 640 * 360, report.mainSize);
  });

  // The targets (first frame ≤ 1.5 s here; ≤ 0.5 s in gaps over 500 ms at 5 % loss and at 300 kbit/s) are
  // judged by `npm run bench` (bench/links.ts). These tests tell working from broken (before issue 17: no
  // first frame at 800 kbit/s, 17–22 s frozen at 5 % loss) with a margin for a busy machine and one unlucky
  // loss: in 5 runs here, 0–2 s frozen at 5 % loss and 0–1.1 s at 300 kbit/s.
  test('800 kbit/s: a first frame within 3 s, ≥ 25 fps, no frame gap over 500 ms', { timeout: 60_000 }, async () => {
    const { report } = await watch(data.path, { rateKbit: 800 });
    assert.ok((report.firstFrameMs ?? Number.POSITIVE_INFINITY) <= 3_000, `first frame ${report.firstFrameMs} ms`);
    assert.ok(report.fps >= 25, `${report.fps.toFixed(1)} fps`);
    assert.ok(report.longestGapMs <= 500, `longest gap ${report.longestGapMs.toFixed(0)} ms`);
  });

  test('5 % loss and a 3 Mbit/s cap: ≥ 25 fps decoded, at most 3 s in frame gaps over 500 ms', { timeout: 60_000 }, async () => {
    const { report } = await watch(data.path, { rateKbit: 3000, lossPercent: 5 });
    assert.ok(report.decodedFps >= 25, `${report.decodedFps.toFixed(1)} fps decoded`);
    assert.ok(report.fps >= 20, `${report.fps.toFixed(1)} fps shown`);
    assert.ok(report.frozenMs <= 3_000, `frozen ${report.frozenMs.toFixed(0)} ms`);
  });

  test('300 kbit/s: the bottom rendition, ≥ 20 fps, at most 2 s in frame gaps over 500 ms', { timeout: 60_000 }, async () => {
    const { report, rendition } = await watch(data.path, { rateKbit: 300 });
    assert.ok(report.fps >= 20, `${report.fps.toFixed(1)} fps`);
    assert.ok(report.frozenMs <= 2_000, `frozen ${report.frozenMs.toFixed(0)} ms`);
    assert.equal(rendition, 2);
  });

  test('2 % loss: the top rendition, ≥ 27 fps decoded and shown (the player buffers to hide repairs), no frame gap over 500 ms', { timeout: 60_000 }, async () => {
    // Decoded but not shown: frames Chromium's software compositor did not get to on a saturated machine
    // (once in CI: 25.9 shown of 29.6 decoded, no gap over 317 ms). A second window tells that apart from
    // a player that drops them: it fails again.
    const { report, rendition, jitterBufferTarget } = await watch(data.path, { lossPercent: 2 }, {
      again: (first) => first.decodedFps > 27 && first.fps < 27,
    });
    assert.ok(report.decodedFps > 27, `${report.decodedFps.toFixed(1)} fps decoded`);
    // Repairs were frequent: the player asked for a jitter buffer that hides them (without, 25-27 shown).
    assert.ok(jitterBufferTarget !== null && jitterBufferTarget >= 300, `jitter buffer target ${jitterBufferTarget}`);
    assert.ok(report.fps >= 27, `${report.fps.toFixed(1)} fps shown`);
    assert.ok(report.longestGapMs <= 500, `longest gap ${report.longestGapMs.toFixed(0)} ms`);
    assert.equal(report.mainSize, '1280x720');
    assert.equal(rendition, 0);
  });

  test('one burst of loss on a clean link: repaired, and the player keeps the browser\'s own buffer', { timeout: 60_000 }, async () => {
    // The player buffers for repairs spread over time, not for one burst (a probe past a thin link's rate
    // drops a few packets at once): counted on repairs alone, the 1.5 Mbit/s link got 300 ms of buffer for
    // 20 s after one such burst (docs/real-networks.md).
    const { report, jitterBufferTarget, said } = await watch(data.path, {}, {
      windowMs: 10_000,
      during: async (link) => {
        // One short drop. Longer or repeated ones draw more NACKs than the server's repair budget answers,
        // and Chromium asks again for seconds: repairs spread over time, which the rule rightly counts.
        await sleep(3_000);
        await link.setLoss(100);
        await sleep(80);
        await link.setLoss(0);
      },
    });
    assert.ok(report.nackCount >= 1, `the burst was asked for again: ${report.nackCount} NACKs`);
    assert.equal(jitterBufferTarget, null, said.map(([, text]) => text).join('; '));
    assert.ok(report.longestGapMs <= 500, `longest gap ${report.longestGapMs.toFixed(0)} ms`);
  });

  test('joins over 40 ms RTT: from the first picture on, no frame gap over 400 ms and no frame dropped (the GOP replay timed as it is sent)', { timeout: 90_000 }, async () => {
    // Stamped 1 tick apart, a paced GOP replay arrived ever later than its timestamps: Chromium dropped its
    // frames as late, then every one after them until the next keyframe (gaps of 0.2–1.3 s in 4 of 6 joins,
    // 11–40 frames dropped).
    const link = await createLink({ delayMs: 20 });
    const server = await startLinkServer([link], { source: noisyClip(data.path, 10), loop: true, customDataLocation: data.path });
    const browser = await launchChromiumIn(link);
    try {
      await startSource(server, link);
      const joins: string[] = [];
      // A join during which the source itself stalled, a gap over 150 ms (the shared machine starved ffmpeg and
      // Chromium with it: in CI once a source gap of 512 ms and the page's 933 ms, once 196 ms and 12 frames
      // dropped), says nothing of the replay: it is done again, twice at most. The fault this guards showed
      // with the source steady.
      let redone = 0;
      for (let i = 0; i < 3; i++) {
        const page = await browser.newPage();
        await installProbe(page);
        const sourceGap = longestSourceGap(server);
        await page.goto(server.urlFor(link));
        const first = await waitForFirstFrame(page, 15_000);
        await sleep(3_000);
        const report = await readProbe(page, first, first + 3_000);
        const sourceGapMs = sourceGap();
        joins.push(`first frame ${first.toFixed(0)} ms, longest gap ${report.longestGapMs.toFixed(0)} ms (the source's ${sourceGapMs.toFixed(0)} ms), ${report.framesDropped} dropped`);
        await page.close();
        // A gap the source itself had (ffmpeg or this process stalled on a busy machine) is not the replay's.
        // Frames dropped: the fault this guards dropped 11–40 in a join's first 3 s; a busy machine's
        // Chromium drops a few on its own (a CI run: 5, with no gap over 150 ms and a first frame 1.2 s late).
        const passed = report.longestGapMs <= Math.max(400, sourceGapMs + 100) && report.framesDropped <= 6;
        if (!passed && sourceGapMs > 150 && redone < 2) {
          redone++;
          joins[joins.length - 1] += ' (the source stalled: done again)';
          i--;
          continue;
        }
        assert.ok(passed, joins.join('; '));
      }
      console.log(`joins over 40 ms RTT: ${joins.join('; ')}`);
    } finally {
      await browser.close().catch(() => {});
      await server.close();
      await link.close();
    }
  });

  test('the cap falls to 800 kbit/s mid-stream and lifts 15 s later: no gap over 2 s, the top again within 10 s', { timeout: 75_000 }, async () => {
    const { report, note } = await watch(data.path, {}, {
      windowMs: 30_000,
      during: async (link, server) => {
        await sleep(3_000);
        await link.setRate(800);
        await sleep(15_000);
        await link.setRate(undefined);
        const lifted = performance.now();
        let backOnTopAfterMs: number | undefined;
        while (performance.now() - lifted < 11_000) {
          if (server.rtc.stats().viewers[0]?.video?.rendition === 0) {
            backOnTopAfterMs = performance.now() - lifted;
            break;
          }
          await sleep(100);
        }
        return backOnTopAfterMs;
      },
    });
    assert.ok(report.longestGapMs <= 2_000, `longest gap ${report.longestGapMs.toFixed(0)} ms`);
    assert.ok(typeof note === 'number' && note <= 10_000, `back on the top rendition after ${note} ms`);
  });
});
