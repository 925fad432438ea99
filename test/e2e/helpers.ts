/** Shared test fixtures: real ffmpeg, real werift peers, real Chromium. Nothing here is a mock. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { chromium, type Browser, type Page } from 'playwright-core';
import { RTCPeerConnection, useH264, useOPUS, useVP8, type RtpPacket } from 'werift';
import { webgearRtc, type WebGearRtc, type WebGearRtcOptions } from 'webgear-rtc';
import { nativeSrtp } from '../../lib/native/index.ts';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * The send path a Chromium or werift viewer gets: the native addon's where it was built (always in CI:
 * WEBGEAR_NATIVE_REQUIRED=1), else the same path in JavaScript.
 */
export const DIRECT_SEND_PATH = nativeSrtp ? 'native' : 'direct';

/** A fresh folder for data files and test media, removed by `cleanup()`. */
export function tempDir(prefix = 'webgear-rtc-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Options every test server needs: loopback ICE, no STUN, a private data folder. */
export function testOptions(dataDir: string, options: WebGearRtcOptions = {}): WebGearRtcOptions {
  return {
    source: options.customStream ? undefined : 'testsrc',
    frameSizeReduction: 0,
    customDataLocation: dataDir,
    iceServers: [],
    iceAdditionalHostAddresses: ['127.0.0.1'],
    ...options,
  };
}

export interface TestServer {
  url: string;
  app: Koa;
  rtc: WebGearRtc;
  close(): Promise<void>;
}

/** A host Koa app with the middleware in it, listening on an ephemeral loopback port. */
export async function startServer(
  options: WebGearRtcOptions,
  mountIt: (app: Koa, rtc: WebGearRtc) => void = (app, rtc) => app.use(rtc),
  listenPort = 0,
): Promise<TestServer> {
  const app = new Koa();
  app.silent = true;
  const rtc = webgearRtc(options);
  mountIt(app, rtc);
  const server = app.listen(listenPort, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    rtc,
    async close() {
      // A test that failed half-way leaves its viewers open; their werift timers would keep the test file alive.
      await Promise.all([...openViewers].map((viewer) => viewer.close()));
      await rtc.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface WeriftViewer {
  /** The session id the server answered (the key that ends the session). */
  id: string;
  /** The viewer's public id, as `stats()` lists it (`viewer` in /offer's answer). */
  publicId: string;
  pc: RTCPeerConnection;
  /** Video RTP packets and whole frames (marker bits) received, with their arrival times. */
  packets: number;
  frames: number;
  frameTimes: number[];
  /** Audio RTP packets received (only by a viewer made with `{audio: true}`). */
  audioPackets: number;
  /** The answer's SDP, as the server sent it. */
  answerSdp: string;
  /** For a WHEP viewer: the session's resource URL (absolute) and ETag, as the 201 gave them. */
  resourceUrl?: string;
  etag?: string | null;
  /** Every RTP packet received, for tests that look inside them. */
  readonly rtpListeners: Array<(rtp: RtpPacket) => void>;
  /** Every audio RTP packet received. */
  readonly audioRtpListeners: Array<(rtp: RtpPacket) => void>;
  connected: Promise<void>;
  close(): Promise<void>;
}

const openViewers = new Set<WeriftViewer>();

/**
 * A werift peer that signals like the default page: offer → POST /offer → answer. With `audio`, its
 * offer also has a recvonly Opus section; `peer` overrides its RTCPeerConnection settings.
 */
export async function connectWeriftViewer(
  offerUrl: string,
  codec: 'vp8' | 'h264' = 'vp8',
  {
    audio = false,
    whep = false,
    peer = {},
  }: { audio?: boolean; whep?: boolean; peer?: ConstructorParameters<typeof RTCPeerConnection>[0] } = {},
): Promise<WeriftViewer> {
  const pc = new RTCPeerConnection({
    codecs: { audio: audio ? [useOPUS()] : [], video: [codec === 'vp8' ? useVP8() : useH264()] },
    // One transport for both sections, as browsers do: werift's max-compat gathers one per section and
    // leaves the unbundled one's socket open after close().
    bundlePolicy: 'max-bundle',
    iceServers: [],
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
    ...peer,
  });
  pc.addTransceiver('video', { direction: 'recvonly' });
  if (audio) pc.addTransceiver('audio', { direction: 'recvonly' });
  const viewer: WeriftViewer = {
    id: '',
    publicId: '',
    pc,
    packets: 0,
    frames: 0,
    frameTimes: [],
    audioPackets: 0,
    answerSdp: '',
    rtpListeners: [],
    audioRtpListeners: [],
    connected: new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('viewer did not connect within 10 s')), 10_000);
      pc.connectionStateChange.subscribe((state) => {
        if (state === 'connected') {
          clearTimeout(timer);
          resolve();
        }
      });
    }),
    close: async () => {
      openViewers.delete(viewer);
      await pc.close();
    },
  };
  openViewers.add(viewer);
  viewer.connected.catch(() => {});
  pc.onTrack.subscribe((track) =>
    track.onReceiveRtp.subscribe((rtp) => {
      if (track.kind === 'audio') {
        viewer.audioPackets++;
        for (const listener of viewer.audioRtpListeners) listener(rtp);
        return;
      }
      viewer.packets++;
      for (const listener of viewer.rtpListeners) listener(rtp);
      if (rtp.header.marker) {
        viewer.frames++;
        viewer.frameTimes.push(performance.now());
      }
    }),
  );
  await pc.setLocalDescription(await pc.createOffer());
  let response: Response;
  let body: { sdp: string; type: 'answer'; id: string; viewer?: string; error?: string };
  try {
    response = await fetch(offerUrl, {
      method: 'POST',
      headers: { 'content-type': whep ? 'application/sdp' : 'application/json' },
      body: whep ? pc.localDescription!.sdp : JSON.stringify({ sdp: pc.localDescription!.sdp, type: 'offer' }),
    });
    if (whep) {
      const text = await response.text();
      const location = response.headers.get('location');
      viewer.resourceUrl = location ? new URL(location, offerUrl).href : undefined;
      viewer.etag = response.headers.get('etag');
      body = response.status === 201
        ? { sdp: text, type: 'answer', id: location?.split('/').pop() ?? '' }
        : { sdp: '', type: 'answer', id: '', error: text };
    } else {
      body = (await response.json()) as typeof body;
    }
  } catch (error) {
    await viewer.close(); // never leave a peer connection behind
    throw error;
  }
  if (!response.ok) {
    await viewer.close();
    throw Object.assign(new Error(`POST ${new URL(offerUrl).pathname} answered ${response.status}: ${body.error}`), {
      status: response.status,
    });
  }
  viewer.id = body.id;
  viewer.publicId = body.viewer ?? '';
  viewer.answerSdp = body.sdp;
  await pc.setRemoteDescription({ type: body.type, sdp: body.sdp });
  return viewer;
}

/** Frames per second over the frames received in the last `windowMs`. */
export function recentFps(frameTimes: number[], windowMs: number): number {
  const end = performance.now();
  const recent = frameTimes.filter((time) => time >= end - windowMs);
  if (recent.length < 2) return 0;
  return ((recent.length - 1) * 1000) / (recent.at(-1)! - recent[0]!);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true or `timeoutMs` passes; returns whether it did. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(stepMs);
  }
  return check();
}

/** A process as /proc shows it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** One letter: R running, S sleeping, Z zombie… */
  state: string;
  /** The executable's short name (`comm`). */
  name: string;
  /** The command line, arguments joined by spaces. */
  cmdline: string;
  /** CPU seconds used so far (user + system). */
  cpuSeconds: number;
}

/** What /proc says of `pid`, or undefined when there is no such process. */
export function processInfo(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      pid,
      ppid: Number(fields[1]),
      state: fields[0]!,
      name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
      cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim(),
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100, // utime + stime, in 100 Hz ticks
    };
  } catch {
    return undefined; // it ended while we looked
  }
}

/** Every live (not zombie) process on the machine, from /proc: what the OS sees, not what we think. */
export function listProcesses(): ProcessInfo[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map((entry) => processInfo(Number(entry)))
    .filter((info): info is ProcessInfo => info !== undefined && info.state !== 'Z');
}

/** Whether `pid` is a live process. */
export function isRunning(pid: number): boolean {
  const info = processInfo(pid);
  return info !== undefined && info.state !== 'Z';
}

/** CPU seconds (user + system) `pid` has used so far, as the OS counts them. */
export function cpuSeconds(pid: number): number {
  return processInfo(pid)?.cpuSeconds ?? 0;
}

/** Every running ffmpeg process whose parent is `parentPid`. */
export function ffmpegChildrenOf(parentPid: number = process.pid): number[] {
  return listProcesses()
    .filter((info) => info.name === 'ffmpeg' && info.ppid === parentPid)
    .map((info) => info.pid);
}

/** The Chromium browser processes started by `parentPid` (the main process of each launched browser). */
export function chromiumProcessesOf(parentPid: number): number[] {
  return listProcesses()
    .filter((info) => info.ppid === parentPid && info.cmdline.includes('chromium'))
    .map((info) => info.pid);
}

/** Every running ffmpeg process on the machine whose command line contains `marker`. */
export function ffmpegProcessesWith(marker: string): number[] {
  return listProcesses()
    .filter((info) => info.cmdline.includes('ffmpeg') && info.cmdline.includes(marker))
    .map((info) => info.pid);
}

/** Decodes the HTML entities nunjucks' autoescape produces (named and numeric). */
export function decodeEntities(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, entity: string) => {
    if (/^#x/i.test(entity)) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number(entity.slice(1)));
    return named[entity.toLowerCase()] ?? whole;
  });
}

/**
 * Writes a test clip with ffmpeg: `seconds` long, `width`x`height`, 30 fps, H.264 without B-frames
 * (x264 ultrafast), or with them when `bFrames` is set; with `audio`, a 440 Hz tone as AAC too; `gop`:
 * frames between keyframes (x264's default, 250, when 0).
 */
export function makeTestVideo(
  path: string,
  { seconds = 20, width = 640, height = 360, rate = 30, bFrames = 0, audio = false, gop = 0 } = {},
): string {
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${rate}:duration=${seconds}`,
    ...(audio ? ['-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`, '-c:a', 'aac'] : []),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', String(bFrames), ...(gop ? ['-g', String(gop)] : []),
    '-pix_fmt', 'yuv420p', path,
  ]);
  return path;
}

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--autoplay-policy=no-user-gesture-required',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  // Several pages play at once in some tests: none of them may be throttled as a background tab.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
  // The machine has no internet: keep Chromium from trying.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

export interface PlaybackReport {
  framesPresented: number;
  fps: number;
  width: number;
  height: number;
  firstFrameMs: number;
  state: string;
  /** Frames per second the stream being watched was given in the same window, when a `FrameCount` was passed. */
  sourceFps?: number;
}

/** A running count of the frames the measured stream was given (its source's rendition), read on the server. */
export type FrameCount = () => number;

/** The source's top rendition's frames: what a viewer on rendition 0 can show at most. */
export const sourceFrames = (server: { rtc: WebGearRtc }): FrameCount => () => server.rtc.stats().source.frames;

/**
 * Of what a page showed, whether it plays at `fps`: at `fps`, or, where the source itself made fewer frames
 * in the same window (its producer or encoder starved on this shared 2-core machine: CI runs saw 24.3 fps
 * shown, and 2.7 from a publishing Chromium), at 85 % of what the source made. A viewer can only show what
 * it was given; what this checks is that it shows what it was given. The message says both rates.
 */
export function assertPlaysAt(report: Pick<PlaybackReport, 'fps' | 'sourceFps' | 'width' | 'height'>, fps: number, what = 'the page'): void {
  const floor = report.sourceFps === undefined ? fps : Math.min(fps, SHOWN_SHARE_OF_SOURCE * report.sourceFps);
  const given = report.sourceFps === undefined ? '' : ` of the ${report.sourceFps.toFixed(1)} fps its source made in the same window`;
  assert.ok(report.fps >= floor, `${what} shows ${report.fps.toFixed(1)} fps at ${report.width}x${report.height}${given}; wanted ≥ ${floor.toFixed(1)}`);
}
const SHOWN_SHARE_OF_SOURCE = 0.85;

/** Opens the player page and waits until its `<video>` shows a first frame; returns the ms it took. */
export async function openPlayer(page: Page, url: string): Promise<number> {
  const start = Date.now();
  await page.goto(url);
  await page.waitForFunction(
    () => {
      const video = document.querySelector('video');
      return !!video && video.videoWidth > 0 && video.currentTime > 0;
    },
    undefined,
    { timeout: 15_000 },
  );
  return Date.now() - start;
}

/**
 * Measures what the page's `<video>` really presents over `measureMs` (requestVideoFrameCallback). Tests
 * that assert a frame rate measure 3 s: on a busy shared machine Chromium can stall for a quarter second,
 * which a shorter window would report as a slow stream.
 */
export async function measureFrames(page: Page, measureMs = 3_000, source?: FrameCount): Promise<Omit<PlaybackReport, 'firstFrameMs'>> {
  const sourceBefore = source?.();
  const started = performance.now();
  const report = await page.evaluate(async (ms) => {
    const video = document.querySelector('video')!;
    let first = -1;
    let last = 0;
    await new Promise<void>((resolve) => {
      const onFrame = (_now: number, metadata: { presentedFrames: number }) => {
        if (first < 0) first = metadata.presentedFrames;
        last = metadata.presentedFrames;
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
      setTimeout(resolve, ms);
    });
    // presentedFrames counts the frame its callback reports, so the first one is in the window too.
    const frames = first < 0 ? 0 : last - first + 1;
    return {
      framesPresented: frames,
      fps: (frames * 1000) / ms,
      width: video.videoWidth,
      height: video.videoHeight,
      state: (window as unknown as { webgear?: { state: string } }).webgear?.state ?? 'unknown',
    };
  }, measureMs);
  if (!source) return report;
  // The server's window holds the page's, plus the round trip of asking for it.
  return { ...report, sourceFps: ((source() - sourceBefore!) * 1000) / (performance.now() - started) };
}

/** Opens the page, then measures playback once the first frame is shown. */
export async function measurePlayback(
  page: Page,
  url: string,
  measureMs = 3_000,
  { size, settleMs = 1_000, source, againBelowFps }: {
    size?: [number, number];
    /**
     * A second window when the first shows fewer frames a second than this: a stall of this shared machine's
     * compositor (a CI run: 24.3 fps shown of the source's 29.9 over 3 s) is told apart from a stream that is
     * slow, which is slow in both. The report is the second window's, with the first's rate in `firstWindowFps`.
     */
    againBelowFps?: number;
    /** The source's frames, to report `sourceFps` beside what the page showed (see `assertPlaysAt`). */
    source?: FrameCount;
    /**
     * How long to let the player run before measuring. Default 1 s: the first second is the join's (the GOP
     * replay's frames, a source that started with this viewer, a decoder on a busy machine catching up; a CI
     * run measured 24 fps over the 3 s right after the first frame).
     */
    settleMs?: number;
  } = {},
): Promise<PlaybackReport & { sizeAfterMs?: number; firstWindowFps?: number }> {
  const firstFrameMs = await openPlayer(page, url);
  let sizeAfterMs: number | undefined;
  if (size) {
    // A viewer may start on a lower rendition and climb: measure once the picture has that size (≤ 15 s).
    const started = performance.now();
    await page.waitForFunction(
      ([width, height]) => {
        const video = document.querySelector('video');
        return video?.videoWidth === width && video.videoHeight === height;
      },
      size,
      { timeout: 15_000, polling: 100 },
    ).catch(() => undefined);
    sizeAfterMs = Math.round(performance.now() - started);
  }
  if (settleMs > 0) await sleep(settleMs);
  const first = await measureFrames(page, measureMs, source);
  if (againBelowFps === undefined || first.fps >= againBelowFps) return { ...first, firstFrameMs, sizeAfterMs };
  return { ...(await measureFrames(page, measureMs, source)), firstFrameMs, sizeAfterMs, firstWindowFps: first.fps };
}

/** The page player's video inbound-rtp counters so far (its `webgear.pc`): zeros before there is one. */
export function videoInbound(page: Page): Promise<{ framesDecoded: number; jitterBufferDelay: number; jitterBufferEmittedCount: number }> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { webgear: { pc: RTCPeerConnection } }).webgear.pc;
    let counters = { framesDecoded: 0, jitterBufferDelay: 0, jitterBufferEmittedCount: 0 };
    (await pc.getStats()).forEach((entry) => {
      const report = entry as RTCInboundRtpStreamStats;
      if (report.type === 'inbound-rtp' && report.kind === 'video') {
        counters = {
          framesDecoded: report.framesDecoded ?? 0,
          jitterBufferDelay: report.jitterBufferDelay ?? 0,
          jitterBufferEmittedCount: report.jitterBufferEmittedCount ?? 0,
        };
      }
    });
    return counters;
  });
}

/**
 * The average colour of a 16x16 patch of what the page's `<video>` shows now, as [r, g, b]: its middle,
 * or the point at fractions `at` of its width and height.
 */
export function videoCenterColor(page: Page, at: [number, number] = [0.5, 0.5]): Promise<[number, number, number]> {
  return page.evaluate(([fx, fy]) => {
    const video = document.querySelector('video')!;
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const context = canvas.getContext('2d')!;
    context.drawImage(video, 0, 0);
    const size = 16;
    const pixels = context.getImageData(canvas.width * fx - size / 2, canvas.height * fy - size / 2, size, size).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < pixels.length; i += 4) for (let c = 0; c < 3; c++) sum[c]! += pixels[i + c]!;
    const count = pixels.length / 4;
    return [sum[0]! / count, sum[1]! / count, sum[2]! / count] as [number, number, number];
  }, at);
}

export { vp8KeyframeSize } from '../../lib/rtp/rtp-payload.ts';
