/**
 * Hostile input, short run (issue 16): every family of test/e2e/hostile/families.ts against a connected
 * werift viewer while a bystander and a Chromium page watch too, then a handshake held open under fire
 * and forged handshakes. Nothing may silence a viewer (longest frame gap ≤ 200 ms), grow the server's
 * memory (≤ 20 MB) or get an answer without authentication; a new viewer connects at the end.
 * Loopback only, bounded in packets. `npm run fuzz` is the long run.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openPlayer, sleep, tempDir, waitFor, type WeriftViewer } from '../helpers.ts';
import { FAMILIES, type Arena } from './families.ts';
import {
  blast, connectLoopbackViewer, iceTargetsOf, inject, longestGapMs, raisePriority, routeOf, StallClock, startHost, type HostProcess,
} from './harness.ts';
import { hostileRecord, hugeFragment, mutatedClientHello, random, strayFragment } from './packets.ts';
import { connectForgingViewer, connectHeldViewer } from './scenarios.ts';

const MAX_GAP_MS = 200;
const MAX_RSS_GROWTH = 20 * 1024 * 1024;
const seed = Number(process.env.HOSTILE_SEED ?? Date.now() % 1_000_000);

/**
 * Starts recording, in the page: every 20 ms, since when its connection has had no video packet (the
 * stats' lastPacketReceivedTimestamp, from WebRTC's network thread: the page's rendering and timers
 * cannot delay it), keeping the silences longer than 100 ms; and each frame its <video> shows.
 */
const recordPlayback = (page: Page) =>
  page.evaluate(() => {
    const video = document.querySelector('video')!;
    const pc = (window as unknown as { webgear: { pc: RTCPeerConnection } }).webgear.pc;
    const record = { silences: new Map<number, number>(), frames: 0, start: performance.now() };
    (window as unknown as { hostile: typeof record }).hostile = record;
    const onFrame = () => {
      record.frames++;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    setInterval(async () => {
      (await pc.getStats()).forEach((entry: { type: string; kind?: string; timestamp: number; lastPacketReceivedTimestamp?: number }) => {
        const last = entry.lastPacketReceivedTimestamp;
        if (entry.type === 'inbound-rtp' && entry.kind === 'video' && last && entry.timestamp - last > 100) {
          record.silences.set(last, Math.max(record.silences.get(last) ?? 0, entry.timestamp)); // epoch ms
        }
      });
    }, 20);
  });

/** Since `recordPlayback`: the page's silences ([from, to], epoch ms), the frames it showed a second, its connection. */
const playbackReport = (page: Page) =>
  page.evaluate(() => {
    const { silences, frames, start } = (window as unknown as { hostile: { silences: Map<number, number>; frames: number; start: number } }).hostile;
    const webgear = (window as unknown as { webgear: { state: string; attempts: number } }).webgear;
    return { silences: [...silences], fps: (frames * 1000) / (performance.now() - start), state: webgear.state, attempts: webgear.attempts };
  });

describe(`hostile input (seed ${seed}): no packet silences a viewer, grows memory or skips authentication`, { timeout: 150_000 }, () => {
  const data = tempDir();
  let host: HostProcess;
  let watcher: WeriftViewer;
  let bystander: WeriftViewer;
  let browser: Browser | undefined;
  let page: Page;
  let baselineRss = 0;
  let clock: StallClock;
  let attackStart = 0;
  const others: WeriftViewer[] = [];
  const arena = (): Arena => ({ watcher, rng: random(seed), scale: 1 });

  before(async () => {
    host = await startHost(data.path, { resolution: [320, 240] });
    clock = new StallClock();
    clock.watch(host.pid);
    raisePriority(process.pid);
    watcher = await connectLoopbackViewer(host.url);
    bystander = await connectLoopbackViewer(host.url);
    await Promise.all([watcher.connected, bystander.connected]);
    raisePriority(host.pid); // and its ffmpeg, started with the first viewer
    const ffmpeg = (await host.state()).source.pid;
    if (ffmpeg) clock.watch(ffmpeg);
    browser = await launchChromium();
    page = await browser.newPage();
    raisePriority(process.pid); // the browser's processes too
    await openPlayer(page, host.url);
    await waitFor(() => watcher.frames > 30 && bystander.frames > 30, 5_000);
    // A first round of every family, other seed: the allocator's high-water mark for such a flood
    // (~28 MB the first time, measured) is not memory the server keeps; what it keeps grows with each round.
    for (const family of FAMILIES) if (!family.skip?.()) await family.run({ watcher, rng: random(seed - 1), scale: 1 });
    baselineRss = (await host.state()).rss;
    await recordPlayback(page);
    attackStart = performance.now();
  });

  // HOSTILE_DEBUG=1: the watcher's longest gap in each test, as seen and as counted.
  let testStart = 0;
  beforeEach(() => (testStart = performance.now()));
  afterEach(() => {
    if (process.env.HOSTILE_DEBUG) console.log(`  watcher's longest frame gap: ${JSON.stringify(longestGapMs(watcher, testStart, performance.now(), clock))}`);
  });

  after(async () => {
    clock?.stop();
    await browser?.close();
    await Promise.all([watcher, bystander, ...others].map((viewer) => viewer?.close()));
    await host?.stop();
    data.cleanup();
  });

  for (const family of FAMILIES) {
    const skip = family.skip?.();
    test(family.name, skip ? { skip } : {}, async () => {
      const outcome = await family.run(arena());
      if (family.name.startsWith('STUN with the session')) {
        const details = outcome.details as Record<string, unknown> & { flood: Record<string, number>; floodSeconds: number };
        assert.equal((details.unknownAttribute as Record<string, number>).success, undefined, 'no success for an unknown comprehension-required attribute');
        assert.equal(details.unknownAttributeError, 420, JSON.stringify(details));
        assert.equal(details.probe, 'success', `the server is still the controlled agent (no 487): ${JSON.stringify(details)}`);
        // Answers: a burst of 100, then 50 a second; checks: at most 16 peer-reflexive pairs, 5 tries each.
        assert.ok((details.flood.success ?? 0) <= 100 + 50 * details.floodSeconds + 2, JSON.stringify(details));
        assert.ok((details.flood.request ?? 0) <= 16 * 5, JSON.stringify(details));
      } else {
        assert.equal(outcome.answers, 0, `${outcome.answers} answers to ${outcome.sent} datagrams, the first ${outcome.sample}`);
      }
      assert.ok(watcher.pc.connectionState === 'connected', 'the watcher is connected');
    });
  }

  test('a session still handshaking: nothing from other addresses fails it, fragments do not grow memory', async () => {
    const rng = random(seed + 1);
    const held = await connectHeldViewer(host.url);
    others.push(held.viewer);
    const before = host.rss();
    // From anywhere but its checked pair: a malformed ClientHello here would fail a session still handshaking.
    for (const target of [routeOf(held.viewer).server, ...iceTargetsOf(held.viewer.answerSdp)]) {
      const outcome = await blast(target, Array.from({ length: 200 }, () => (rng.next() < 0.5 ? mutatedClientHello(rng) : hostileRecord(rng))));
      assert.equal(outcome.answers.length, 0, 'no HelloVerifyRequest, no alert');
    }
    // From its own pair: 20 messages announced at 16 MiB and 8000 fragments that never complete.
    await inject(held.viewer, (function* () {
      for (let i = 0; i < 20; i++) yield hugeFragment(rng);
      for (let i = 0; i < 8_000; i++) yield strayFragment(rng);
    })());
    await sleep(300);
    const growth = host.rss() - before;
    assert.ok(growth <= MAX_RSS_GROWTH, `RSS grew ${(growth / 1e6).toFixed(1)} MB while a handshake was fragmented at`);
    held.release();
    await held.viewer.connected;
    assert.ok(await waitFor(() => held.viewer.frames > 5, 5_000), `the held viewer gets its picture (${held.viewer.frames} frames)`);
    await held.viewer.close(); // the memory at the end is compared with the same viewers as at the start
  });

  for (const forge of ['certificate-verify', 'finished'] as const) {
    test(`a forged handshake (garbage ${forge === 'finished' ? 'Finished' : 'CertificateVerify'}) gets no SRTP`, async () => {
      const forger = await connectForgingViewer(host.url, forge);
      others.push(forger);
      await sleep(1_500);
      assert.notEqual(forger.pc.connectionState, 'connected');
      assert.equal(forger.packets, 0, 'no RTP');
      assert.notEqual((await host.viewerStates()).get(forger.publicId), 'connected');
      await forger.close();
    });
  }

  test('the watcher, the bystander and the Chromium page kept their picture; memory; a new viewer connects', async () => {
    const attackEnd = performance.now();
    for (const [name, viewer] of [['watcher', watcher], ['bystander', bystander]] as const) {
      const gap = longestGapMs(viewer, attackStart, attackEnd, clock);
      console.log(`${name}: longest frame gap ${gap.server.toFixed(0)} ms (${gap.raw.toFixed(0)} ms with this process's own stalls) over ${((attackEnd - attackStart) / 1000).toFixed(1)} s of attacks`);
      assert.ok(gap.server <= MAX_GAP_MS, `${name}: longest frame gap ${gap.server.toFixed(0)} ms`);
      assert.equal(viewer.pc.connectionState, 'connected', `${name} is connected`);
    }
    const states = await host.viewerStates();
    assert.equal(states.get(watcher.publicId), 'connected');
    assert.equal(states.get(bystander.publicId), 'connected');
    const frames = watcher.frames;
    assert.ok(await waitFor(() => watcher.frames > frames + 10, 2_000), 'the watcher still gets frames');
    // A silence of the page is the server's doing only if the bystander, fed by the same loop of the same
    // server, got nothing then either (less this process's stalls): else the page's machine was busy.
    const chromium = await playbackReport(page);
    const silences = chromium.silences.map(([from, to]) => {
      const [start, end] = [from - performance.timeOrigin, to - performance.timeOrigin];
      return { seen: end - start, server: Math.min(end - start, longestGapMs(bystander, start, end, clock).server) };
    });
    const silence = silences.reduce((worst, each) => (each.server > worst.server ? each : worst), { seen: 0, server: 0 });
    const seen = Math.max(0, ...silences.map((each) => each.seen));
    const longest = silences.length ? `${silence.server.toFixed(0)} ms (${seen.toFixed(0)} ms as the page saw it)` : 'under 100 ms';
    console.log(`Chromium: longest time without a video packet ${longest}, ${chromium.fps.toFixed(1)} frames/s shown, ${chromium.state}, ${chromium.attempts} reconnects`);
    assert.equal(chromium.state, 'connected');
    assert.equal(chromium.attempts, 0, 'the page never reconnected');
    assert.ok(silence.server <= MAX_GAP_MS, `Chromium: ${silence.server.toFixed(0)} ms without a video packet`);
    assert.ok(chromium.fps >= 15, `Chromium showed ${chromium.fps.toFixed(1)} frames/s`);
    const growth = (await host.state()).rss - baselineRss;
    console.log(`server RSS growth ${(growth / 1e6).toFixed(1)} MB`);
    assert.ok(growth <= MAX_RSS_GROWTH, `server RSS grew ${(growth / 1e6).toFixed(1)} MB`);
    const newcomer = await connectLoopbackViewer(host.url);
    others.push(newcomer);
    await newcomer.connected;
    assert.ok(await waitFor(() => newcomer.frames > 5, 5_000), 'a new viewer gets its picture');
  });
});
