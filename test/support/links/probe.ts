/**
 * The viewer probe: what the player page really shows and receives, for tests and the link benchmark,
 * in Chromium (playwright-core) or Firefox (puppeteer-core).
 *
 * `installProbe(page)` before navigating; then `waitForFirstFrame(page)` and `readProbe(page, from, to)`.
 * In the page it records every presented frame (requestVideoFrameCallback: presentedFrames, as
 * test/helpers.ts's measureFrames counts them, with the frame's size), the page's milestones (peer
 * connection made, offer posted, answer, ICE and DTLS up, first frame), and every 500 ms the video's
 * inbound-rtp and candidate-pair stats. Times are ms since navigation started (performance.now()).
 */
import type { Page as PlaywrightPage } from 'playwright-core';
import type { Page as PuppeteerPage } from 'puppeteer-core';

export type ProbePage = PlaywrightPage | PuppeteerPage;

/** One presented frame: [time, presentedFrames, width, height]. */
type FrameRecord = [number, number, number, number];

/** The inbound-rtp fields the probe keeps (cumulative counters), plus the selected pair's RTT. */
export interface InboundSample {
  at: number;
  packetsReceived: number;
  packetsLost: number;
  nackCount: number;
  pliCount: number;
  firCount: number;
  framesReceived: number;
  framesDecoded: number;
  keyFramesDecoded: number;
  framesDropped: number;
  bytesReceived: number;
  jitterBufferDelay: number;
  jitterBufferEmittedCount: number;
  freezeCount: number;
  totalFreezesDuration: number;
  frameWidth: number;
  frameHeight: number;
  roundTripTimeMs: number;
}

export interface RawProbe {
  marks: Record<string, number>;
  frames: FrameRecord[];
  stats: InboundSample[];
  /** The default player's console lines ("[webgear] …"): [ms since navigation, text]. */
  said: Array<[number, string]>;
  now: number;
}

export interface ProbeOptions {
  /** Stats every 10 ms from the peer connection to the first decoded frame (for a first-frame breakdown; costs CPU). */
  fastStatsUntilFirstFrame?: boolean;
}

/** Runs in the page before its own script. Kept self-contained: it is serialized into the page. */
function probeInPage({ fastStatsUntilFirstFrame }: ProbeOptions): void {
  const probe = { marks: {} as Record<string, number>, frames: [] as number[][], stats: [] as Record<string, number>[], said: [] as Array<[number, string]> };
  (window as unknown as { __linkProbe: typeof probe }).__linkProbe = probe;
  const info = console.info.bind(console);
  console.info = (...args: unknown[]) => {
    const text = args.join(' ');
    if (text.startsWith('[webgear] ')) probe.said.push([performance.now(), text.slice('[webgear] '.length)]);
    info(...args);
  };
  const mark = (name: string) => (probe.marks[name] ??= performance.now());
  let pc: RTCPeerConnection | undefined;
  const NativePeerConnection = window.RTCPeerConnection;
  const Wrapped = function (this: unknown, ...args: ConstructorParameters<typeof RTCPeerConnection>) {
    mark('pc');
    pc = new NativePeerConnection(...args);
    const current = pc;
    current.addEventListener('iceconnectionstatechange', () => {
      if (current.iceConnectionState === 'checking') mark('iceChecking');
      if (current.iceConnectionState === 'connected') mark('iceConnected');
    });
    current.addEventListener('connectionstatechange', () => current.connectionState === 'connected' && mark('connected'));
    current.addEventListener('track', (event) => {
      mark('track');
      const transport = event.receiver.transport;
      transport?.addEventListener('statechange', () => transport.state === 'connecting' ? mark('dtlsConnecting') : transport.state === 'connected' && mark('dtlsConnected'));
    });
    return current;
  } as unknown as typeof RTCPeerConnection;
  Wrapped.prototype = NativePeerConnection.prototype;
  window.RTCPeerConnection = Wrapped;
  const nativeFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const offer = init?.method === 'POST';
    if (offer) mark('post');
    const response = await nativeFetch(input, init);
    if (offer) mark('answer');
    return response;
  };
  const onFrame = (video: HTMLVideoElement) => (now: number, metadata: VideoFrameCallbackMetadata) => {
    probe.marks.frame ??= now; // the frame's own time, as recorded below
    probe.frames.push([now, metadata.presentedFrames, metadata.width, metadata.height]);
    video.requestVideoFrameCallback(onFrame(video));
  };
  document.addEventListener('DOMContentLoaded', () => {
    mark('dom');
    const video = document.querySelector('video');
    video?.requestVideoFrameCallback(onFrame(video));
  });
  const sample = async () => {
    if (pc) {
      const report = await pc.getStats();
      const entry: Record<string, number> = { at: performance.now() };
      report.forEach((stat) => {
        if (stat.type === 'inbound-rtp' && stat.kind === 'video') {
          for (const key of ['packetsReceived', 'packetsLost', 'nackCount', 'pliCount', 'firCount', 'framesReceived', 'framesDecoded',
            'keyFramesDecoded', 'framesDropped', 'bytesReceived', 'jitterBufferDelay', 'jitterBufferEmittedCount', 'freezeCount',
            'totalFreezesDuration', 'frameWidth', 'frameHeight']) entry[key] = Number(stat[key] ?? 0);
        }
        if (stat.type === 'candidate-pair' && stat.nominated && stat.state === 'succeeded') {
          entry.roundTripTimeMs = 1000 * Number(stat.currentRoundTripTime ?? Number.NaN);
        }
      });
      if (entry.packetsReceived! > 0) mark('firstPacketSeen');
      if (entry.framesDecoded! > 0) mark('firstDecodeSeen');
      if ('packetsReceived' in entry) probe.stats.push(entry);
    }
    const fast = fastStatsUntilFirstFrame && !probe.marks.firstDecodeSeen && performance.now() < (probe.marks.pc ?? 0) + 10_000;
    setTimeout(sample, fast ? 10 : 500);
  };
  setTimeout(sample, fastStatsUntilFirstFrame ? 10 : 500);
}

/** Installs the probe: it runs in every document the page loads from now on. */
export async function installProbe(page: ProbePage, options: ProbeOptions = {}): Promise<void> {
  if ('addInitScript' in page) await page.addInitScript(probeInPage, options);
  else await page.evaluateOnNewDocument(probeInPage, options);
}

type Evaluate = <R, A>(fn: (arg: A) => R | Promise<R>, arg: A) => Promise<R>;
const evaluateIn = (page: ProbePage) => page.evaluate.bind(page) as unknown as Evaluate;

async function raw(page: ProbePage): Promise<RawProbe> {
  return evaluateIn(page)(() => {
    const probe = (window as unknown as { __linkProbe?: Omit<RawProbe, 'now'> }).__linkProbe;
    if (!probe) throw new Error('no probe in this page: call installProbe(page) before navigating');
    return { ...probe, now: performance.now() };
  }, undefined);
}

/** What the default player logged ("lossy link …", reconnections): [ms since navigation, text without "[webgear] "]. */
export async function playerLog(page: ProbePage): Promise<Array<[number, string]>> {
  return (await raw(page)).said;
}

/** The page's milestones, ms since navigation started (pc, post, answer, iceChecking, iceConnected, dtlsConnected, connected, frame…). */
export async function probeMarks(page: ProbePage): Promise<Record<string, number>> {
  return (await raw(page)).marks;
}

/** Waits until the page presented its first frame; resolves its time since navigation started. */
export async function waitForFirstFrame(page: ProbePage, timeoutMs = 15_000): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const { marks } = await raw(page);
    if (marks.frame !== undefined) return marks.frame;
    if (Date.now() > end) throw new Error(`no frame within ${timeoutMs} ms (milestones so far: ${JSON.stringify(marks)})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Ms since navigation started, in the page's clock (for windows given to readProbe). */
export async function pageNow(page: ProbePage): Promise<number> {
  return evaluateIn(page)(() => performance.now(), undefined);
}

export interface Gap {
  atMs: number;
  ms: number;
}

export interface PlaybackReport {
  /** Navigation start → first presented frame. */
  firstFrameMs: number | undefined;
  fromMs: number;
  toMs: number;
  framesPresented: number;
  fps: number;
  /** Longest time without a new frame in the window (its edges count: a frozen end is a gap). */
  longestGapMs: number;
  /** Gaps over 500 ms: how many, and their total time. */
  gapsOver500: Gap[];
  frozenMs: number;
  /** The picture size over time (at the window's start, then where it changed), and the one shown longest. */
  sizes: Array<{ atMs: number; width: number; height: number }>;
  mainSize: string;
  /** inbound-rtp over the window (deltas of the counters; the bitrate from bytesReceived). */
  packetsReceived: number;
  packetsLost: number;
  lossPercent: number;
  nackCount: number;
  pliCount: number;
  firCount: number;
  framesDecoded: number;
  /**
   * Frames decoded per second over the span the stats samples cover (the last sample at or before each edge:
   * up to 500 ms short of the window at either end, which divided by the window's own length read a steady
   * 29 fps as anything from 28.3 to 29.7).
   */
  decodedFps: number;
  framesDropped: number;
  keyFramesDecoded: number;
  /** Mean time a frame spent in the jitter buffer over the window. */
  jitterBufferMs: number;
  bitrateKbit: number;
  /** kbit/s in each second of the window. */
  bitrateSeries: number[];
  roundTripTimeMs: number;
}

/** What the page showed and received between `fromMs` and `toMs` (page clock; default: from the first frame to now). */
export async function readProbe(page: ProbePage, fromMs?: number, toMs?: number): Promise<PlaybackReport> {
  return summarize(await raw(page), fromMs, toMs);
}

export function summarize(probe: RawProbe, fromMs?: number, toMs?: number): PlaybackReport {
  const from = fromMs ?? probe.marks.frame ?? 0;
  const to = toMs ?? probe.now;
  const frames = probe.frames.filter(([at]) => at >= from && at <= to);
  const before = probe.frames.filter(([at]) => at < from).at(-1);
  const framesPresented = frames.length ? frames.at(-1)![1] - (before?.[1] ?? frames[0]![1] - 1) : 0;
  // Gaps: between frames, and at both edges of the window.
  const times = [from, ...frames.map(([at]) => at), to];
  const gaps: Gap[] = [];
  let longestGapMs = 0;
  for (let i = 1; i < times.length; i++) {
    const ms = times[i]! - times[i - 1]!;
    longestGapMs = Math.max(longestGapMs, ms);
    if (ms > 500) gaps.push({ atMs: times[i - 1]!, ms });
  }
  const sizes: PlaybackReport['sizes'] = before ? [{ atMs: from, width: before[2], height: before[3] }] : [];
  const shown = new Map<string, number>();
  let lastSize = before ? `${before[2]}x${before[3]}` : '';
  let lastAt = from;
  for (const [at, , width, height] of frames) {
    const size = `${width}x${height}`;
    if (lastSize) shown.set(lastSize, (shown.get(lastSize) ?? 0) + at - lastAt);
    if (size !== lastSize) sizes.push({ atMs: at, width, height });
    lastSize = size;
    lastAt = at;
  }
  if (lastSize) shown.set(lastSize, (shown.get(lastSize) ?? 0) + to - lastAt);
  const mainSize = [...shown].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'none';
  // Stats: the last sample at or before each edge.
  const atOrBefore = (time: number) => probe.stats.filter((s) => s.at <= time).at(-1) ?? probe.stats[0];
  const first = atOrBefore(from);
  const last = atOrBefore(to);
  const delta = (key: keyof InboundSample) => (first && last ? last[key] - first[key] : 0);
  const seconds = first && last && last.at > first.at ? (last.at - first.at) / 1000 : Number.NaN;
  const bitrateSeries: number[] = [];
  for (let t = from; t + 1000 <= to; t += 1000) {
    const a = atOrBefore(t);
    const b = atOrBefore(t + 1000);
    if (a && b && b.at > a.at) bitrateSeries.push(((b.bytesReceived - a.bytesReceived) * 8) / (b.at - a.at));
  }
  const received = delta('packetsReceived');
  const lost = delta('packetsLost');
  return {
    firstFrameMs: probe.marks.frame,
    fromMs: from,
    toMs: to,
    framesPresented,
    fps: (framesPresented * 1000) / (to - from),
    longestGapMs,
    gapsOver500: gaps,
    frozenMs: gaps.reduce((sum, gap) => sum + gap.ms, 0),
    sizes,
    mainSize,
    packetsReceived: received,
    packetsLost: lost,
    lossPercent: received + lost > 0 ? (100 * lost) / (received + lost) : 0,
    nackCount: delta('nackCount'),
    pliCount: delta('pliCount'),
    firCount: delta('firCount'),
    framesDecoded: delta('framesDecoded'),
    decodedFps: delta('framesDecoded') / seconds,
    framesDropped: delta('framesDropped'),
    keyFramesDecoded: delta('keyFramesDecoded'),
    jitterBufferMs: delta('jitterBufferEmittedCount') > 0 ? (1000 * delta('jitterBufferDelay')) / delta('jitterBufferEmittedCount') : Number.NaN,
    bitrateKbit: (delta('bytesReceived') * 8) / 1000 / seconds,
    bitrateSeries,
    roundTripTimeMs: last?.roundTripTimeMs ?? Number.NaN,
  };
}

/**
 * The page load as Navigation and Resource Timing saw it, ms since navigation started: the TCP connect,
 * request and response of the page, DOMContentLoaded, each resource's start, end and TCP connect time
 * (`<file>.start`, `<file>.end`, `<file>.connectMs`; the WHEP POST is `whep.*`), and `timeOrigin`: the
 * wall-clock time of navigation start, to line the page up with the server's log.
 */
export async function navigationTimings(page: ProbePage): Promise<Record<string, number>> {
  return evaluateIn(page)(() => {
    const timings: Record<string, number> = {};
    const navigation = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
    if (navigation) {
      Object.assign(timings, {
        connectStart: navigation.connectStart, connectEnd: navigation.connectEnd, requestStart: navigation.requestStart,
        responseStart: navigation.responseStart, responseEnd: navigation.responseEnd, domInteractive: navigation.domInteractive,
      });
    }
    for (const entry of performance.getEntriesByType('resource') as PerformanceResourceTiming[]) {
      const name = new URL(entry.name).pathname.split('/').filter(Boolean).at(-1) ?? entry.name;
      timings[`${name}.start`] = entry.startTime;
      timings[`${name}.request`] = entry.requestStart; // later than start: it waited for a connection
      timings[`${name}.end`] = entry.responseEnd;
      timings[`${name}.connectMs`] = entry.connectEnd - entry.connectStart; // 0: a kept-alive connection
    }
    timings.timeOrigin = performance.timeOrigin;
    return timings;
  }, undefined);
}
