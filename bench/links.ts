/**
 * Real links (issue 17): one viewer in a network namespace behind a 40 ms RTT, a rate cap and random loss
 * (test/support/links), watching a 720p30 file (testsrc2 with noise, encoded live to VP8 as the server
 * does by default) for 25 s. Needs root. Not part of `npm test`.
 *
 *   node bench/links.ts                     every scenario
 *   node bench/links.ts cap800 firstFrame   some of them (names below)
 *   BENCH_BROWSER=firefox node bench/links.ts clean
 *   BENCH_MAX_LOAD=2.5 node bench/links.ts  before each scenario, wait (up to 5 min) for the machine's
 *                                           1-minute load average to fall below 2.5
 *   node bench/links.ts --write …           also puts the table into docs/benchmarks-links.md
 *   node bench/links.ts --json <file> …     also writes {rows, markdown} there (bench/run.ts reads it)
 *   BENCH_SERVER_OPTIONS='{"jitterBufferTarget":150}' …   more options for the server (JSON)
 *   node bench/links.ts crowd               40 viewers, 10 of them each behind its own 800 kbit/s cap
 *                                           (bench/links-crowd.ts: native load generator + werift, no browser)
 *   DEBUG='werift-ice*,werift-dtls*,werift:*peerConnection*' BENCH_TRACE=1 node bench/links.ts firstFrame
 *                                           also lines each join up with the server's werift log
 *   BENCH_TRACE_DUMP=/tmp/joins.log …         with BENCH_TRACE: also every werift log line of each join
 *                                           (first line of each: ms since navigation) into that file
 *
 * Each scenario gets a fresh link, server and browser. A werift viewer on the server's side keeps the
 * stream running, so the browser joins a stream that has run for 3 s, as a viewer usually does. The 25 s
 * window starts 1 s after the first frame (after the GOP replay), or 15 s after navigation if none came.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectWeriftViewer, sleep, tempDir } from '../test/e2e/helpers.ts';
import { launchChromiumIn, launchFirefoxIn } from '../test/support/links/browsers.ts';
import { createLink, type Link, type LinkOptions, type LinkStats } from '../test/support/links/link.ts';
import {
  installProbe, navigationTimings, pageNow, playerLog, probeMarks, readProbe, waitForFirstFrame, type PlaybackReport, type ProbePage,
} from '../test/support/links/probe.ts';
import { noisyClip } from '../test/support/links/noisy-clip.ts';
import { startLinkServer } from '../test/support/links/server.ts';
import { crowd, type TargetRow } from './links-crowd.ts';

const WINDOW_MS = 25_000;
const DELAY_MS = 20; // each way: 40 ms RTT
const FIRST_FRAME_JOINS = Number(process.env.BENCH_JOINS ?? 15);
const BROWSER = process.env.BENCH_BROWSER === 'firefox' ? 'firefox' : 'chromium';

/** The 720p30 source (test/support/links/noisy-clip.ts), 25 s, cached in the temp folder. */
const sourceFile = (): string => noisyClip(tmpdir(), 25);

interface Browserish {
  newPage(): Promise<ProbePage>;
  close(): Promise<void>;
}

async function launchIn(link: Link): Promise<Browserish> {
  if (BROWSER === 'firefox') {
    const firefox = await launchFirefoxIn(link);
    return { newPage: () => firefox.browser.newPage(), close: () => firefox.close() };
  }
  const browser = await launchChromiumIn(link);
  return { newPage: () => browser.newPage(), close: () => browser.close() };
}

/** A link, a server on it with the file looping, and a werift viewer keeping the stream up for 3 s. */
async function setUp(options: LinkOptions) {
  const data = tempDir('webgear-rtc-bench-links-');
  const link = await createLink({ delayMs: DELAY_MS, ...options });
  const server = await startLinkServer([link], { source: sourceFile(), loop: true, customDataLocation: data.path, logging: process.env.BENCH_LOG === '1', ...(process.env.BENCH_RENDITIONS === 'off' && { renditions: false }), ...JSON.parse(process.env.BENCH_SERVER_OPTIONS ?? '{}') });
  const watcher = await connectWeriftViewer(`${server.urlFor(link)}offer`);
  await watcher.connected;
  await sleep(3_000);
  const browser = await launchIn(link);
  return {
    link,
    server,
    browser,
    async close() {
      await browser.close().catch(() => {});
      await watcher.close();
      await server.close();
      await link.close();
      data.cleanup();
    },
  };
}

interface Result {
  scenario: string;
  link: string;
  report: PlaybackReport;
  /** The link's counters over the window (the delay line's are left out). */
  linkStats: Omit<LinkStats, 'delay'>;
  /** The encoder's frames per second over the window (median of 1 s samples): below 30, the machine is short of CPU. */
  sourceFps: number;
  /** The 1-minute load average at the window's end (2 cores, shared). */
  load: number;
  note?: string;
  /** The player's console lines ("[webgear] …"), with seconds since navigation. */
  said?: string[];
}

function linkDelta(before: LinkStats, after: LinkStats): Omit<LinkStats, 'delay'> {
  return {
    portCaps: [],
    udpToViewer: after.udpToViewer - before.udpToViewer,
    udpToViewerBytes: after.udpToViewerBytes - before.udpToViewerBytes,
    udpDropped: after.udpDropped - before.udpDropped,
    capSent: after.capSent - before.capSent,
    capDropped: after.capDropped - before.capDropped,
    capBacklogBytes: after.capBacklogBytes,
  };
}

const results: Result[] = [];

/**
 * Watches one 25 s window; `during` runs alongside it (the mid-stream cap) and may return a note for the
 * table, made once the window is over (`after`), when the page has recorded it all.
 */
type During = (link: Link, page: ProbePage, from: number) => Promise<{ note: () => Promise<string>; capDropped: number } | undefined>;
async function watchWindow(name: string, label: string, options: LinkOptions, during?: During) {
  const setup = await setUp(options);
  try {
    const page = await setup.browser.newPage();
    await installProbe(page);
    await sleep(1_000); // a new window builds its own UI first (bench/run.ts, NEW_WINDOW_SETTLE_MS)
    await page.goto(setup.server.urlFor(setup.link));
    let from: number;
    try {
      from = (await waitForFirstFrame(page, 15_000)) + 1_000;
      await sleep(Math.max(0, from - (await pageNow(page))));
    } catch {
      from = await pageNow(page);
    }
    const linkBefore = await setup.link.stats();
    const sourceFps: number[] = [];
    const sampler = setInterval(() => sourceFps.push(setup.server.rtc.stats().source.framesPerSecond), 1_000);
    const [after] = await Promise.all([during?.(setup.link, page, from), sleep(WINDOW_MS)]);
    clearInterval(sampler);
    const note = await after?.note();
    const report = await readProbe(page, from, from + WINDOW_MS);
    const result: Result = {
      scenario: name, link: label, report, sourceFps: median(sourceFps),
      // A cap lifted during the window took its counters with it: `during` reports them.
      linkStats: { ...linkDelta(linkBefore, await setup.link.stats()), ...(after ? { capDropped: after.capDropped } : {}) },
      load: loadavg()[0]!, note: note ?? undefined,
      said: (await playerLog(page)).map(([at, text]) => `${text} (${(at / 1000).toFixed(1)} s)`),
    };
    results.push(result);
    print(result);
  } finally {
    await setup.close();
  }
}

function print({ scenario, report: r, linkStats: s, note, sourceFps, load, said }: Result): void {
  console.log(`${scenario}: first frame ${r.firstFrameMs?.toFixed(0) ?? 'never'} ms; ${r.fps.toFixed(1)} fps, longest gap ${r.longestGapMs.toFixed(0)} ms, ` +
    `frozen ${(r.frozenMs / 1000).toFixed(1)} s in ${r.gapsOver500.length} gaps > 0.5 s` +
    `${r.gapsOver500.map((gap) => ` (${(gap.ms / 1000).toFixed(2)} s from ${(gap.atMs / 1000).toFixed(1)} s after navigation)`).join('')}; ` +
    `${r.mainSize}; ${r.bitrateKbit.toFixed(0)} kbit/s; ` +
    `lost ${r.packetsLost} (${r.lossPercent.toFixed(1)} %), NACK ${r.nackCount}, PLI ${r.pliCount}, ` +
    `decoded ${r.framesDecoded}, dropped ${r.framesDropped}, keyframes ${r.keyFramesDecoded}; jitter buffer ${r.jitterBufferMs.toFixed(0)} ms; ` +
    `link: ${s.udpToViewer} UDP packets (${((s.udpToViewerBytes * 8) / WINDOW_MS / 1000).toFixed(2)} Mbit/s) to the viewer, ${s.udpDropped} dropped at random, ${s.capDropped} at the cap; ` +
    `source ${sourceFps.toFixed(1)} fps, load ${load.toFixed(1)}${note ? `; ${note}` : ''}` +
    `${said?.length ? `; the player: ${said.join('; ')}` : ''}`);
}

const scenarios: Record<string, () => Promise<void>> = {
  clean: () => watchWindow('clean', 'clean', {}),
  cap4000: () => watchWindow('cap4000', '4 Mbit/s cap', { rateKbit: 4000 }),
  cap1500: () => watchWindow('cap1500', '1.5 Mbit/s cap', { rateKbit: 1500 }),
  cap800: () => watchWindow('cap800', '800 kbit/s cap', { rateKbit: 800 }),
  cap300: () => watchWindow('cap300', '300 kbit/s cap', { rateKbit: 300 }),
  loss2: () => watchWindow('loss2', '2 % loss', { lossPercent: 2 }),
  loss5cap3000: () => watchWindow('loss5cap3000', '5 % loss + 3 Mbit/s cap', { lossPercent: 5, rateKbit: 3000 }),
  /** Clean for 5 s of the window, capped at 800 kbit/s for 15 s, then lifted for the last 5 s. */
  midstream: () =>
    watchWindow('midstream', 'cap 800 kbit/s at 5 s, lifted at 20 s', {}, async (link, page, from) => {
      await sleep(Math.max(0, from + 5_000 - (await pageNow(page))));
      const capped = await pageNow(page);
      await link.setRate(800);
      await sleep(15_000);
      const { capDropped } = await link.stats();
      const lifted = await pageNow(page);
      await link.setRate(undefined);
      const note = async () => {
        const phase = async (start: number, end: number) => {
          const r = await readProbe(page, start, end);
          return `${r.fps.toFixed(1)} fps, longest gap ${(r.longestGapMs / 1000).toFixed(1)} s`;
        };
        // Recovered: the first second after the lift with ≥ 25 frames.
        let recovered = 'not within 5 s';
        for (let t = lifted; t + 1_000 <= from + WINDOW_MS; t += 100) {
          if ((await readProbe(page, t, t + 1_000)).framesPresented >= 25) {
            recovered = `${((t - lifted) / 1000).toFixed(1)} s`;
            break;
          }
        }
        return `before: ${await phase(from, capped)}; capped: ${await phase(capped, lifted)}; ` +
          `after the lift: ${await phase(lifted, from + WINDOW_MS)}, smooth again (25 frames in a second) after ${recovered}`;
      };
      return { note, capDropped };
    }),
  firstFrame,
  async crowd() {
    const result = await crowd(sourceFile());
    console.log(result.line);
    targetRows.push(...result.rows);
  },
};

/** The scenarios' names, for bench/run.ts (which runs them in a child process: `node bench/links.ts`). */
export const LINK_SCENARIOS: readonly string[] = Object.keys(scenarios);

/** Rows of a targets table (the crowd's), as bench/run.ts writes them. */
const targetRows: TargetRow[] = [];

/** Phases of a join as the page sees them, in order: [label, from mark, to mark]. */
const JOIN_STEPS: Array<[string, string, string]> = [
  // The player connects from <head>, before DOMContentLoaded (docs/benchmarks-links.md, "The player's
  // settings in <head>"): the page's last byte is where its part starts.
  ['navigation → page received (over TCP)', 'start', 'responseEnd'],
  ['page received → peer connection (player script)', 'responseEnd', 'pc'],
  ['peer connection → offer posted', 'pc', 'post'],
  ['POST /whep → answer', 'post', 'answer'],
  ['answer → ICE connected', 'answer', 'iceConnected'],
  ['ICE connected → DTLS connected', 'iceConnected', 'dtlsConnected'],
  ['DTLS connected → first frame shown', 'dtlsConnected', 'frame'],
];

const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const range = (values: number[]) => `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}`;

/**
 * Server-side events of a join, from werift's debug log (BENCH_TRACE=1 with DEBUG set): the first line
 * that matches each pattern, in ms since the page's navigation started.
 */
const SERVER_EVENTS: Array<[string, RegExp]> = [
  ['server: peer connection made (POST arrived)', /ice\.ts : log new Connection/],
  ['server: answer set', /signalingStateChange stable/],
  ["server: browser's first ICE check", /Triggered Checks/],
  ['server: ICE completed', /ICE completed/],
  ['server: HelloVerifyRequest sent', /send flight2/],
  ['server: ClientHello answered: ServerHello… sent', /send flight4/],
  ["server: browser's Certificate… Finished in", /handleHandshakes \[ 11 \]/],
  ['server: DTLS connected (media starts)', /server\.ts : log .* dtls connected/],
];

/** Captures what werift's debug module writes to stderr, with the wall-clock time of each line. */
function captureDebugLog() {
  const lines: Array<[number, string]> = [];
  const write = process.stderr.write.bind(process.stderr);
  let on = false;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (on && /werift/.test(String(chunk))) {
      lines.push([Date.now(), String(chunk)]);
      return true;
    }
    return write(chunk, ...rest);
  }) as typeof process.stderr.write;
  return {
    start: () => ((lines.length = 0), (on = true)),
    /** The events of the join that started at `timeOrigin` (page clock), then stop capturing. */
    events(timeOrigin: number): Record<string, number> {
      on = false;
      const events: Record<string, number> = {};
      for (const [name, pattern] of SERVER_EVENTS) {
        const line = lines.find(([, text]) => pattern.test(text));
        if (line) events[name] = line[0] - timeOrigin;
      }
      const dump = process.env.BENCH_TRACE_DUMP;
      if (dump) {
        const text = lines.map(([at, line]) => `${String(at - timeOrigin).padStart(5)} ${line.split('\n')[0]!.replace(/^\S+Z /, '')}`);
        appendFileSync(dump, `== join at ${new Date(timeOrigin).toISOString()}\n${text.join('\n')}\n`);
      }
      return events;
    },
  };
}

/** First frame over 40 ms RTT: fresh pages joining the running stream, navigation start → first frame. */
async function firstFrame(): Promise<void> {
  const trace = process.env.BENCH_TRACE ? captureDebugLog() : undefined;
  if (trace && !process.env.DEBUG) console.error('BENCH_TRACE needs DEBUG set (see the top of bench/links.ts): no server events');
  const setup = await setUp({});
  const joins: Array<Record<string, number>> = [];
  try {
    for (let join = 0; join < FIRST_FRAME_JOINS; join++) {
      const page = await setup.browser.newPage();
      await installProbe(page);
      await sleep(1_000);
      trace?.start();
      await page.goto(setup.server.urlFor(setup.link));
      await waitForFirstFrame(page, 15_000);
      const marks: Record<string, number> = { start: 0, ...(await probeMarks(page)), ...(await navigationTimings(page)) };
      joins.push({ ...marks, ...trace?.events(marks.timeOrigin!) });
      if (trace) printTimeline(joins.at(-1)!);
      await page.close();
      await sleep(200 + ((join * 137) % 700)); // joins land anywhere in the GOP
    }
  } finally {
    await setup.close();
  }
  const times = joins.map((marks) => marks.frame!);
  console.log(`firstFrame: ${joins.length} joins, median ${median(times).toFixed(0)} ms (${range(times)}): ${times.map((t) => t.toFixed(0)).join(', ')}`);
  const steps = JOIN_STEPS.map(([label, from, to]) => {
    const durations = joins.filter((j) => j[from] !== undefined && j[to] !== undefined).map((j) => j[to]! - j[from]!);
    return { label, median: median(durations), range: range(durations) };
  });
  for (const step of steps) console.log(`  ${step.label}: median ${step.median.toFixed(0)} ms (${step.range})`);
  if (trace) {
    // Every event's median time since navigation, page and server in one order.
    const keys = [...new Set(joins.flatMap((j) => Object.keys(j)))].filter((k) => !['timeOrigin'].includes(k) && !k.endsWith('connectMs'));
    const medians = keys.map((key) => [key, median(joins.filter((j) => j[key] !== undefined).map((j) => j[key]!))] as const);
    console.log('median time of each event since navigation (ms):');
    for (const [key, value] of medians.toSorted((a, b) => a[1] - b[1])) console.log(`  ${value.toFixed(0).padStart(5)}  ${key}`);
    const resources = [...new Set(joins.flatMap((j) => Object.keys(j)).filter((k) => k.endsWith('.connectMs')).map((k) => k.slice(0, -'.connectMs'.length)))];
    const keptAlive = resources.map((name) => `${name} ${joins.filter((j) => j[`${name}.connectMs`] === 0).length}/${joins.filter((j) => j[`${name}.connectMs`] !== undefined).length}`);
    console.log(`on a kept-alive connection (of the joins that asked): ${keptAlive.join(', ')}`);
  }
  firstFrameResult = { times, steps, joins };
}

/** One join's page and server events, in time order. */
function printTimeline(join: Record<string, number>): void {
  const events = Object.entries(join).filter(([key]) => key !== 'timeOrigin' && !key.endsWith('connectMs')).toSorted((a, b) => a[1] - b[1]);
  console.log(events.map(([key, ms]) => `${ms.toFixed(0).padStart(5)} ${key}`).join('\n'));
  console.log(`  (TCP connects: page ${join.connectEnd! - join.connectStart!} ms, custom.js ${join['custom.js.connectMs']} ms, POST /whep ${join['whep.connectMs']} ms)`);
}

let firstFrameResult: { times: number[]; steps: Array<{ label: string; median: number; range: string }>; joins: Array<Record<string, number>> } | undefined;

const verdict = (met: boolean | undefined | null) => (met === null ? '' : met === undefined ? '(not judged)' : met ? 'met' : '**not met**');

/** The targets rows as a table of their own (when bench/links.ts runs alone). */
function targetTable(): string {
  if (targetRows.length === 0) return '';
  return ['| target | goal | measured | |', '|---|---|---|---|', ...targetRows.map((r) => `| ${r.target} | ${r.goal} | ${r.measured} | ${verdict(r.met)} |`)].join('\n');
}

/** The browser scenarios' table and the first-frame breakdown. */
function table(): string {
  const lines = results.length === 0 ? [] : [
    `| link (40 ms RTT, ${BROWSER}, 25 s) | fps | longest gap | frozen (gaps > 0.5 s) | size | bitrate | lost | NACK | PLI | first frame | sent to the link; dropped at the cap | source fps; load |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.map(({ link, report: r, note, linkStats: s, sourceFps, load }) =>
      `| ${link} | ${r.fps.toFixed(1)} | ${(r.longestGapMs / 1000).toFixed(2)} s | ${(r.frozenMs / 1000).toFixed(1)} s (${r.gapsOver500.length}) | ` +
      `${r.framesPresented ? r.mainSize : 'no picture'} | ${(r.bitrateKbit / 1000).toFixed(2)} Mbit/s | ${r.packetsLost} (${r.lossPercent.toFixed(1)} %) | ` +
      `${r.nackCount} | ${r.pliCount} | ${r.firstFrameMs === undefined ? 'never' : `${(r.firstFrameMs / 1000).toFixed(2)} s`}${note ? ` (${note})` : ''} | ` +
      `${((s.udpToViewerBytes * 8) / WINDOW_MS / 1000).toFixed(2)} Mbit/s; ${s.capDropped} packets | ${sourceFps.toFixed(1)}; ${load.toFixed(1)} |`),
  ];
  if (firstFrameResult) {
    const { times, steps } = firstFrameResult;
    lines.push('', `First frame over 40 ms RTT, ${times.length} joins of a running stream: median **${median(times).toFixed(0)} ms** (${range(times)}).`, '',
      '| step (medians) | ms |', '|---|---|', ...steps.map((s) => `| ${s.label} | ${s.median.toFixed(0)} (${s.range}) |`));
  }
  return lines.join('\n');
}

/** On a shared machine, a scenario run while others load the cores measures them: wait for a quieter minute. */
async function waitForQuiet(): Promise<void> {
  const limit = Number(process.env.BENCH_MAX_LOAD ?? Number.POSITIVE_INFINITY);
  const end = Date.now() + 5 * 60_000;
  while (loadavg()[0]! > limit && Date.now() < end) await sleep(5_000);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const write = args.includes('--write');
  const jsonAt = args.indexOf('--json');
  const json = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
  if (jsonAt >= 0 && !json) {
    console.error('--json needs a file');
    process.exit(2);
  }
  const names = args.filter((arg, index) => !arg.startsWith('--') && !(jsonAt >= 0 && index === jsonAt + 1));
  const unknown = names.filter((name) => !(name in scenarios));
  if (unknown.length) {
    console.error(`unknown scenario(s) ${unknown.join(', ')}; known: ${Object.keys(scenarios).join(', ')}`);
    process.exit(2);
  }
  if (process.getuid?.() !== 0) {
    console.error('bench/links.ts needs root (network namespaces, veth, tc, nftables)');
    process.exit(2);
  }
  for (const name of names.length ? names : Object.keys(scenarios)) {
    await waitForQuiet();
    await scenarios[name]!();
  }
  const markdown = table();
  console.log(`\n${[targetTable(), markdown].filter(Boolean).join('\n\n')}`);
  if (json) writeFileSync(json, JSON.stringify({ rows: targetRows, markdown }));
  if (write) writeDoc([targetTable(), markdown].filter(Boolean).join('\n\n'));
}

/** Replaces the marked section of docs/benchmarks-links.md with `markdown`. */
function writeDoc(markdown: string): void {
  const doc = join(import.meta.dirname, '..', 'docs', 'benchmarks-links.md');
  const text = readFileSync(doc, 'utf8');
  const [startMark, endMark] = ['<!-- bench/links.ts table -->', '<!-- end of bench/links.ts table -->'];
  const start = text.indexOf(startMark);
  const end = text.indexOf(endMark);
  if (start < 0 || end < 0) throw new Error(`${doc} lacks the markers ${startMark} … ${endMark}`);
  writeFileSync(doc, `${text.slice(0, start + startMark.length)}\n${markdown}\n${text.slice(end)}`);
  console.log(`wrote ${doc}`);
}

// Run as a script, not when bench/run.ts imports the scenarios' names.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
