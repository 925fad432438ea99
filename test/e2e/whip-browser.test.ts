/**
 * WHIP ingest from a browser (issue #11 item 2): Chromium's /publish page with a fake 720p camera publishes
 * three simulcast encodings; they become the ladder's three renditions, top first; viewers in Chromium
 * play the top one as it is sent (a werift publisher's 720p at ≥ 25 fps); the publisher killed and back, the
 * viewers recover by themselves.
 * Viewers on other renditions through real capped links: whip-browser-links.test.ts (root).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { WhipStats } from 'webgear-rtc';
import { closePublishers, launchPublisher, publishFromPage, publishWithWerift, whipStats } from './publishers.ts';
import { dropsOfProcess } from '../../bench/loadgen/proc.ts';
import {
  assertPlaysAt, launchChromium, listProcesses, measureFrames, measurePlayback, sleep, sourceFrames, startServer, tempDir,
  testOptions, videoInbound, waitFor, type TestServer,
} from './helpers.ts';

/** The layers as `id width x height → streams`, top first. */
const layout = (stats: WhipStats): string[] =>
  [...stats.layers].sort((a, b) => a.streams[0]! - b.streams[0]!).map(({ width, height, streams }) => `${width}x${height}→${streams.join(',')}`);

describe('WHIP ingest from Chromium (/publish, fake camera, simulcast)', { timeout: 120_000 }, () => {
  const data = tempDir();
  let server: TestServer;
  let publisher: Browser | undefined;
  let viewer: Browser;
  before(async () => {
    server = await startServer(testOptions(data.path, { source: 'whip', enableInfiniteFrames: true }));
    [publisher, viewer] = await Promise.all([launchPublisher(), launchChromium()]);
  });
  after(async () => {
    await publisher?.close().catch(() => undefined);
    await viewer?.close();
    await server?.close();
    data.cleanup();
  });

  test('three encodings → three renditions, top first (1280x720, 640x360, 320x180), each at ≥ 25 fps', async () => {
    const publishing = await publisher!.newPage();
    await publishFromPage(publishing, server.url);
    const expected = ['1280x720→0', '640x360→1', '320x180→2'];
    assert.ok(await waitFor(() => layout(whipStats(server)).join() === expected.join(), 20_000), `layers: ${layout(whipStats(server))}`);
    assert.ok(await waitFor(() => server.rtc.stats().source.renditions.every((rendition) => rendition.framesPerSecond >= 25), 10_000),
      `renditions: ${JSON.stringify(server.rtc.stats().source.renditions)}`);
    const { source } = server.rtc.stats();
    assert.deepEqual(source.renditions.map(({ width, height }) => `${width}x${height}`), ['1280x720', '640x360', '320x180']);
    assert.equal(source.state, 'running');
    assert.ok(source.audio && source.audio.packets > 0, "the page's sound (Opus) arrives too");
    assert.deepEqual(whipStats(server).layers.map((layer) => layer.id).sort(), ['h', 'l', 'm'], 'by their RIDs');
    // Our transport-wide feedback is what lets Chromium estimate its uplink (werift's own kept it near
    // 100 kbit/s on this link, its upper layers off).
    // The selected pair's estimate (a nominated pair may be listed beside it without one), polled: it climbs.
    const uplink = () => publishing.evaluate(async () => {
      const pc = (window as unknown as { webgearPublish: { pc: RTCPeerConnection } }).webgearPublish.pc;
      const reports = new Map<string, { type: string; selectedCandidatePairId?: string; availableOutgoingBitrate?: number }>();
      (await pc.getStats()).forEach((report: { id: string; type: string }) => reports.set(report.id, report));
      const transport = [...reports.values()].find((report) => report.type === 'transport' && report.selectedCandidatePairId);
      return reports.get(transport?.selectedCandidatePairId ?? '')?.availableOutgoingBitrate ?? 0;
    });
    let estimate = 0;
    await waitFor(async () => (estimate = await uplink()) >= 1_000_000, 10_000);
    assert.ok(estimate >= 1_000_000, `the publisher's estimate of its uplink: ${Math.round(estimate / 1000)} kbit/s`);
  });

  test('a viewer in Chromium plays the top rendition as the publisher sends it, the server dropping nothing', async () => {
    // What the viewer can show is what the publishing browser encodes: on a busy machine its encoder may
    // lower its frame rate for a while (Chrome's CPU adaptation). Measured once it sends 30 fps again.
    assert.ok(await waitFor(() => server.rtc.stats().source.renditions[0]!.framesPerSecond >= 28, 15_000), 'the publisher sends 30 fps');
    const page = await viewer.newPage();
    await measurePlayback(page, `${server.url}/`, 1_000);
    const view = () => JSON.stringify(server.rtc.stats().viewers.map((one) => one.video));
    assert.ok(await waitFor(() => server.rtc.stats().viewers[0]?.video?.rendition === 0, 15_000), `on the top rendition: ${view()}`);
    // A join costs the publisher its uplink estimate for a while: this process (the server's) stalls during
    // it, the publishing Chromium reads the late feedback as congestion (locally: 1.3 → 0.7 Mbit/s during a
    // join), gives its top layer what little is left (1280x720 at 1–6 fps, libvpx dropping frames) or turns
    // it off (the top rendition is then the 640x360 layer), and climbs back at its own pace (~8 % a second).
    // CI runs on a slow day measured exactly that: 2.7 and 6.0 fps, and 640x360. The viewer is measured once
    // the publisher sends its top layer whole again and the page shows it.
    const top = () => server.rtc.stats().source.renditions[0]!;
    const showing = () => page.evaluate(() => `${document.querySelector('video')!.videoWidth}x${document.querySelector('video')!.videoHeight}`);
    // A measure in which the publisher fell back under 20 fps (a CI run: 3.7 fps, 1.5 s after it had sent 25) says
    // little of the viewer, whose 3 s then hold a dozen frames: the measure is taken again, up to 3 times.
    let report: PublisherMeasure | undefined;
    let sizes: string[] = [];
    for (let attempt = 0; attempt < 3 && !(report && report.sourceFps! >= 20); attempt++) {
      assert.ok(await waitFor(async () => top().height === 720 && top().framesPerSecond >= 25 && (await showing()) === '1280x720', 30_000, 250),
        `the publisher's top layer whole again and shown: ${JSON.stringify(top())}, the page ${await showing()}`);
      // Measured once playing (a 720p decoder on a busy machine takes a second or two to keep up).
      await sleep(1_500);
      const topBefore = top();
      report = await measureAgainstPublisher(page, server);
      // The top rendition's size as it was when the measure began or ended (the publisher may step again).
      sizes = [topBefore, top()].map(({ width, height }) => `${width}x${height}`);
    }
    report = report!;
    assert.ok(sizes.includes(`${report.width}x${report.height}`), `${report.width}x${report.height}, the top rendition ${sizes.join(' then ')}; the server's view: ${view()}`);
    // The server's part, strictly: it passed the viewer every frame (no frame dropped by its pacer, no loss
    // to repair on loopback). The browser's part against what the publisher sent in the same 3 s: on this
    // 2-core machine the viewer's 720p decoder, beside a Chromium encoding three layers, does not keep up
    // all the time (here: 22.7 fps decoded, 22.0 shown of 27.5 sent, nothing lost).
    const viewerStats = server.rtc.stats().viewers[0]?.video;
    assert.equal(viewerStats?.pacer.dropped, 0, `the server's view: ${view()}`);
    assert.equal(viewerStats?.nacks.requested, 0, `the server's view: ${view()}`);
    assertKeepsUpWithPublisher(report);
    assert.equal(report.state, 'connected');
    await page.close();
  });

  test('the publishing browser killed: "No Input"; a new one publishes: the viewer recovers by itself', async () => {
    const page = await viewer.newPage();
    await measurePlayback(page, `${server.url}/`, 1_000);
    const [pid] = listProcesses()
      .filter((info) => info.ppid === process.pid && info.cmdline.includes('use-fake-device-for-media-stream'))
      .map((info) => info.pid);
    assert.ok(pid, 'the publishing browser\'s process');
    process.kill(pid, 'SIGKILL');
    publisher = undefined;
    assert.ok(await waitFor(() => server.rtc.stats().source.state === 'waiting', 10_000), `state ${server.rtc.stats().source.state}`);
    assert.ok(await waitFor(() => server.rtc.stats().source.slate === 'No Input', 5_000));
    publisher = await launchPublisher();
    const publishing = await publisher.newPage();
    await publishFromPage(publishing, server.url);
    assert.ok(await waitFor(() => server.rtc.stats().source.state === 'running' && !server.rtc.stats().source.slate, 15_000));
    // The new publisher's encoder starts low (its estimate, and Chrome's CPU adaptation on a busy machine):
    // the viewer is measured once the publisher sends 30 fps again, as in the test before.
    assert.ok(await waitFor(() => server.rtc.stats().source.renditions[0]!.framesPerSecond >= 28, 15_000),
      `the new publisher sends 30 fps: ${server.rtc.stats().source.renditions[0]!.framesPerSecond}`);
    await sleep(1_000); // the viewer's decoder catches up with what it was sent
    // Against what the publisher sent in the same 3 s: on a busy machine it may dip under 28 again (a CI run:
    // the viewer 24.7 fps), and the viewer can only show what came. Before the fix this guards, it stayed frozen.
    assertKeepsUpWithPublisher(await measureAgainstPublisher(page, server));
    assert.equal(await page.evaluate(() => (window as unknown as { webgear: { attempts: number } }).webgear.attempts), 0,
      'the viewer never had to reconnect');
    // Stop: the page DELETEs its publication (at once, not after the 3 s of a picture that stopped).
    await publishing.click('#stop');
    assert.ok(await waitFor(() => whipStats(server).publisher === undefined, 2_000), 'the publication ended');
    assert.equal(server.rtc.stats().source.state, 'waiting');
    assert.equal(await publishing.textContent('#status'), 'not publishing');
    await page.close();
  });
});

describe("WHIP ingest: the publisher's packets wait in the kernel while the server is busy", { timeout: 60_000 }, () => {
  const data = tempDir();
  after(() => data.cleanup());

  test('a 1.5 s stall of the server loses none of what the publishing Chromium sends meanwhile', async () => {
    const server = await startServer(testOptions(data.path, { source: 'whip' }));
    const publisher = await launchPublisher();
    try {
      await publishFromPage(await publisher.newPage(), server.url);
      // Sending its three layers: ~1–3 Mbit/s, which fills the kernel's default 208 KB in well under 1.5 s.
      assert.ok(await waitFor(() => server.rtc.stats().source.renditions.length === 3 && server.rtc.stats().source.bitrate > 300_000, 20_000),
        `the publisher sends: ${JSON.stringify(server.rtc.stats().source)}`);
      const dropped = () => [...(dropsOfProcess(process.pid)?.values() ?? [])].reduce((sum, drops) => sum + drops, 0);
      const before = dropped();
      const packetsBefore = server.rtc.stats().source.packets;
      // This process is the server's: as a burst of joins, a long GC or a machine short of CPU would hold it.
      const end = performance.now() + 1_500;
      while (performance.now() < end);
      await sleep(500);
      const lost = dropped() - before;
      const report = `${lost} datagrams dropped by the kernel at this process's sockets; the top layer brought ${server.rtc.stats().source.packets - packetsBefore} packets in those 2 s`;
      console.log(`a 1.5 s stall: ${report}`);
      // Before the receive buffer was enlarged: hundreds, and the publisher read them as congestion.
      assert.equal(lost, 0, report);
    } finally {
      await publisher.close();
      await server.close();
    }
  });
});

describe('WHIP ingest from a werift publisher, played in Chromium', { timeout: 60_000 }, () => {
  const data = tempDir();
  after(async () => {
    await closePublishers();
    data.cleanup();
  });

  test('the player page shows the published 720p at ≥ 25 fps, with its sound', async () => {
    const server = await startServer(testOptions(data.path, { source: 'whip' }));
    const browser = await launchChromium();
    try {
      const publisher = await publishWithWerift(`${server.url}/whip`, { size: [1280, 720], bitrate: 2_000_000, audio: true });
      await publisher.connected;
      const page = await browser.newPage();
      await measurePlayback(page, `${server.url}/`, 1_000, { size: [1280, 720] });
      await sleep(1_500); // playing: the decoder has caught up
      const report = await measureFrames(page, 3_000, sourceFrames(server));
      assert.deepEqual([report.width, report.height], [1280, 720]);
      assertPlaysAt(report, 25);
      assert.equal(await page.locator('#unmute').isVisible(), true, 'the page offers its sound');
      await publisher.close();
    } finally {
      await browser.close();
      await server.close();
    }
  });
});

type PublisherMeasure = Awaited<ReturnType<typeof measureFrames>> & { decodedFps: number };

/** 3 s of the page's playback, with the frames its decoder took and what the publisher sent in them. */
async function measureAgainstPublisher(page: Page, server: TestServer): Promise<PublisherMeasure> {
  const decodedBefore = (await videoInbound(page)).framesDecoded;
  const report = await measureFrames(page, 3_000, sourceFrames(server));
  return { ...report, decodedFps: ((await videoInbound(page)).framesDecoded - decodedBefore) / 3 };
}

/**
 * The viewer against what the publisher sent in the same 3 s: every frame sent decoded (80 %: the page's and
 * the server's windows are a frame or two apart at each edge), and at least min(25, 60 %) presented, for the
 * page's compositor shares 2 cores with two browsers encoding and decoding 720p (CI runs: 22.3 presented of
 * 27.3 sent; 3.0 of 3.7 while the publisher's encoder had fallen back; locally 19.0 decoded of 21.7, 17.0 shown).
 */
function assertKeepsUpWithPublisher(report: PublisherMeasure): void {
  const sent = report.sourceFps!;
  const text = `${report.fps.toFixed(1)} fps shown, ${report.decodedFps.toFixed(1)} decoded, of ${sent.toFixed(1)} sent`;
  assert.ok(report.decodedFps >= 0.8 * sent, text);
  assert.ok(report.fps >= Math.min(25, 0.6 * sent), text);
}
