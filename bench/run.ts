/**
 * `npm run bench`: the performance targets of issue #5, measured on this machine, printed as a table and
 * written to docs/benchmarks.md. Not part of `npm test`: timings on a shared machine are noisy, so every
 * figure is a median with its min–max.
 *
 *   npm run bench                      every scenario
 *   npm run bench -- latency firstFrame  some of them (latency, firstFrame, fanout, memory, encode)
 *   npm run bench -- crowd cap800        real-link ones (issue 17, bench/links.ts: root only; `links` for all,
 *                                        `links:firstFrame` for its first frame over 40 ms RTT)
 *   BENCH_SECONDS=600 npm run bench      the full run: latency (drift) and memory run 10 minutes each
 *
 * As root (and where `ip netns` works) a full run includes bench/links.ts's scenarios, in a child process
 * (bench/run-links.ts); otherwise it says they were skipped, and why.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import {
  CHROMIUM_PATH, connectWeriftViewer, launchChromium, makeTestVideo, openPlayer, processInfo, sleep, tempDir,
  type WeriftViewer,
} from '../test/e2e/helpers.ts';
import { noisyClip } from '../test/support/links/noisy-clip.ts';
import { linksUnavailable, runLinkScenarios, selectScenarios, type LinkRun } from './run-links.ts';
import { STAMP_BITS, STAMP_BLOCK, startStampedMjpegCamera } from './stamp.ts';

interface Row {
  target: string;
  goal: string;
  measured: string;
  /** undefined: a run too short to judge; null: a breakdown, not a target. */
  met: boolean | undefined | null;
}

const rows: Row[] = [];
const data = tempDir('webgear-rtc-bench-');
const root = join(import.meta.dirname, '..');

const median = (values: number[]) => quantile(values, 0.5);
function quantile(values: number[], q: number): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}
const range = (values: number[], digits = 0) =>
  `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
const cpuOf = (pid: number) => processInfo(pid)?.cpuSeconds ?? 0;

/**
 * The Node flags `npm start` runs the server with: a young generation of 3 × 8 MB instead of V8's default,
 * which grows to 128 MB under a packet-rate allocation load (docs/operations.md, "Memory").
 */
const SERVER_NODE_FLAGS = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8'))
  .scripts.start.split(' ').filter((arg: string) => arg.startsWith('--')) as string[];

/** The server in its own process (test/e2e/fixtures/host.ts), run as `npm start` runs it: its CPU and memory are its own. */
async function startHost(options: Record<string, unknown>, env: Record<string, string> = {}) {
  const args = [...SERVER_NODE_FLAGS, '--expose-gc', 'test/e2e/fixtures/host.ts', data.path, JSON.stringify(options)];
  const host = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    host.stdout!.on('data', (chunk: Buffer) => {
      output += chunk;
      const found = /URL (\S+)/.exec(output);
      if (found) resolve(found[1]!);
    });
    host.once('exit', (code) => reject(new Error(`the host exited (${code}): ${output}`)));
  });
  const ffmpegPid = () =>
    readChildren(host.pid!).find((pid) => processInfo(pid)?.cmdline.includes('rtp://127.0.0.1'));
  return {
    url,
    pid: host.pid!,
    ffmpegPid,
    /** `collect: false`: no full garbage collection first (samplers: one a second would pause the server). */
    state: async ({ collect = true }: { collect?: boolean } = {}) => (await (await fetch(`${url}/_state${collect ? '' : '?gc=0'}`)).json()) as {
      rss: number; heapUsed: number; viewers: number; inLane: number; source: { packets: number; framesPerSecond: number };
      load: { eventLoopDelayMs: number; eventLoopUtilization: number; overloaded: boolean };
      sendThread?: { queued: number; sentAtOnce: number; fullWaits: number; slotsUsed: number; capacity: number; trims: number };
    },
    async stop() {
      host.kill('SIGTERM');
      if (host.exitCode === null) await once(host, 'exit');
    },
  };
}

function readChildren(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Reads the stamp of every frame the page presents: wall-clock time shown minus time stamped, in ms. */
async function collectLatencies(page: Page, seconds: number): Promise<number[]> {
  return page.evaluate(
    async ({ seconds, bits, block }) => {
      const video = document.querySelector('video')!;
      const canvas = document.createElement('canvas');
      const context = canvas.getContext('2d', { willReadFrequently: true })!;
      const samples: number[] = [];
      await new Promise<void>((resolve) => {
        const end = performance.now() + seconds * 1000;
        const onFrame = (_now: number, metadata: { expectedDisplayTime: number }) => {
          canvas.width = video.videoWidth;
          canvas.height = block;
          context.drawImage(video, 0, 0);
          const pixels = context.getImageData(0, 0, bits * block, block).data;
          let stamp = 0;
          for (let bit = 0; bit < bits; bit++) {
            const offset = ((block >> 1) * bits * block + bit * block + (block >> 1)) * 4;
            stamp = stamp * 2 + (pixels[offset]! > 127 ? 1 : 0);
          }
          // On the wall clock, as the stamp: timeOrigin + a monotonic time drifts from Date.now() when the
          // system clock is slewed (here up to 0.4 ms/s, which read as "drift").
          const shown = (Date.now() + metadata.expectedDisplayTime - performance.now()) % 2 ** 32;
          samples.push(shown - stamp);
          if (performance.now() < end) video.requestVideoFrameCallback(onFrame);
          else resolve();
        };
        video.requestVideoFrameCallback(onFrame);
      });
      return samples;
    },
    { seconds, bits: STAMP_BITS, block: STAMP_BLOCK },
  );
}

/** How long the latency and memory runs last: 60 s by default, 600 s for the targets' 10 minutes. */
const LONG_RUN_SECONDS = Number(process.env.BENCH_SECONDS ?? 60);

/** Joins in the first-frame run: this shared machine is noisy, and a p95 needs some. */
const FIRST_FRAME_JOINS = 25;

type FloorPart = 'all' | 'encrypt' | 'send';

/**
 * What sending one packet to one viewer costs at least in Node here, in CPU µs per packet, done the way the
 * server does it with 40 viewers: a burst per frame of 4 packets × 40 viewers, 32 frames a second, each
 * packet encrypted with its viewer's key and sent from its own socket to its own receiver (another process).
 * `all`: a copy, SRTP's AES-128-GCM with the key as a KeyObject, the UDP send; `encrypt`: without the
 * send; `send`: only the send of the copy. The cost of the timer between bursts is taken off. The receivers
 * are paused, as the server's viewers are while its CPU is read.
 */
async function sendFloorMicroseconds(part: FloorPart): Promise<number> {
  const { createCipheriv, createSecretKey, randomBytes } = await import('node:crypto');
  const { createSocket } = await import('node:dgram');
  // A 720p VP8 frame is about 4 RTP packets, which ffmpeg sends back to back: one burst per frame.
  const viewers = 40;
  const packetsPerFrame = 4;
  const bursts = 150;
  const gapMs = 1000 / 32;
  // The receivers in their own process, so that receiving is not counted here (a closed port would make
  // the kernel answer every packet with an ICMP error, on our account).
  const sink = spawn(process.execPath, ['-e', `const dgram = require('node:dgram'); const ports = [];
    for (let i = 0; i < ${viewers}; i++) {
      const s = dgram.createSocket('udp4'); s.on('message', () => {});
      s.bind(0, '127.0.0.1', () => { ports.push(s.address().port); if (ports.length === ${viewers}) console.log(ports.join(',')); });
    }`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(sink.stdout!, 'data');
  const ports = String(line).trim().split(',').map(Number);
  const sockets = await Promise.all(
    ports.map(() => new Promise<ReturnType<typeof createSocket>>((resolve) => {
      const socket = createSocket('udp4');
      socket.bind(0, '127.0.0.1', () => resolve(socket));
    })),
  );
  const keys = ports.map(() => createSecretKey(randomBytes(16)));
  const packet = randomBytes(1200);
  const iv = randomBytes(12);
  const cpu = () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };
  const gaps = async () => {
    for (let burst = 0; burst < bursts; burst++) await sleep(gapMs);
  };
  // Paused, as the server's viewers are while its CPU is read: a receiver woken per packet would cost the
  // sender more kernel time than the server was charged.
  sink.kill('SIGSTOP');
  const timersStart = cpu();
  await gaps();
  const timers = cpu() - timersStart;
  const start = cpu();
  for (let burst = 0; burst < bursts; burst++) {
    for (let index = 0; index < packetsPerFrame * viewers; index++) {
      const viewer = index % viewers;
      const copy = Buffer.from(packet);
      copy.writeUInt32BE(viewer, 8); // the viewer's SSRC
      let srtp = copy;
      if (part !== 'send') {
        const cipher = createCipheriv('aes-128-gcm', keys[viewer]!, iv);
        cipher.setAAD(copy.subarray(0, 12));
        const body = cipher.update(copy.subarray(12));
        cipher.final();
        srtp = Buffer.concat([copy.subarray(0, 12), body, cipher.getAuthTag()]);
      }
      if (part !== 'encrypt') sockets[viewer]!.send(srtp, ports[viewer]!, '127.0.0.1');
    }
    await sleep(gapMs);
  }
  const used = cpu() - start - timers;
  for (const socket of sockets) socket.close();
  sink.kill('SIGKILL');
  return used / (bursts * packetsPerFrame * viewers);
}

/** bench/load.ts in its own process: `count` werift viewers of `offerUrl`, all receiving frames. */
async function startLoad(offerUrl: string, count: number) {
  const child = spawn(process.execPath, ['bench/load.ts', offerUrl, String(count)], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const next = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`bench/load.ts exited (${code}) before ${prefix}`));
      const onLine = (line: string) => {
        if (!line.startsWith(prefix)) return;
        lines.off('line', onLine);
        child.off('exit', onExit);
        resolve(line.slice(prefix.length).trim());
      };
      lines.on('line', onLine);
      child.once('exit', onExit);
    });
  await next('READY');
  return {
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    /** Each viewer's frames per second and % of packets lost over the next `seconds`. */
    async report(seconds: number): Promise<{ fps: number[]; loss: number[] }> {
      child.stdin!.write('mark\n');
      await sleep(seconds * 1000);
      const report = next('REPORT');
      child.stdin!.write('report\n');
      return JSON.parse(await report) as { fps: number[]; loss: number[] };
    },
    async stop() {
      child.kill('SIGCONT');
      child.stdin!.write('quit\n');
      if (child.exitCode === null) await Promise.race([once(child, 'exit'), sleep(5_000)]);
      child.kill('SIGKILL');
    },
  };
}
type Load = Awaited<ReturnType<typeof startLoad>>;

/**
 * The ladder's rungs and how many viewers get its top one (/stats): bench/load.ts's werift viewers offer no
 * transport-cc, so the server sends them the top rung unpaced, as it did every viewer before issue 17.
 */
async function ladderUse(url: string): Promise<{ rungs: number; viewers: number; onTop: number }> {
  const stats = (await (await fetch(`${url}/stats`)).json()) as {
    source: { renditions: unknown[] };
    viewers: Array<{ video?: { rendition: number } }>;
  };
  return {
    rungs: stats.source.renditions.length,
    viewers: stats.viewers.length,
    onTop: stats.viewers.filter((viewer) => viewer.video?.rendition === 0).length,
  };
}

/**
 * Issue 17's cost target: µs per sent packet within 20 % of what it was before the ladder and the per-viewer
 * sender: 10.7 µs with the native sender (docs/benchmarks.md at 37e9730, the last run before issue 17).
 */
const PER_PACKET_BEFORE_LADDER_US = 10.7;
const PER_PACKET_LADDER_GOAL_US = PER_PACKET_BEFORE_LADDER_US * 1.2;

/**
 * Targets 3 and 4: 40 werift viewers of a 720p source (in bench/load.ts, their own process): rate and loss
 * while they run, then the server's CPU per sent packet while they are paused (SIGSTOP) so that their
 * decryption does not compete with the server for the 2 cores, and the server's RSS. `env`: the server's
 * environment; `cpuOnly` skips the rate and loss window.
 */
async function fanOut(env: Record<string, string>, { cpuOnly = false } = {}) {
  // 13 viewers join at once from one address: the bench's doing, not a flood (maxConnectingPerAddress).
  const host = await startHost({ source: 'testsrc', resolution: [1280, 720], maxViewers: 100, maxConnectingPerAddress: 100 }, env);
  let one: Load | undefined;
  let many: Load | undefined;
  try {
    one = await startLoad(`${host.url}/offer`, 1);
    await sleep(3_000);
    // The server's CPU, clients paused, over `window` seconds: under the 8 s after which it drops a silent viewer.
    const window = 5;
    const pausedCpu = async (clients: Load) => {
      const shares: number[] = [];
      for (let run = 0; run < 3; run++) {
        clients.pause();
        await sleep(300);
        const cpu0 = cpuOf(host.pid);
        const packets0 = (await host.state()).source.packets;
        await sleep(window * 1000);
        const cpu = cpuOf(host.pid) - cpu0;
        const packets = (await host.state()).source.packets - packets0;
        clients.resume();
        await sleep(3_000); // the viewers report again before the next pause
        shares.push(cpu / packets); // CPU seconds per packet in
      }
      return median(shares);
    };
    const baseline = await pausedCpu(one); // one viewer: ffmpeg's packets in, one copy out
    const packetsBefore = (await host.state()).source.packets;
    await sleep(2_000);
    const packetsPerSecond = ((await host.state()).source.packets - packetsBefore) / 2;
    many = await startLoad(`${host.url}/offer`, 39);
    await sleep(2_000);
    const { fps, loss } = cpuOnly ? { fps: [], loss: [] } : await many.report(10);
    const ladder = await ladderUse(host.url);
    const cpuPerPacketIn = await pausedCpu(many);
    return {
      packetsPerSecond,
      fps,
      loss,
      ladder,
      perPacketUs: ((cpuPerPacketIn - baseline) / 39) * 1e6,
      cpu40: cpuPerPacketIn * packetsPerSecond * 100, // % of a core
      cpu1: baseline * packetsPerSecond * 100,
      rss: (await host.state()).rss,
    };
  } finally {
    await one?.stop();
    await many?.stop();
    await host.stop();
  }
}

/**
 * Runs in the page before its own script (playwright addInitScript): records, in ms since navigation
 * started, when the player creates its peer connection, posts its offer, gets the answer, connects, and
 * shows its first frame.
 */
function markPlayerPhases(): void {
  const phases: Record<string, number> = { start: 0 };
  (window as unknown as { __phases: Record<string, number> }).__phases = phases;
  const mark = (name: string) => (phases[name] ??= performance.now());
  const NativePeerConnection = window.RTCPeerConnection;
  window.RTCPeerConnection = function (this: unknown, ...args: ConstructorParameters<typeof RTCPeerConnection>) {
    mark('pc');
    const pc = new NativePeerConnection(...args);
    pc.addEventListener('connectionstatechange', () => pc.connectionState === 'connected' && mark('connected'));
    return pc;
  } as unknown as typeof RTCPeerConnection;
  window.RTCPeerConnection.prototype = NativePeerConnection.prototype;
  const nativeFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const offer = init?.method === 'POST';
    if (offer) mark('post');
    const response = await nativeFetch(input, init);
    if (offer) mark('answer');
    return response;
  };
  document.addEventListener('DOMContentLoaded', () =>
    document.querySelector('video')?.requestVideoFrameCallback(() => mark('frame')),
  );
}

/**
 * How long a new Chromium page is left alone before it navigates. Headless Chromium ("new" mode is the
 * full browser) builds each new window's own UI in the background, its omnibox popup among them: some
 * 270 chrome:// resources and ~300 ms of CPU (seen in a Chromium trace), which on 2 cores would be
 * charged to our page if it navigated at once. A viewer's browser window is open before they type the
 * address, so the target's joins wait; a second run does not, to show what that costs.
 */
const NEW_WINDOW_SETTLE_MS = 1_000;

/**
 * Opens the player `joins` times (a new Chromium page each, left alone `settleMs` first) on a stream that
 * has run for a while, kept running by a werift viewer: the ms from `page.goto` to the first frame, and
 * the page's marks.
 */
async function joinRunningStream(options: Record<string, unknown>, codec: 'vp8' | 'h264', joins: number, settleMs = NEW_WINDOW_SETTLE_MS) {
  const host = await startHost(options);
  const browser = await launchChromium();
  try {
    const watcher = await connectWeriftViewer(`${host.url}/offer`, codec);
    await watcher.connected;
    await sleep(3_000);
    const times: number[] = [];
    const phases: Record<string, number>[] = [];
    for (let join = 0; join < joins; join++) {
      const page = await browser.newPage();
      await page.addInitScript(markPlayerPhases);
      await sleep(settleMs);
      times.push(await openPlayer(page, `${host.url}/`));
      phases.push(await page.evaluate(() => (window as unknown as { __phases: Record<string, number> }).__phases));
      await page.close();
      await sleep(200 + ((join * 137) % 700)); // joins land anywhere in the GOP
    }
    await watcher.close();
    return { times, phases };
  } finally {
    await browser.close();
    await host.stop();
  }
}

/** Opens the player on a server with these options and collects the latency of every presented frame. */
async function measureLatency(options: Record<string, unknown>, seconds: number): Promise<number[]> {
  const host = await startHost(options);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await openPlayer(page, `${host.url}/`);
    await sleep(2_000);
    return (await collectLatencies(page, seconds)).filter((ms) => ms > -50 && ms < 10_000);
  } finally {
    await browser.close();
    await host.stop();
  }
}

const scenarios: Record<string, () => Promise<void>> = {
  /**
   * Target 1: stamped 640x480 frames at 30 fps, from a live MJPEG-over-HTTP camera and from a customStream,
   * to the frame Chromium presents.
   */
  async latency() {
    const seconds = LONG_RUN_SECONDS;
    const camera = await startStampedMjpegCamera();
    try {
      for (const [name, options] of [
        ['MJPEG over HTTP', { source: camera.url, frameSizeReduction: 0, ...JSON.parse(process.env.BENCH_MJPEG_OPTIONS ?? '{}') }],
        ['customStream', { stamped: true, frameSizeReduction: 0 }],
      ] as const) {
        const samples = await measureLatency(options, seconds);
        const tenth = Math.max(1, Math.floor(samples.length / 10));
        const drift = median(samples.slice(-tenth)) - median(samples.slice(0, tenth));
        const p50 = median(samples);
        const p95 = quantile(samples, 0.95);
        rows.push({
          target: `1. latency, ${name} 640x480 → Chromium (${samples.length} frames over ${seconds} s)`,
          goal: 'p50 ≤ 50 ms, p95 ≤ 100 ms',
          measured: `p50 ${p50.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms (min–max ${range(samples)})`,
          met: p50 <= 50 && p95 <= 100,
        });
        rows.push({
          target: `1. drift, ${name}: last tenth vs first tenth of the run`,
          goal: '≤ 10 ms after 10 min',
          measured: `${drift.toFixed(1)} ms over ${seconds} s`,
          met: seconds >= 600 ? Math.abs(drift) <= 10 : undefined,
        });
      }
    } finally {
      await camera.stop();
    }
  },

  /**
   * Target 2: a viewer joining a 720p stream that has run for a while: page load → first decoded frame.
   * The target's run encodes VP8 live (the default); a second run sends an H.264 file as is, to show what
   * the encoder's share of the 2 cores costs the page.
   */
  async firstFrame() {
    const steps: Array<[string, string, string]> = [
      ['navigation → peer connection created (page load, Chromium)', 'start', 'pc'],
      ['offer created and set (Chromium)', 'pc', 'post'],
      ['POST /whep → answer (server)', 'post', 'answer'],
      ['answer set → connected (ICE + DTLS)', 'answer', 'connected'],
      ['connected → first frame shown (GOP replay, decode)', 'connected', 'frame'],
    ];
    const stepMedian = (phases: Record<string, number>[], from: string, to: string) => {
      const durations = phases.filter((p) => p[from] !== undefined && p[to] !== undefined).map((p) => p[to]! - p[from]!);
      return { median: median(durations), range: range(durations) };
    };
    const live = await joinRunningStream({ source: 'testsrc', resolution: [1280, 720] }, 'vp8', FIRST_FRAME_JOINS);
    rows.push({
      target: `2. first frame, joining a running 720p stream (VP8 encoded live; ${live.times.length} joins)`,
      goal: 'p50 ≤ 300 ms, p95 ≤ 600 ms',
      measured: `p50 ${median(live.times)} ms, p95 ${quantile(live.times, 0.95)} ms (min–max ${range(live.times)})`,
      met: median(live.times) <= 300 && quantile(live.times, 0.95) <= 600,
    });
    // Where the time goes, as the page sees it: the median of each step's duration.
    for (const [label, from, to] of steps) {
      const step = stepMedian(live.phases, from, to);
      rows.push({ target: `2. … ${label}`, goal: '', measured: `median ${step.median.toFixed(0)} ms (${step.range})`, met: null });
    }
    const unsettled = await joinRunningStream({ source: 'testsrc', resolution: [1280, 720] }, 'vp8', FIRST_FRAME_JOINS, 0);
    rows.push({
      target: `2. … the same, navigating as soon as Chromium opened the page's window (it still builds that window's UI; ${unsettled.times.length} joins)`,
      goal: '',
      measured: `p50 ${median(unsettled.times)} ms, p95 ${quantile(unsettled.times, 0.95)} ms (min–max ${range(unsettled.times)})`,
      met: null,
    });
    // A keyframe a second, as the live encoder makes them (x264's default, 250 frames, is a GOP over the
    // 4 MB the GOP cache holds at this bitrate: a joiner would wait for the next keyframe).
    const clip = makeTestVideo(join(data.path, 'h264-720p-join.mp4'), { seconds: 60, width: 1280, height: 720, gop: 30 });
    const copy = await joinRunningStream({ source: clip, codec: 'h264', loop: true }, 'h264', FIRST_FRAME_JOINS);
    const copySteps = steps.map(([, from, to]) => stepMedian(copy.phases, from, to).median.toFixed(0)).join(' + ');
    rows.push({
      target: `2. … the same with a 720p H.264 file sent as is (a keyframe a second; ffmpeg at about 1 % of a core; ${copy.times.length} joins)`,
      goal: '',
      measured: `p50 ${median(copy.times)} ms, p95 ${quantile(copy.times, 0.95)} ms (min–max ${range(copy.times)}); steps ${copySteps} ms`,
      met: null,
    });
  },

  /**
   * Targets 3 and 4: 40 werift viewers of a 720p source (in bench/load.ts, their own process): rate and loss
   * while they run, then the server's CPU per sent packet while they are paused (SIGSTOP) so that their
   * decryption does not compete with the server for the 2 cores, and the server's RSS.
   */
  async fanout() {
    const native = await fanOut({});
    // The same with the send path in JavaScript (what the server does without the addon): the before.
    const javascript = await fanOut({ WEBGEAR_NATIVE: '0' }, { cpuOnly: true });
    const { ladder } = native;
    rows.push({
      target: `3. fan-out: 40 werift viewers of 720p (${native.packetsPerSecond.toFixed(0)} packets/s in; the ladder on: ${ladder.rungs} rungs, ${ladder.onTop} of ${ladder.viewers} viewers on the top one)`,
      goal: 'each ≥ 28 fps, loss ≤ 0.5 %',
      measured: `fps min ${Math.min(...native.fps).toFixed(1)} (median ${median(native.fps).toFixed(1)}), loss max ${Math.max(...native.loss).toFixed(2)} %`,
      met: Math.min(...native.fps) >= 28 && Math.max(...native.loss) <= 0.5,
    });
    rows.push({
      target: '3, 17. server CPU per extra sent packet (node, from /proc; viewers paused; native SRTP sender; the ladder on, every viewer on its top rung)',
      goal: `≤ 15 µs; issue 17: within 20 % of before it (${PER_PACKET_BEFORE_LADDER_US} µs, one rendition): ≤ ${PER_PACKET_LADDER_GOAL_US.toFixed(1)} µs`,
      measured: `${native.perPacketUs.toFixed(1)} µs (node ${native.cpu40.toFixed(0)} % of a core with 40 viewers, ${native.cpu1.toFixed(0)} % with 1)` +
        (ladder.onTop < ladder.viewers ? `; only ${ladder.onTop} of ${ladder.viewers} on the top rung: not the same work as before` : ''),
      met: native.perPacketUs <= 15 && native.perPacketUs <= PER_PACKET_LADDER_GOAL_US && ladder.onTop === ladder.viewers,
    });
    rows.push({
      target: '3. … the same sent from JavaScript (`WEBGEAR_NATIVE=0`: no addon)',
      goal: '',
      measured: `${javascript.perPacketUs.toFixed(1)} µs (node ${javascript.cpu40.toFixed(0)} % of a core with 40 viewers)`,
      met: null,
    });
    // The floor of the JavaScript path, measured with no server running (its encoder would share the 2 cores): 5 runs of each part.
    const floors: Record<FloorPart, number[]> = { all: [], encrypt: [], send: [] };
    for (let run = 0; run < 5; run++) {
      for (const part of ['all', 'encrypt', 'send'] as const) floors[part].push(await sendFloorMicroseconds(part));
    }
    const floorRow = (label: string, part: FloorPart) => ({
      target: `3. … ${label}`,
      goal: '',
      measured: `${median(floors[part]).toFixed(1)} µs (${range(floors[part], 1)}; 5 runs of 150 frames × 4 packets × 40 viewers)`,
      met: null,
    });
    rows.push(
      floorRow("the floor in JavaScript: copy + AES-GCM (Node's crypto, KeyObject) + dgram send of one 1200-byte packet, in the server's bursts (a frame's 4 packets × 40 viewers); no werift", 'all'),
      floorRow('of which the copy and AES-GCM alone', 'encrypt'),
      floorRow('of which the UDP send alone (loopback, receiver in another process)', 'send'),
    );
    rows.push({
      target: '4. server RSS with 40 viewers',
      goal: '≤ 250 MB',
      measured: `${(native.rss / 1024 / 1024).toFixed(0)} MB`,
      met: native.rss <= 250 * 1024 * 1024,
    });
  },

  /**
   * Target 4 over time: 40 werift viewers of 720p for LONG_RUN_SECONDS; the server's RSS and heap (after a
   * full GC) sampled 40 times. Growth: the median of the last tenth of the samples against the first tenth.
   */
  async memory() {
    const seconds = LONG_RUN_SECONDS;
    const host = await startHost({ source: 'testsrc', resolution: [1280, 720], maxViewers: 100, maxConnectingPerAddress: 100 });
    let load: Load | undefined;
    try {
      load = await startLoad(`${host.url}/offer`, 40);
      await sleep(10_000); // V8 grows its young generation while the viewers join: measure after
      const rss: number[] = [];
      const heap: number[] = [];
      const end = Date.now() + seconds * 1000;
      while (Date.now() < end) {
        const state = await host.state();
        rss.push(state.rss / 1024 / 1024);
        heap.push(state.heapUsed / 1024 / 1024);
        await sleep((seconds * 1000) / 40);
      }
      const { fps, loss } = await load.report(10); // and all 40 still watch
      const tenth = Math.max(1, Math.floor(rss.length / 10));
      const growth = (values: number[]) => median(values.slice(-tenth)) - median(values.slice(0, tenth));
      const first = (values: number[]) => median(values.slice(0, tenth)).toFixed(0);
      const last = (values: number[]) => median(values.slice(-tenth)).toFixed(0);
      rows.push({
        target: `4. memory with 40 viewers over ${seconds} s (${rss.length} samples): last tenth vs first tenth`,
        goal: '≤ 250 MB, no growth (≤ 10 MB)',
        measured:
          `RSS ${first(rss)} → ${last(rss)} MB (${growth(rss) >= 0 ? '+' : ''}${growth(rss).toFixed(1)}; max ${Math.max(...rss).toFixed(0)}); ` +
          `heap after GC ${first(heap)} → ${last(heap)} MB (${growth(heap) >= 0 ? '+' : ''}${growth(heap).toFixed(1)}); ` +
          `then fps min ${Math.min(...fps).toFixed(1)}, loss max ${Math.max(...loss).toFixed(2)} %`,
        met: seconds >= 600 ? Math.max(...rss) <= 250 && growth(rss) <= 10 : undefined,
      });
    } finally {
      await load?.stop();
      await host.stop();
    }
  },

  /**
   * The Scale issue: the curve (40, 200, 600, 1000 viewers of the issue's 720p stream joining 20 ms apart,
   * BENCH_SCALE=… for others) and a join storm (500 at once), each from the native load generator
   * (bench/loadgen/: its own ICE, DTLS, SRTP per viewer, ~2 µs of its CPU per packet) on loopback, with the
   * server's CPU from /proc and its RSS sampled every second; then its RSS after the viewers left.
   */
  async scale() {
    const { runLoad } = await import('./loadgen/index.ts');
    // A viewer answered 503 (admission: the event loop full while others join) comes back after its
    // Retry-After, as the player does, for this long after its first POST; the row says how many did.
    const SCALE_RETRY_SECONDS = 15;
    const counts = (process.env.BENCH_SCALE ?? '40,200,600,1000').split(',').map(Number);
    const runs: Array<{ count: number; spacingMs: number }> = [...counts.map((count) => ({ count, spacingMs: 20 })), { count: 500, spacingMs: 0 }];
    // The issue's stream by default: a 720p30 file with real detail (testsrc2 with noise), looped and encoded
    // live at the default 2.5 Mbit/s, ~285 packets/s per viewer. BENCH_SCALE_SOURCE=testsrc: the plain test
    // pattern the rows before 2026-12-04 used, which the encoder keeps near 1.2 Mbit/s (~128 packets/s).
    const testPattern = process.env.BENCH_SCALE_SOURCE === 'testsrc';
    if (!testPattern && process.env.BENCH_SCALE_SOURCE && process.env.BENCH_SCALE_SOURCE !== 'clip') {
      throw new Error(`BENCH_SCALE_SOURCE must be 'clip' or 'testsrc', not ${JSON.stringify(process.env.BENCH_SCALE_SOURCE)}`);
    }
    const source = testPattern ? { source: 'testsrc', resolution: [1280, 720] } : { source: noisyClip(data.path, 25), loop: true };
    const stream = testPattern ? 'testsrc' : 'the 720p30 file, 2.5 Mbit/s';
    for (const { count, spacingMs } of runs) {
      const host = await startHost({
        ...source, renditions: false, maxViewers: 2 * count, maxConnectingPerAddress: 2 * count,
      });
      try {
        // A fresh server settles before its memory is read. Its source starts with the first viewer (there are
        // no frames to wait for yet): the first joiners of each row wait for ffmpeg's start and first keyframe.
        await sleep(12_000);
        const rssBefore = (await host.state()).rss / 1024 / 1024;
        let rssMax = rssBefore;
        // While they watch (the last sample with all of them in): the peak holds the joins' garbage.
        let rssWatching = rssBefore;
        let watching = 0;
        let inLanes = 0;
        // The load guard's verdicts while they join (lib/session/load-guard.ts): what a 503 "at capacity" came from.
        const guard = { overloadedSeconds: 0, maxDelayMs: 0, busySeconds: 0 };
        // The send thread's counters (lib/native/send-thread.c), the process's since it started.
        let sendThread = (await host.state({ collect: false })).sendThread;
        const sendThreadBefore = sendThread;
        let slotsPeak = 0;
        const sampler = setInterval(() => {
          host.state({ collect: false }).then((state) => {
            rssMax = Math.max(rssMax, state.rss / 1024 / 1024);
            if (state.load.overloaded) guard.overloadedSeconds++;
            if (state.load.eventLoopUtilization >= 0.95) guard.busySeconds++;
            guard.maxDelayMs = Math.max(guard.maxDelayMs, state.load.eventLoopDelayMs);
            sendThread = state.sendThread ?? sendThread;
            slotsPeak = Math.max(slotsPeak, sendThread?.slotsUsed ?? 0);
            if (state.viewers >= watching) [watching, rssWatching, inLanes] = [state.viewers, state.rss / 1024 / 1024, state.inLane];
          }, () => {});
        }, 1_000);
        const { summary } = await runLoad({
          url: host.url, viewers: count, spacingMs, seconds: Math.ceil((count * spacingMs) / 1000) + 25 + SCALE_RETRY_SECONDS, serverPid: host.pid,
          receiveOffload: process.env.BENCH_RECEIVE_OFFLOAD !== '0',
          retryRefusedForMs: SCALE_RETRY_SECONDS * 1000,
        })
          .finally(() => clearInterval(sampler));
        await sleep(5_000);
        const rssAfter = (await host.state()).rss / 1024 / 1024;
        await sleep(10_000); // the server gives memory back again once the garbage collector has run (lib/session/memory-trim.ts)
        const rssLater = (await host.state()).rss / 1024 / 1024;
        const fps = summary.framesPerSecond;
        const first = summary.firstMediaMs;
        // Failures grouped by what they were, without the numbers each message carries ("event loop 37 ms late").
        const grouped = new Map<string, number>();
        for (const [why, n] of Object.entries(summary.failures)) {
          const key = why.replace(/\s*\([^)]*\)/g, '');
          grouped.set(key, (grouped.get(key) ?? 0) + n);
        }
        if (process.env.BENCH_DEBUG) console.error(JSON.stringify(summary.failures));
        const refused = [...grouped].map(([why, n]) => `${n} × ${why}`).join('; ');
        const storm = spacingMs === 0;
        rows.push({
          target: storm
            ? `20. join storm: ${count} viewers of 720p (${stream}, one rendition) posting at once`
            : `20. scale: ${count} viewers of 720p (${stream}, one rendition) joining ${spacingMs} ms apart`,
          goal: storm ? 'every one answered, none dropped' : count >= 1000 ? 'all in, 0 loss, ≥ 29 fps each, ≤ 3 µs per sent packet' : count === 200 ? 'all in; first media p50 ≤ 500 ms, max ≤ 1.5 s' : '(the curve)',
          measured:
            `${summary.connected} of ${count} connected${summary.answeredAfterRefusal > 0 ? ` (${summary.answeredAfterRefusal} of them after a 503 and its Retry-After)` : ''}${refused ? ` (${refused})` : ''}, ${inLanes} sent from their lanes; loss ${summary.lossPercent.toFixed(3)} % (worst ${summary.worstLossPercent.toFixed(3)} %); ` +
            `fps p50 ${fps?.p50.toFixed(1) ?? '–'}, min ${fps?.min.toFixed(1) ?? '–'}; answer p50 ${summary.answerMs?.p50.toFixed(0) ?? '–'} ms; ` +
            `first media p50 ${first?.p50.toFixed(0) ?? '–'} ms, max ${first?.max.toFixed(0) ?? '–'}; ` +
            `server ${summary.server?.cores.toFixed(2) ?? '–'} cores, ${summary.server?.usPerPacket.toFixed(1) ?? '–'} µs/packet over the window` +
            (summary.server?.slices.length
              ? ` (5 s slices ${summary.server.slices.map((us) => us.toFixed(1)).join(', ')}: median ${summary.server.usPerPacketMedian.toFixed(1)})`
              : '') +
            '; ' +
            `RSS ${rssBefore.toFixed(0)} → ${rssMax.toFixed(0)} MB at most (${(((rssMax - rssBefore) * 1024) / Math.max(1, summary.connected)).toFixed(0)} kB per viewer), ` +
            `${rssWatching.toFixed(0)} MB with ${watching} watching (${(((rssWatching - rssBefore) * 1024) / Math.max(1, watching)).toFixed(0)} kB per viewer), ` +
            `${rssAfter.toFixed(0)} MB 5 s after they left, ${rssLater.toFixed(0)} MB 15 s after (${(((rssLater - rssBefore) / rssBefore) * 100).toFixed(0)} % over before); ` +
            `machine idle ${summary.machineIdleCores?.toFixed(2) ?? '–'} cores; kernel drops at the server ${summary.kernelDrops.server ?? '–'}; ` +
            `event loop ≥ 95 % busy in ${guard.busySeconds} s, its median delay at most ${guard.maxDelayMs} ms, at capacity (new viewers refused, or held in the join queue while joins were under way) in ${guard.overloadedSeconds} s` +
            (sendThread && sendThreadBefore
              ? `; send thread: ${sendThread.queued - sendThreadBefore.queued} packets queued, ${sendThread.sentAtOnce - sendThreadBefore.sentAtOnce} sent on the JavaScript thread instead (its ring full), ${sendThread.fullWaits - sendThreadBefore.fullWaits} waits for room, ${slotsPeak} of ${sendThread.capacity} slots used at most, ${sendThread.slotsUsed} at the end (${sendThread.trims - sendThreadBefore.trims} trims)`
              : ''),
          met: storm
            ? summary.answered === count && summary.failed === 0
            : count >= 1000
              ? summary.connected === count && summary.lossPercent === 0 && (fps?.min ?? 0) >= 29 && (summary.server?.usPerPacketMedian ?? Infinity) <= 3
              : count === 200
                ? summary.connected === count && (first?.p50 ?? Infinity) <= 500 && (first?.max ?? Infinity) <= 1_500
                : null,
        });
      } finally {
        await host.stop();
      }
    }
  },

  /** Target 5: what ffmpeg costs: a 720p30 VP8 live encode, and an H.264 720p file sent as is. */
  async encode() {
    const measure = async (options: Record<string, unknown>, codec: 'vp8' | 'h264') => {
      const host = await startHost(options);
      try {
        const viewer = await connectWeriftViewer(`${host.url}/offer`, codec);
        await viewer.connected;
        await sleep(2_000);
        const pid = host.ffmpegPid()!;
        const shares: number[] = [];
        for (let run = 0; run < 3; run++) {
          const before = cpuOf(pid);
          await sleep(5_000);
          shares.push(((cpuOf(pid) - before) / 5) * 100);
        }
        await viewer.close();
        return shares;
      } finally {
        await host.stop();
      }
    };
    const vp8 = await measure({ source: 'testsrc', resolution: [1280, 720], renditions: false }, 'vp8');
    const ladder = await measure({ source: 'testsrc', resolution: [1280, 720] }, 'vp8');
    const clip = makeTestVideo(join(data.path, 'h264-720p.mp4'), { seconds: 60, width: 1280, height: 720 });
    const copy = await measure({ source: clip, codec: 'h264', loop: true, renditions: false }, 'h264');
    const copyLadder = await measure({ source: clip, codec: 'h264', loop: true }, 'h264');
    rows.push({
      target: '5. ffmpeg, 720p30 VP8 live encode (testsrc), one rendition',
      goal: '≤ 1 core',
      measured: `${median(vp8).toFixed(0)} % of a core (${range(vp8)})`,
      met: median(vp8) <= 100,
    });
    const ratio = median(ladder) / median(vp8);
    rows.push({
      target: '17. ffmpeg, the 3-rung ladder (720p, 360p, 180p) against one 720p encode',
      goal: '≤ 1.5×',
      measured: `${median(ladder).toFixed(0)} % of a core (${range(ladder)}): ${ratio.toFixed(2)}×`,
      met: ratio <= 1.5,
    });
    rows.push({
      target: '5. ffmpeg, 720p30 H.264 file sent as is (transcode auto), one rendition',
      goal: '≤ 5 % of a core',
      measured: `${median(copy).toFixed(1)} % of a core (${range(copy, 1)})`,
      met: median(copy) <= 5,
    });
    rows.push({
      target: '17. ffmpeg, the same file as the top rung, 360p and 180p encoded from it (the default ladder)',
      goal: '(reported)',
      measured: `${median(copyLadder).toFixed(0)} % of a core (${range(copyLadder)})`,
      met: null,
    });
  },
};

const asked = process.argv.slice(2).filter((name) => !name.startsWith('-'));
const selected = selectScenarios(asked, Object.keys(scenarios));
/** The real-link run: its markdown, or why it did not run. */
let links: (LinkRun & { names: string[] }) | { names: string[]; skipped: string } | undefined;
try {
  for (const [name, run] of Object.entries(scenarios)) {
    if (!selected.own.includes(name)) continue;
    console.log(`bench: ${name}…`);
    await run();
  }
  if (selected.links.length > 0) {
    const unavailable = linksUnavailable();
    if (unavailable) {
      console.log(`bench: real-link scenarios (${selected.links.join(', ')}) skipped: ${unavailable}`);
      links = { names: selected.links, skipped: unavailable };
    } else {
      console.log(`bench: real links (bench/links.ts ${selected.links.join(' ')})…`);
      const run = await runLinkScenarios(selected.links);
      rows.push(...run.rows);
      links = { ...run, names: selected.links };
    }
  }
} finally {
  data.cleanup();
}

const verdict = (met: boolean | undefined | null) =>
  met === null ? '' : met === undefined ? '(not run at full length)' : met ? 'met' : '**not met**';
const table = [
  '| target | goal | measured | |',
  '|---|---|---|---|',
  ...rows.map((row) => `| ${row.target} | ${row.goal} | ${row.measured} | ${verdict(row.met)} |`),
].join('\n');
console.log(`\n${table}\n`);

const version = (command: string, args: string[]) => {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
};
const machine = [
  `- CPU: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}; memory ${(totalmem() / 1024 ** 3).toFixed(1)} GB`,
  `- Node ${process.version}; ${version('ffmpeg', ['-version'])}; ${version(CHROMIUM_PATH, ['--version'])}`,
  `- Run: \`${process.env.BENCH_SECONDS ? `BENCH_SECONDS=${process.env.BENCH_SECONDS} ` : ''}npm run bench${asked.length ? ` -- ${asked.join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)}`,
].join('\n');
/** The real-link scenarios' own table (the crowd's rows are in the targets table), or why they did not run. */
const linksSection = !links
  ? ''
  : 'skipped' in links
    ? `\n## Real links (issue 17)\n\nNot run (${links.names.join(', ')}): ${links.skipped}. As root, \`npm run bench\` runs them (bench/links.ts).\n`
    : `\n## Real links (issue 17)\n\n\`node bench/links.ts ${links.names.join(' ')}\`${links.names.includes('crowd') ? ' (the crowd: the "17. 40 viewers…" rows above)' : ''}. ` +
      'The harness, and the baseline before issue 17: docs/benchmarks-links.md.\n' + (links.markdown ? `\n${links.markdown}\n` : '');
writeFileSync(
  join(root, 'docs', 'benchmarks.md'),
  `# Benchmarks

Written by \`npm run bench\` (bench/run.ts). Everything runs on loopback on one machine: the server in
its own process (test/e2e/fixtures/host.ts, with the Node flags \`npm start\` uses: ${SERVER_NODE_FLAGS.join(' ') || 'none'}),
the 40 fan-out viewers in another (bench/load.ts), the other werift viewers and Chromium (headless, the
test flags) in the benchmark's. CPU comes from /proc, not from inside the event loop. Medians, with min–max.

${machine}

${table}

How each figure is measured:
1. **Latency**: \`Date.now()\` is stamped into each 640x480 frame as 32 black/white blocks
   (bench/stamp.ts), by a live MJPEG-over-HTTP camera (ffmpeg encodes each frame as it is stamped, 30 fps)
   or by a customStream; the page reads the stamp back from every frame it presents
   (\`requestVideoFrameCallback\`, canvas) and subtracts it from the frame's expected display time.
   Drift compares the median of the last tenth of the run with the first tenth.
2. **First frame**: a werift viewer keeps a 1280x720 test pattern running (encoded live as VP8: the
   default); Chromium opens the page 25 times at different points of the GOP, each in a new window left
   alone for ${NEW_WINDOW_SETTLE_MS / 1000} s first (headless Chromium builds a new window's own UI in the background: ~300 ms
   of CPU, measured in a Chromium trace; a second run navigates at once to show what that costs); the
   time is from \`page.goto\` to the first frame shown. The same again with an H.264 file sent as is, whose ffmpeg
   leaves the 2 cores to Chromium. The
   "…" rows break it down with marks the page takes (ms since its navigation started): peer connection
   created, offer posted, answer received, connected, first frame presented.
3. **Fan-out**: 40 werift viewers (13 joining at once) in their own process; frames and RTP sequence
   gaps per viewer over 10 s. CPU: the server's CPU per packet in with 40 viewers minus that with 1,
   divided by the 39 extra copies, each over 5 s windows (median of 3) while the viewers' process is
   paused (SIGSTOP): their decryption would otherwise share the 2 cores with the server. Measured
   twice: with the native SRTP sender (lib/native/, built at install or prebuilt) and with
   \`WEBGEAR_NATIVE=0\` (the same path in JavaScript). The floor rows do the JavaScript path's work per
   packet in a bare Node loop, in the server's pattern (a burst per frame of 4 packets × 40 viewers,
   each with its own key and socket, 32 frames a second, receivers paused; no werift, no server; 5
   runs of each part): Node's crypto builds a cipher per packet, which only native code avoids.
4. **Memory**: the server process's RSS with the 40 viewers connected; then, with 40 viewers for the whole
   run (10 minutes in the full run), its RSS and heap after a full GC, sampled 40 times: the median of
   the last tenth of the samples against the first tenth, and the viewers' rate and loss at the end.
5. **Encode**: ffmpeg's own CPU over three 5 s windows.
20. **Scale** (\`npm run bench -- scale\`; \`BENCH_SCALE=40,200\` for other counts): a server per run (the issue's
   stream: a 720p30 file with noise, looped, encoded live to VP8 at the default 2.5 Mbit/s, ~285 packets/s per
   viewer; \`BENCH_SCALE_SOURCE=testsrc\` for the plain test pattern of the earlier rows, ~1.2 Mbit/s and ~128
   packets/s; one rendition, admission per address raised for one generator), the native load generator
   (bench/loadgen/) joining N viewers 20 ms apart, then 500 posting at once (a viewer answered 503 posts
   again after its Retry-After, as the player does, for 15 s; the row says how many did); its summary: loss, frames per
   second in the steady window, answer and first media, the server's cores and µs per packet delivered
   (/proc) over the window and in 5 s slices of it (the 1000-viewer goal is read on their median: a
   moment's stall of this shared machine, or the garbage collections that follow the joins, moves one
   slice, not the median), RSS sampled each second (the growth per connected viewer) and 5 s after the
   viewers left.
6. **Real links** (issue 17; root only: bench/links.ts, test/support/links/): a 720p30 file (testsrc2 with
   noise) encoded live with the default ladder (720p, 360p, 180p); viewers in network namespaces behind
   a 40 ms RTT, rate caps and random loss. The link scenarios: one Chromium per link, 25 s from 1 s after
   its first frame, the frames it presented and its inbound-rtp stats. The crowd: 30 viewers of the
   native load generator (bench/loadgen/) on loopback, which send no transport-cc feedback and so get the
   top rung unpaced, and 10 werift viewers each behind its own 800 kbit/s cap (one HTB class per viewer
   port) and 40 ms RTT, sending transport-cc feedback as a browser writes it; over 25 s from 1 s after
   the last capped viewer's answer, frames (marker bits) counted each second, each viewer's rendition and
   estimate read from /stats each second. Each row gives the source's frame rate and the machine's
   1-minute load: below 30 fps the machine, not the server, starved the viewers.
${linksSection}`,
);
console.log('wrote docs/benchmarks.md');
