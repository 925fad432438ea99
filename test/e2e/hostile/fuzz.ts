/**
 * `npm run fuzz`: the hostile-input families of test/e2e/hostile/families.ts in rounds, each with a new seed
 * and FUZZ_SCALE times the short run's packets, plus a handshake held open under fire and forged
 * handshakes every round, against one server (in its own process) while a werift viewer is attacked and
 * another watches. After every round: both still connected with their picture (longest frame gap
 * ≤ 200 ms, less what the machine's other work explains: StallClock), no answer to unauthenticated
 * STUN, the server's memory within 20 MB of where it was after the first round. At the end a new viewer
 * connects. Stops at the first failure and prints its seed (HOSTILE_SEED replays the short run's).
 *   FUZZ_SECONDS=600 FUZZ_SCALE=4 npm run fuzz
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir, waitFor, type WeriftViewer } from '../helpers.ts';
import { FAMILIES } from './families.ts';
import { blast, connectLoopbackViewer, inject, longestGapMs, raisePriority, routeOf, StallClock, startHost } from './harness.ts';
import { hugeFragment, malformedClientHello, mutatedClientHello, random, strayFragment } from './packets.ts';
import { connectForgingViewer, connectHeldViewer } from './scenarios.ts';

const seconds = Number(process.env.FUZZ_SECONDS ?? 300);
const scale = Number(process.env.FUZZ_SCALE ?? 3);
const MAX_GAP_MS = 200;
const MAX_RSS_GROWTH = 20 * 1024 * 1024;

const data = tempDir();
const host = await startHost(data.path, { resolution: [320, 240] });
const clock = new StallClock();
clock.watch(host.pid);
const viewers: WeriftViewer[] = [];
let failure: string | undefined;
const fail = (message: string) => {
  failure ??= message;
  console.error(`FAIL: ${message}`);
};

try {
  raisePriority(process.pid);
  const watcher = await connectLoopbackViewer(host.url);
  const bystander = await connectLoopbackViewer(host.url);
  viewers.push(watcher, bystander);
  await Promise.all([watcher.connected, bystander.connected]);
  raisePriority(host.pid);
  const ffmpeg = (await host.state()).source.pid;
  if (ffmpeg) clock.watch(ffmpeg);
  await waitFor(() => watcher.frames > 30, 5_000);
  const end = Date.now() + seconds * 1000;
  let baseline: number | undefined;
  for (let round = 1; Date.now() < end && !failure; round++) {
    const seed = Math.floor(Math.random() * 1e9);
    const rng = random(seed);
    const start = performance.now();
    /** What ran when: a gap is reported with the phase it fell in. */
    const phases: [string, number][] = [];
    const phase = (name: string) => phases.push([name, performance.now()]);
    let sent = 0;
    for (const family of FAMILIES) {
      if (family.skip?.()) continue;
      phase(family.name);
      const outcome = await family.run({ watcher, rng, scale });
      sent += outcome.sent;
      if (family.name.startsWith('STUN with the session')) {
        const details = outcome.details as { probe: string; unknownAttribute: Record<string, number> };
        if (details.probe !== 'success' || details.unknownAttribute.success) fail(`round ${round} (seed ${seed}): ${family.name}: ${JSON.stringify(details)}`);
      } else if (outcome.answers > 0) {
        fail(`round ${round} (seed ${seed}): ${family.name}: ${outcome.answers} answers, the first ${outcome.sample}`);
      }
    }
    // A handshake held open: anything from other addresses, its own fragments; then it must connect.
    phase('a handshake held open');
    const held = await connectHeldViewer(host.url);
    for (const target of [routeOf(held.viewer).server]) {
      const outcome = await blast(target, Array.from({ length: 300 * scale }, () => (rng.next() < 0.5 ? malformedClientHello(rng) : mutatedClientHello(rng))));
      sent += outcome.sent;
      if (outcome.answers.length) fail(`round ${round} (seed ${seed}): a handshaking session answered another address`);
    }
    sent += await inject(held.viewer, (function* () {
      for (let i = 0; i < 20; i++) yield hugeFragment(rng);
      for (let i = 0; i < 3_000 * scale; i++) yield strayFragment(rng);
    })());
    held.release();
    if (!(await held.viewer.connected.then(() => true, () => false))) fail(`round ${round} (seed ${seed}): the held viewer did not connect`);
    await held.viewer.close();
    // Forged handshakes.
    phase('forged handshakes');
    for (const forge of ['certificate-verify', 'finished'] as const) {
      const forger = await connectForgingViewer(host.url, forge);
      await sleep(1_500);
      if (forger.pc.connectionState === 'connected' || forger.packets > 0) fail(`round ${round}: a forged ${forge} handshake got through`);
      await forger.close();
    }
    const finish = performance.now();
    for (const [name, viewer] of [['watcher', watcher], ['bystander', bystander]] as const) {
      const gap = longestGapMs(viewer, start, finish, clock);
      if (gap.server > MAX_GAP_MS) {
        const worst = phases.map(([phaseName, from], i) => [phaseName, longestGapMs(viewer, from, phases[i + 1]?.[1] ?? finish, clock).server] as const)
          .reduce((a, b) => (b[1] > a[1] ? b : a));
        fail(`round ${round} (seed ${seed}): ${name}'s longest frame gap ${gap.server.toFixed(0)} ms, during "${worst[0]}"`);
      }
      if (viewer.pc.connectionState !== 'connected') fail(`round ${round}: ${name} is ${viewer.pc.connectionState}`);
    }
    const states = await host.viewerStates();
    if (states.get(watcher.publicId) !== 'connected' || states.get(bystander.publicId) !== 'connected') fail(`round ${round}: /stats says ${JSON.stringify([...states])}`);
    const { rss } = await host.state(); // a full collection: after the gaps were measured
    baseline ??= rss; // after the first round: the allocator's high-water mark for a flood is not growth
    const gaps = [watcher, bystander].map((viewer) => longestGapMs(viewer, start, finish, clock));
    console.log(
      `round ${round} (seed ${seed}): ${sent} datagrams in ${((finish - start) / 1000).toFixed(1)} s; longest frame gap ${gaps.map((gap) => `${gap.server.toFixed(0)} ms (${gap.raw.toFixed(0)} seen)`).join(', ')}; RSS ${(rss / 1e6).toFixed(1)} MB (${((rss - baseline) / 1e6).toFixed(1)} MB since round 1)`,
    );
    if (rss - baseline > MAX_RSS_GROWTH) fail(`round ${round}: RSS grew ${((rss - baseline) / 1e6).toFixed(1)} MB since round 1`);
  }
  const newcomer = await connectLoopbackViewer(host.url);
  viewers.push(newcomer);
  await newcomer.connected;
  if (!(await waitFor(() => newcomer.frames > 5, 5_000))) fail('a new viewer gets no picture');
} catch (error) {
  fail(String((error as Error).stack ?? error));
} finally {
  clock.stop();
  await Promise.all(viewers.map((viewer) => viewer.close()));
  await host.stop();
  data.cleanup();
}
console.log(failure ? `fuzz: FAILED: ${failure}` : `fuzz: passed (${seconds} s, scale ${scale})`);
process.exit(failure ? 1 : 0); // werift's DTLS retransmission timers of the forgers would keep it ~30 s
