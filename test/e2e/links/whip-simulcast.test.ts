/**
 * Simulcast ingest with viewers on different layers (issue #11 item 2): Chromium's /publish page sends
 * three encodings (720p, 360p, 180p) over WHIP; each viewer's sender gives it the layer its own link
 * carries. One viewer on this machine (no cap: the top), one behind a real 700 kbit/s link, one behind
 * 300 kbit/s (test/support/links). Needs root (network namespaces); skipped otherwise.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { measureFrames, openPlayer, tempDir, waitFor } from '../helpers.ts';
import { launchPublisher, publishFromPage, whipStats } from '../publishers.ts';
import { launchChromiumIn } from '../../support/links/browsers.ts';
import { createLink, type Link } from '../../support/links/link.ts';
import { startLinkServer, type LinkServer } from '../../support/links/server.ts';

const skip = process.getuid?.() !== 0 ? 'needs root: network namespaces, veth, tc and nftables' : false;
/** The two links' rate caps, kbit/s (the layers take about 1 200, 480 and 150 kbit/s). */
const CAPS = [700, 300];

describe('simulcast WHIP ingest: viewers behind different links get different layers', { skip, timeout: 120_000 }, () => {
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
  });
  after(async () => {
    await Promise.all(viewers.map((viewer) => viewer.close()));
    await publisher?.close();
    await server?.close();
    await Promise.all(links.map((link) => link.close()));
    data.cleanup();
  });

  test('720p, 360p and 180p: the top here, a lower one behind each capped link, each at its layer\'s size', async () => {
    // The publisher and the uncapped viewer are on this machine; the server listens on the links' addresses.
    const base = server.urlFor(links[0]!).replace(/\/$/, '');
    await publishFromPage(await publisher.newPage(), base);
    // Every layer sending (on a busy machine Chrome's encoder may lower a layer's frame rate for a while).
    assert.ok(await waitFor(() => whipStats(server).layers.length === 3 && server.rtc.stats().source.renditions.every((r) => r.framesPerSecond >= 5), 20_000),
      `three layers: ${JSON.stringify(server.rtc.stats().source.renditions)}`);
    const sizes = server.rtc.stats().source.renditions.map(({ width, height }) => `${width}x${height}`);
    assert.deepEqual(sizes, ['1280x720', '640x360', '320x180']);

    const pages: Array<[string, Page]> = [['here', await publisher.newPage()]];
    for (const [index, link] of links.entries()) {
      const viewer = await launchChromiumIn(link);
      viewers.push(viewer);
      pages.push([`${CAPS[index]} kbit/s`, await viewer.newPage()]);
    }
    await Promise.all(pages.map(([, page], index) => openPlayer(page, index === 0 ? `${base}/` : server.urlFor(links[index - 1]!))));
    // Each sender settles on its viewer's rendition (down at once, up after probing): a few seconds.
    const rendition = () => server.rtc.stats().viewers.map((viewer) => viewer.video?.rendition);
    const settled = await waitFor(async () => {
      const shown = await Promise.all(pages.map(([, page]) => page.evaluate(() => `${document.querySelector('video')!.videoWidth}x${document.querySelector('video')!.videoHeight}`)));
      return shown[0] === sizes[0] && shown[1] !== sizes[0] && shown[2] === sizes[2];
    }, 30_000, 500);
    const shown = await Promise.all(pages.map(async ([name, page]) => [name, (await measureFrames(page, 2_000))] as const));
    const report = shown.map(([name, frames]) => `${name}: ${frames.width}x${frames.height} at ${frames.fps.toFixed(1)} fps`).join('; ');
    console.log(`simulcast viewers: ${report}; renditions ${JSON.stringify(rendition())}`);
    assert.ok(settled, report);
    assert.equal(`${shown[0]![1].width}x${shown[0]![1].height}`, '1280x720', 'here: the top layer');
    assert.ok(['640x360', '320x180'].includes(`${shown[1]![1].width}x${shown[1]![1].height}`), 'behind 700 kbit/s: a lower layer');
    assert.equal(`${shown[2]![1].width}x${shown[2]![1].height}`, '320x180', 'behind 300 kbit/s: the lowest');
    assert.ok(shown.every(([, frames]) => frames.fps >= 5), 'every viewer plays');
  });
});
