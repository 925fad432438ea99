/**
 * Simulcast ingest with viewers on different layers (issue #11 item 2): Chromium's /publish page sends
 * three encodings (720p, 360p, 180p) over WHIP; each viewer's sender gives it the layer its own link
 * carries. One viewer on this machine (no cap: the top), one behind a real 700 kbit/s link, one behind
 * 300 kbit/s (test/support/links). Needs root (network namespaces); skipped otherwise.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { measureFrames, openPlayer, sleep, tempDir, waitFor } from '../helpers.ts';
import { launchPublisher, publishFromPage, whipStats } from '../publishers.ts';
import { launchChromiumIn } from '../../support/links/browsers.ts';
import { createLink, type Link } from '../../support/links/link.ts';
import { startLinkServer, type LinkServer } from '../../support/links/server.ts';

const skip = process.getuid?.() !== 0 ? 'needs root: network namespaces, veth, tc and nftables' : false;
/** The two links' rate caps, kbit/s (the layers take about 1 200, 480 and 150 kbit/s). */
const CAPS = [700, 300];

describe('simulcast WHIP ingest: viewers behind different links get different layers', { skip, timeout: 150_000 }, () => {
  const data = tempDir();
  let links: Link[] = [];
  let server: LinkServer;
  let publisher: Browser;
  const viewers: Browser[] = [];
  before(async () => {
    // One after the other: createLink picks the first free index, which two at once would both take.
    for (const rateKbit of CAPS) links.push(await createLink({ rateKbit, delayMs: 10 }));
    server = await startLinkServer(links, { source: 'whip', customDataLocation: data.path });
    // The page is not on localhost: Chromium allows it the camera only when told to.
    publisher = await launchPublisher(new URL(server.urlFor(links[0]!)).origin);
    // The viewers' browsers before anything is published: launching one stalls this process (the server's)
    // for up to half a second (see below).
    for (const link of links) viewers.push(await launchChromiumIn(link));
  });
  after(async () => {
    await Promise.all(viewers.map((viewer) => viewer.close()));
    await publisher?.close();
    await server?.close();
    await Promise.all(links.map((link) => link.close()));
    data.cleanup();
  });

  test('three layers: the top one here, a lower one behind 700 kbit/s, the lowest behind 300 kbit/s', async () => {
    // The publisher and the uncapped viewer are on this machine; the server listens on the links' addresses.
    const base = server.urlFor(links[0]!).replace(/\/$/, '');
    const publishing = await publisher.newPage();
    await publishFromPage(publishing, base);
    // The publisher's own view of its layers, for a failure's message: why a layer is small or slow.
    const publisherLayers = () => publishing.evaluate(async () => {
      const pc = (window as unknown as { webgearPublish: { pc: RTCPeerConnection } }).webgearPublish.pc;
      const layers: string[] = [];
      (await pc.getStats()).forEach((entry) => {
        const report = entry as RTCOutboundRtpStreamStats & { rid?: string; qualityLimitationReason?: string };
        if (report.type === 'outbound-rtp' && report.kind === 'video') {
          layers.push(`${report.rid}: ${report.frameWidth ?? 0}x${report.frameHeight ?? 0} at ${report.framesPerSecond ?? 0} fps, limited by ${report.qualityLimitationReason}`);
        }
      });
      const pairs: number[] = [];
      (await pc.getStats()).forEach((entry) => {
        const pair = entry as RTCIceCandidatePairStats;
        if (pair.type === 'candidate-pair' && pair.availableOutgoingBitrate) pairs.push(pair.availableOutgoingBitrate);
      });
      return `${layers.sort().join('; ')}; its uplink estimate ${pairs.map((bitrate) => `${Math.round(bitrate / 1000)} kbit/s`).join(', ')}`;
    });
    // Every layer sending (on a busy machine Chrome's encoder may lower a layer's frame rate, or the top
    // layer's size, for a while: the sizes are read, not assumed).
    // Chromium starts its uplink estimate low and turns its layers on as it climbs (one run here: two
    // layers after 20 s, on a machine busy with this test's other browsers).
    assert.ok(await waitFor(() => whipStats(server).layers.length === 3 && server.rtc.stats().source.renditions.every((r) => r.framesPerSecond >= 5), 30_000),
      `three layers: ${JSON.stringify(server.rtc.stats().source.renditions)}; the publisher's layers: ${await publisherLayers()}`);
    const heights = server.rtc.stats().source.renditions.map(({ height }) => height!);
    assert.ok(heights[0]! > heights[1]! && heights[1]! > heights[2]!, `top first: ${heights}`);

    // One after the other, so that /stats lists them in this order.
    const pages: Array<[string, Page]> = [['here', await publisher.newPage()]];
    await openPlayer(pages[0]![1], `${base}/`);
    for (const [index, link] of links.entries()) {
      const page = await viewers[index]!.newPage();
      pages.push([`${CAPS[index]} kbit/s`, page]);
      await openPlayer(page, server.urlFor(link));
    }
    // Each viewer's sender settles on the rendition its link carries (down at once, up after probing).
    const renditions = () => server.rtc.stats().viewers.map((viewer) => viewer.video?.rendition);
    const settled = await waitFor(() => {
      const [here, capped, low] = renditions();
      return here === 0 && capped !== undefined && capped >= 1 && low === 2;
    }, 30_000, 500);
    // The joins cost the publisher its uplink estimate (every stall of this process, the server's, sharing 2
    // cores with three browsers, comes back to it as late transport-wide feedback): it turns its upper layers
    // off and climbs back at Chromium's pace, ~50 kbit/s a second. Its three layers are given up to 30 s
    // to be three sizes again, so that what each page shows tells the layers apart. In some runs (one CI
    // run, 2 of 6 here) the estimate stayed at 92–94 kbit/s for good with only its 320x180 layer on (every
    // rendition then 320x180): the routing is still checked, the sizes cannot tell it, and the log says so.
    const threeSizes = () => {
      const sizes = server.rtc.stats().source.renditions.map(({ height }) => height ?? 0);
      return sizes.length === 3 && sizes[0]! > sizes[1]! && sizes[1]! > sizes[2]!;
    };
    if (!(await waitFor(threeSizes, 30_000, 500))) {
      console.log(`the publisher's layers did not come back to three sizes: ${await publisherLayers()}`);
    }
    // The layers' sizes now: a starved publishing Chromium scales its layers down for a while and back up
    // (a CI run: the middle layer 320x180 when the viewers settled, 640x360 by the time they were measured).
    const layerSizes = () => server.rtc.stats().source.renditions.map(({ width, height }) => `${width}x${height}`);
    // A switch that has just happened shows once its keyframe has crossed the link (a GOP at 300 kbit/s
    // takes a moment): wait for every page to show its rendition's size before measuring.
    const showing = (page: Page) => page.evaluate(() => {
      const video = document.querySelector('video');
      return video ? `${video.videoWidth}x${video.videoHeight}` : '';
    });
    // A viewer may still switch while the pages are measured (a probe that found room for the next layer,
    // or overshot a 700 kbit/s link and stepped it down: 1–4 round trips between two layers in a 25 s run
    // here): then it is measured again, up to three times, and each page is compared with the renditions it
    // had during its measure (and the wait for its pages just before). They are watched all through (every
    // 50 ms), not only read before and after: one run here stepped up 2 → 1 near the measure's end and back
    // down 330 ms later, between the two reads, and its page ended the measure on the step up's 640x360.
    const watchRenditions = () => {
      const seen = renditions().map((rendition) => new Set([rendition]));
      const timer = setInterval(() => renditions().forEach((rendition, index) => seen[index]?.add(rendition)), 50);
      return () => {
        clearInterval(timer);
        return seen;
      };
    };
    let measured: number[] = [];
    let shown: Array<readonly [string, Awaited<ReturnType<typeof measureFrames>>]> = [];
    // The renditions each viewer had during the last measure, and their sizes when it began and ended: a
    // page shows one of them.
    let seen: Array<Set<number | undefined>> = [];
    let sizes: Array<Array<string | undefined>> = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      measured = renditions() as number[];
      const stopWatching = watchRenditions();
      await waitFor(async () => {
        const onPages = await Promise.all(pages.map(([, page]) => showing(page)));
        const now = layerSizes();
        return onPages.every((size, index) => size === now[measured[index]!]);
      }, 10_000, 500);
      const before = layerSizes();
      shown = await Promise.all(pages.map(async ([name, page]) => [name, await measureFrames(page, 2_000)] as const));
      const after = layerSizes();
      // A switch just after the measure cannot have reached its page: 300 ms more are watched.
      await sleep(300);
      seen = stopWatching();
      sizes = seen.map((renditionsSeen) => [...renditionsSeen].flatMap((rendition) => rendition === undefined ? [] : [before[rendition], after[rendition]]));
      if (seen.every((renditionsSeen, index) => renditionsSeen.size === 1 && renditionsSeen.has(measured[index]))) break;
    }
    const report = shown.map(([name, frames]) => `${name}: ${frames.width}x${frames.height} at ${frames.fps.toFixed(1)} fps`).join('; ');
    const during = seen.map((renditionsSeen) => [...renditionsSeen].join(' and '));
    console.log(`simulcast viewers: ${report}; their renditions ${JSON.stringify(measured)} (during the measure ${JSON.stringify(during)}, now ${JSON.stringify(renditions())}), those sizes before and after: ${JSON.stringify(sizes)}; the publisher's layers: ${await publisherLayers()}`);
    assert.ok(settled, `renditions ${JSON.stringify(renditions())}: ${report}; the publisher's layers: ${await publisherLayers()}`);
    // What each page shows is its rendition's picture.
    measured.forEach((_, index) => {
      const [, frames] = shown[index]!;
      assert.ok(sizes[index]!.includes(`${frames.width}x${frames.height}`),
        `${shown[index]![0]} shows its rendition (${during[index]}): ${frames.width}x${frames.height}, the rendition ${sizes[index]!.join(' then ')}`);
    });
    // Playing, at whatever rate this machine lets three browsers decode and one encode (the frame rates
    // are the browsers' and the publisher's, measured elsewhere; this test is about who gets which layer).
    // A page that showed fewer than 5 frames in its 2 s (the publisher's encoder starved for a moment, as
    // in one CI run: 2 fps at 1280x720) is given 5 s more: playing, slowly, is playing.
    for (const [index, [name, frames]] of shown.entries()) {
      if (frames.framesPresented < 5) shown[index] = [name, await measureFrames(pages[index]![1], 5_000)];
    }
    assert.ok(shown.every(([, frames]) => frames.framesPresented >= 5),
      `every viewer plays: ${shown.map(([name, frames]) => `${name} ${frames.framesPresented} frames`).join(', ')}`);
  });
});
