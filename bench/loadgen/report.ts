/**
 * What a run measured: per viewer, and summed up. The steady window is where rates are taken (frames per
 * second, packets per second, CPU per packet): it opens once every viewer has its first media (or has
 * failed) plus a second for the joiners' GOP bursts, and closes at the end of the run.
 */
import type { EngineSnapshot, ViewerCounters, ViewerState } from './native.ts';
import type { JoinedViewer } from './generator.ts';

export interface ViewerResult {
  id: number;
  state: ViewerState;
  /** Why signaling or the media path failed. */
  failure?: string;
  codec?: string;
  /** ms after the (first) POST: the 201 answer, ICE + DTLS done, the first decrypted packet. */
  answerMs?: number;
  /** 503s the server answered before that (the generator's `retryRefusedForMs`). */
  refusals: number;
  connectedMs?: number;
  firstMediaMs?: number;
  packets: number;
  bytes: number;
  /** Sequence gaps since the first packet; with no NACK offered, each is a packet the server never sent. */
  lost: number;
  lossPercent: number;
  frames: number;
  /** Frames (marker bits) per second in the steady window. */
  framesPerSecond: number;
  authFailures: number;
  rtcpAuthFailures: number;
  rtcpSent: number;
  rtcpReceived: number;
  stunAnswered: number;
  consentResponses: number;
  jitterMs: number;
}

export interface Distribution {
  p50: number;
  p90: number;
  max: number;
  min: number;
}

/** What the run reads at a moment: counters, CPU times, kernel drops. */
export interface Sample {
  atMs: number;
  /** Frames the server's source had made (its /stats), to tell a slow source from a slow fan-out. */
  sourceFrames?: number;
  threadCpuUs: number;
  processCpuUs: number;
  serverCpuUs?: number;
  machineIdleUs?: number;
  /** Datagrams the kernel dropped on the generator's sockets (full receive buffers), so far. */
  generatorDrops: number;
  /** The same on the server process's UDP sockets (ffmpeg's ingest among them), by local port, given its pid. */
  serverDrops?: Map<number, number>;
  snapshot: EngineSnapshot;
}

export interface LoadSummary {
  requested: number;
  answered: number;
  /** Of those answered, how many were told 503 at least once first and came back after its Retry-After. */
  answeredAfterRefusal: number;
  connected: number;
  receiving: number;
  failed: number;
  failures: Record<string, number>;
  lossPercent: number;
  worstLossPercent: number;
  authFailures: number;
  rtcpAuthFailures: number;
  answerMs?: Distribution;
  firstMediaMs?: Distribution;
  framesPerSecond?: Distribution;
  /** Frames per second the server's source made in the window (from its /stats). */
  sourceFramesPerSecond?: number;
  window: { seconds: number; settled: boolean; packets: number; packetsPerSecond: number };
  /** The generator's CPU in the window: its I/O thread alone, and the whole process (Node included). */
  generator: {
    threadCores: number;
    processCores: number;
    threadUsPerPacket: number;
    processUsPerPacket: number;
    /** How batched its reading was: wake-ups of the I/O thread per second, datagrams per recvmmsg. */
    wakeupsPerSecond: number;
    datagramsPerRecv: number;
  };
  /**
   * The server's process (given its pid): cores, and µs per packet the viewers received, over the window;
   * the same µs in each slice of it (`sliceSeconds`; a last one under half of that is left out) and their
   * median.
   */
  server?: { cores: number; usPerPacket: number; slices: number[]; usPerPacketMedian: number };
  /** Idle cores of the whole machine in the window (/proc/stat): near 0 means the run shared a full machine. */
  machineIdleCores?: number;
  /** Datagrams the kernel dropped over the run because a socket's buffer was full: ours, the server's. */
  kernelDrops: {
    generator: number;
    server?: number;
    /** The server's sockets that dropped, most first: a drop on the ingest socket is a loss for every viewer. */
    serverSockets?: { port: number; drops: number }[];
  };
}

export interface LoadReport {
  summary: LoadSummary;
  viewers: ViewerResult[];
}

export function distribution(values: number[]): Distribution | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p90: at(0.9), max: sorted[sorted.length - 1]!, min: sorted[0]! };
}

const since = (ms: number) => (ms >= 0 ? ms : undefined);

/** The server's CPU and the packets received so far, at a slice's edge. */
export interface CpuSlice {
  atMs: number;
  serverCpuUs?: number;
  packets: number;
}

export interface ReportInput {
  joined: JoinedViewer[];
  failure: (id: number) => string | undefined;
  runStart: Sample;
  windowStart: Sample;
  windowEnd: Sample;
  /** Edges of the window's slices, from its start to its end (none: the window is one slice). */
  slices?: CpuSlice[];
  sliceSeconds?: number;
  requested: number;
  settled: boolean;
}

export function buildReport(input: ReportInput): LoadReport {
  const { joined, failure: failures, runStart, windowStart: start, windowEnd: end, requested, settled, slices = [], sliceSeconds = Infinity } = input;
  const seconds = (end.atMs - start.atMs) / 1000;
  const before = new Map<number, ViewerCounters>(start.snapshot.viewers.map((counters, id) => [id, counters]));
  const viewers: ViewerResult[] = end.snapshot.viewers.map((counters, id) => {
    const signaling = joined[id];
    const expected = counters.packets + counters.lost;
    const framesBefore = before.get(id)?.frames ?? 0;
    return {
      id,
      state: counters.state,
      failure: signaling?.error ?? failures(id),
      codec: signaling?.codec,
      answerMs: signaling?.answerMs,
      refusals: signaling?.refusals ?? 0,
      connectedMs: since(counters.connectedMs),
      firstMediaMs: since(counters.firstMediaMs),
      packets: counters.packets,
      bytes: counters.bytes,
      lost: counters.lost,
      lossPercent: expected > 0 ? (100 * counters.lost) / expected : 0,
      frames: counters.frames,
      framesPerSecond: seconds > 0 ? (counters.frames - framesBefore) / seconds : 0,
      authFailures: counters.authFailures,
      rtcpAuthFailures: counters.rtcpAuthFailures,
      rtcpSent: counters.rtcpSent,
      rtcpReceived: counters.rtcpReceived,
      stunAnswered: counters.stunAnswered,
      consentResponses: counters.consentResponses,
      jitterMs: counters.jitterMs,
    };
  });
  const packetsIn = (sample: Sample) => sample.snapshot.viewers.reduce((sum, counters) => sum + counters.packets, 0);
  const windowPackets = packetsIn(end) - packetsIn(start);
  const failuresByReason: Record<string, number> = {};
  for (const viewer of viewers) {
    if (viewer.failure) failuresByReason[viewer.failure] = (failuresByReason[viewer.failure] ?? 0) + 1;
  }
  const lost = viewers.reduce((sum, viewer) => sum + viewer.lost, 0);
  const received = viewers.reduce((sum, viewer) => sum + viewer.packets, 0);
  const perPacket = (us: number) => (windowPackets > 0 ? us / windowPackets : Number.NaN);
  const cores = (us: number) => (seconds > 0 ? us / 1e6 / seconds : 0);
  const threadUs = end.threadCpuUs - start.threadCpuUs;
  const processUs = end.processCpuUs - start.processCpuUs;
  const receiving = viewers.filter((viewer) => viewer.framesPerSecond > 0);
  const summary: LoadSummary = {
    requested,
    answered: joined.filter((viewer) => viewer?.status === 201).length,
    answeredAfterRefusal: joined.filter((viewer) => viewer?.status === 201 && (viewer.refusals ?? 0) > 0).length,
    connected: viewers.filter((viewer) => viewer.connectedMs !== undefined).length,
    receiving: receiving.length,
    failed: viewers.filter((viewer) => viewer.failure !== undefined).length,
    failures: failuresByReason,
    lossPercent: received + lost > 0 ? (100 * lost) / (received + lost) : 0,
    worstLossPercent: Math.max(0, ...viewers.map((viewer) => viewer.lossPercent)),
    authFailures: viewers.reduce((sum, viewer) => sum + viewer.authFailures, 0),
    rtcpAuthFailures: viewers.reduce((sum, viewer) => sum + viewer.rtcpAuthFailures, 0),
    answerMs: distribution(viewers.flatMap((viewer) => (viewer.answerMs === undefined ? [] : [viewer.answerMs]))),
    firstMediaMs: distribution(viewers.flatMap((viewer) => (viewer.firstMediaMs === undefined ? [] : [viewer.firstMediaMs]))),
    framesPerSecond: distribution(receiving.map((viewer) => viewer.framesPerSecond)),
    sourceFramesPerSecond:
      start.sourceFrames === undefined || end.sourceFrames === undefined || seconds <= 0
        ? undefined
        : (end.sourceFrames - start.sourceFrames) / seconds,
    window: { seconds, settled, packets: windowPackets, packetsPerSecond: seconds > 0 ? windowPackets / seconds : 0 },
    generator: {
      threadCores: cores(threadUs),
      processCores: cores(processUs),
      threadUsPerPacket: perPacket(threadUs),
      processUsPerPacket: perPacket(processUs),
      wakeupsPerSecond: seconds > 0 ? (end.snapshot.wakeups - start.snapshot.wakeups) / seconds : 0,
      datagramsPerRecv:
        (end.snapshot.datagrams - start.snapshot.datagrams) / Math.max(1, end.snapshot.recvCalls - start.snapshot.recvCalls),
    },
    kernelDrops: { generator: end.generatorDrops - runStart.generatorDrops, ...serverDrops(runStart, end) },
  };
  if (start.machineIdleUs !== undefined && end.machineIdleUs !== undefined) {
    summary.machineIdleCores = cores(end.machineIdleUs - start.machineIdleUs);
  }
  if (start.serverCpuUs !== undefined && end.serverCpuUs !== undefined) {
    const serverUs = end.serverCpuUs - start.serverCpuUs;
    const usPerPacket = perPacket(serverUs);
    const sliced = sliceUsPerPacket(slices, (sliceSeconds * 1000) / 2);
    summary.server = {
      cores: cores(serverUs),
      usPerPacket,
      slices: sliced,
      usPerPacketMedian: sliced.length > 0 ? median(sliced) : usPerPacket,
    };
  }
  return { summary, viewers };
}

/** The server's µs per packet received between consecutive edges at least `minMs` apart. */
function sliceUsPerPacket(edges: CpuSlice[], minMs: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < edges.length; i++) {
    const [from, to] = [edges[i - 1]!, edges[i]!];
    if (from.serverCpuUs === undefined || to.serverCpuUs === undefined) continue;
    if (to.atMs - from.atMs < minMs || to.packets <= from.packets) continue;
    out.push((to.serverCpuUs - from.serverCpuUs) / (to.packets - from.packets));
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function serverDrops(start: Sample, end: Sample): Pick<LoadSummary['kernelDrops'], 'server' | 'serverSockets'> {
  if (!start.serverDrops || !end.serverDrops) return {};
  const sockets = [...end.serverDrops]
    .map(([port, drops]) => ({ port, drops: drops - (start.serverDrops!.get(port) ?? 0) }))
    .filter((socket) => socket.drops > 0)
    .sort((a, b) => b.drops - a.drops);
  return { server: sockets.reduce((sum, socket) => sum + socket.drops, 0), serverSockets: sockets.slice(0, 10) };
}

const fixed = (value: number | undefined, digits = 0) => (value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits));
const spread = (d: Distribution | undefined, digits = 0) =>
  d ? `p50 ${fixed(d.p50, digits)}, p90 ${fixed(d.p90, digits)}, min ${fixed(d.min, digits)}, max ${fixed(d.max, digits)}` : '–';

/** The summary as lines for a terminal. */
export function formatSummary(summary: LoadSummary): string {
  const lines = [
    `viewers: ${summary.requested} requested, ${summary.answered} answered${summary.answeredAfterRefusal > 0 ? ` (${summary.answeredAfterRefusal} after a 503 and its Retry-After)` : ''}, ${summary.connected} connected, ${summary.receiving} receiving, ${summary.failed} failed`,
    ...Object.entries(summary.failures).map(([reason, count]) => `  ${count} × ${reason}`),
    `loss: ${fixed(summary.lossPercent, 3)} % overall, worst viewer ${fixed(summary.worstLossPercent, 3)} %; SRTP auth failures ${summary.authFailures}, SRTCP ${summary.rtcpAuthFailures}`,
    `POST → answer ms: ${spread(summary.answerMs)}`,
    `first media ms (after POST): ${spread(summary.firstMediaMs)}`,
    `frames/s in the window: ${spread(summary.framesPerSecond, 1)}; the source made ${fixed(summary.sourceFramesPerSecond, 1)}`,
    `window: ${fixed(summary.window.seconds, 1)} s${summary.window.settled ? '' : ' (not every viewer had settled)'}, ${summary.window.packets} packets, ${fixed(summary.window.packetsPerSecond)} packets/s`,
    `generator CPU: I/O thread ${fixed(summary.generator.threadCores, 3)} cores = ${fixed(summary.generator.threadUsPerPacket, 2)} µs/packet; whole process ${fixed(summary.generator.processCores, 3)} cores = ${fixed(summary.generator.processUsPerPacket, 2)} µs/packet`,
    `generator reads: ${fixed(summary.generator.wakeupsPerSecond)} wake-ups/s, ${fixed(summary.generator.datagramsPerRecv, 1)} datagrams per recvmmsg`,
  ];
  if (summary.server) {
    const { cores, usPerPacket, slices, usPerPacketMedian } = summary.server;
    lines.push(
      `server process: ${fixed(cores, 3)} cores = ${fixed(usPerPacket, 2)} µs per packet delivered; ` +
        `median of ${slices.length} slices ${fixed(usPerPacketMedian, 2)} (${slices.map((us) => fixed(us, 2)).join(', ')})`,
    );
  }
  if (summary.machineIdleCores !== undefined) lines.push(`machine idle in the window: ${fixed(summary.machineIdleCores, 2)} cores`);
  const { generator, server, serverSockets } = summary.kernelDrops;
  const where = serverSockets?.length ? ` (${serverSockets.slice(0, 3).map((socket) => `port ${socket.port}: ${socket.drops}`).join(', ')})` : '';
  lines.push(`kernel drops (full socket buffers) over the run: generator ${generator}${server === undefined ? '' : `, server ${server}${where}`}`);
  return lines.join('\n');
}
