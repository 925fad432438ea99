/**
 * The native load generator, driven from Node: `runLoad` joins N WHEP viewers a few ms apart, watches them
 * for a fixed time and reports per viewer and in sum (bench/loadgen/README.md). `LoadGenerator` is the
 * lower level for tests and scripts that join viewers one by one.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LoadGenerator, type JoinedViewer, type LoadGeneratorOptions } from './generator.ts';
import { dropsOfProcess, dropsOnPorts, machineIdleUs, processCpuUs } from './proc.ts';
import { buildReport, type CpuSlice, type LoadReport, type Sample } from './report.ts';

export { LoadGenerator, type JoinOptions, type JoinedViewer, type LoadGeneratorOptions, type SrtpProfile } from './generator.ts';
export { formatSummary, type LoadReport, type LoadSummary, type ViewerResult } from './report.ts';
export type { EngineSnapshot, ViewerCounters, ViewerState } from './native.ts';

export interface RunLoadOptions extends Omit<LoadGeneratorOptions, 'hardStopSeconds'> {
  /** The server's base URL: viewers POST to `<url>/whep`. Loopback or an allowed address only. */
  url: string;
  viewers: number;
  /** Between two joins. Default 20. */
  spacingMs?: number;
  /** The whole run, from the first POST; the native thread's hard stop comes 20 s later at most. */
  seconds: number;
  /** The server's pid, to report its CPU (/proc/<pid>/stat) in the same window. */
  serverPid?: number;
  /**
   * The window is also read in slices this long (the server's µs per packet in each, and their median: a
   * moment's stall of a shared machine, or a garbage collection after the joins, moves one slice, not the
   * median). Default 5.
   */
  sliceSeconds?: number;
  /** A line about once a second while it runs. */
  onProgress?: (line: string) => void;
}

const MAX_VIEWERS = 5000;
const MAX_SECONDS = 600;
const POLL_MS = 250;
/** After the last viewer's first media, the joiners' GOP bursts settle before rates are measured. */
const SETTLE_MS = 1000;
/** Time left for leaving (DELETE, close_notify) before the native hard stop. */
const HARD_STOP_GRACE_SECONDS = 20;

export async function runLoad(options: RunLoadOptions): Promise<LoadReport> {
  const { url, viewers: count, seconds, spacingMs = 20, serverPid, sliceSeconds = 5, onProgress } = options;
  if (!Number.isInteger(count) || count < 1 || count > MAX_VIEWERS) throw new RangeError(`viewers must be 1–${MAX_VIEWERS}, got ${count}`);
  if (!(seconds > 0 && seconds <= MAX_SECONDS)) throw new RangeError(`seconds must be in (0, ${MAX_SECONDS}], got ${seconds}`);
  if (!(spacingMs >= 0)) throw new RangeError(`spacingMs must be ≥ 0, got ${spacingMs}`);
  if (serverPid !== undefined && !(Number.isInteger(serverPid) && serverPid > 0)) throw new RangeError(`serverPid must be a pid, got ${serverPid}`);
  if (!(sliceSeconds > 0)) throw new RangeError(`sliceSeconds must be > 0, got ${sliceSeconds}`);

  const generator = new LoadGenerator({ ...options, hardStopSeconds: seconds + HARD_STOP_GRACE_SECONDS });
  let statsUrl: URL;
  try {
    statsUrl = new URL('stats', generator.whepEndpoint(url)); // refuses a non-loopback URL; <url>/stats beside <url>/whep
  } catch (error) {
    await generator.close();
    throw error;
  }
  const startedAt = performance.now();
  const endAt = startedAt + seconds * 1000;
  const sample = async (): Promise<Sample> => {
    const sourceFrames = await sourceFramesAt(statsUrl);
    const cpu = process.cpuUsage();
    const snapshot = generator.snapshot();
    return {
      sourceFrames,
      atMs: performance.now(),
      threadCpuUs: snapshot.threadCpuUs,
      processCpuUs: cpu.user + cpu.system,
      serverCpuUs: serverPid === undefined ? undefined : processCpuUs(serverPid),
      machineIdleUs: machineIdleUs(),
      generatorDrops: dropsOnPorts(new Set(generator.viewers.map((viewer) => viewer.port))),
      serverDrops: serverPid === undefined ? undefined : dropsOfProcess(serverPid),
      snapshot,
    };
  };
  /** What a slice needs, cheap to take (no /stats, no socket tables). */
  const slice = (): CpuSlice => ({
    atMs: performance.now(),
    serverCpuUs: serverPid === undefined ? undefined : processCpuUs(serverPid),
    packets: generator.snapshot().viewers.reduce((sum, counters) => sum + counters.packets, 0),
  });
  const runStart = await sample();
  try {
    const joins: Promise<JoinedViewer>[] = [];
    const joining = (async () => {
      for (let index = 0; index < count; index++) {
        const due = startedAt + index * spacingMs;
        if (due >= endAt) break;
        if (due > performance.now()) await sleep(due - performance.now());
        joins.push(generator.join(url));
      }
    })();

    let windowStart: Sample | undefined;
    const slices: CpuSlice[] = [];
    let settled = false;
    let settledAt: number | undefined;
    let lastProgress = 0;
    while (performance.now() < endAt) {
      await sleep(Math.max(0, Math.min(POLL_MS, endAt - performance.now())));
      const now = performance.now();
      const snapshot = generator.snapshot();
      if (snapshot.threadDone) break;
      const allJoined = joins.length === count || startedAt + joins.length * spacingMs >= endAt;
      if (settledAt === undefined && allJoined) {
        const waiting = snapshot.viewers.some(
          (viewer, id) => viewer.firstMediaMs < 0 && viewer.state !== 'failed' && viewer.state !== 'closed' && !generator.viewers[id]?.error,
        );
        if (!waiting && snapshot.viewers.length === joins.length) {
          settled = true;
          settledAt = now;
        }
      }
      if (!windowStart && ((settledAt !== undefined && now >= settledAt + SETTLE_MS) || now >= endAt - 3000)) {
        windowStart = await sample();
        slices.push(slice());
      } else if (windowStart && now - slices[slices.length - 1]!.atMs >= sliceSeconds * 1000) {
        slices.push(slice());
      }
      if (onProgress && now - lastProgress >= 1000) {
        lastProgress = now;
        const receiving = snapshot.viewers.filter((viewer) => viewer.firstMediaMs >= 0).length;
        const connected = snapshot.viewers.filter((viewer) => viewer.connectedMs >= 0).length;
        onProgress(
          `${((now - startedAt) / 1000).toFixed(0)} s: ${joins.length}/${count} joined, ${connected} connected, ${receiving} receiving${windowStart ? ' (measuring)' : ''}`,
        );
      }
    }
    const windowEnd = await sample();
    slices.push(slice());
    await joining;
    const joined = await Promise.all(joins);
    return buildReport({
      joined,
      failure: (id) => generator.failure(id),
      runStart,
      windowStart: windowStart ?? windowEnd,
      windowEnd,
      slices,
      sliceSeconds,
      requested: count,
      settled,
    });
  } finally {
    await generator.close();
  }
}

/** Frames the server's source has made so far (its `GET /stats`), or undefined if it does not serve it. */
async function sourceFramesAt(statsUrl: URL): Promise<number | undefined> {
  try {
    const response = await fetch(statsUrl, { signal: AbortSignal.timeout(2_000) });
    if (!response.ok) return undefined;
    const frames = ((await response.json()) as { source?: { frames?: unknown } }).source?.frames;
    return typeof frames === 'number' ? frames : undefined;
  } catch {
    return undefined;
  }
}
