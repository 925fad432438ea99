/**
 * The native half of the load generator (src/*.c, built by `npm run loadgen:build` with node-gyp into
 * bench/loadgen/build/), loaded with node-gyp-build, and its counters decoded by name.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An engine: the I/O thread and its viewers. Freed when garbage-collected (after `stop`). */
export type Engine = object & { readonly __engine: unique symbol };

export interface NativeLoadgen {
  create(hardStopMs: number, allowedAddresses: string[], batchUs: number, receiveOffload: boolean): Engine;
  fingerprint(engine: Engine): string;
  addViewer(engine: Engine, bindAddress: string): { id: number; port: number; ufrag: string; pwd: string };
  startViewer(
    engine: Engine,
    id: number,
    ufrag: string,
    pwd: string,
    address: string,
    port: number,
    fingerprint: Buffer,
    srtpProfiles: string,
    connectTimeoutMs: number,
  ): void;
  closeViewer(engine: Engine, id: number): void;
  failure(engine: Engine, id: number): string | null;
  stats(engine: Engine): Float64Array;
  layout(): { header: string[]; viewer: string[] };
  stop(engine: Engine): void;
}

const here = dirname(fileURLToPath(import.meta.url));

/** Loads the addon, or throws saying how to build it. */
export function loadNative(): NativeLoadgen {
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  try {
    return nodeGypBuild(here) as NativeLoadgen;
  } catch (error) {
    throw new Error(
      `the native load generator is not built (${(error as Error).message.split('\n')[0]}): run \`npm run loadgen:build\``,
    );
  }
}

/** Viewer states, as src/loadgen.h numbers them. */
export const VIEWER_STATES = ['new', 'checking', 'dtls', 'connected', 'failed', 'closed'] as const;
export type ViewerState = (typeof VIEWER_STATES)[number];

/** One viewer's counters; times in ms after its POST, -1 when not yet. */
export interface ViewerCounters {
  state: ViewerState;
  packets: number;
  bytes: number;
  frames: number;
  lost: number;
  authFailures: number;
  rtcpAuthFailures: number;
  otherSsrc: number;
  rtcpSent: number;
  rtcpReceived: number;
  stunAnswered: number;
  consentResponses: number;
  sendErrors: number;
  createdMs: number;
  connectedMs: number;
  firstMediaMs: number;
  lastMediaMs: number;
  jitterMs: number;
}

export interface EngineSnapshot {
  /** CPU time of the I/O thread (getrusage RUSAGE_THREAD), µs. */
  threadCpuUs: number;
  datagrams: number;
  recvCalls: number;
  wakeups: number;
  threadDone: boolean;
  /** ms since the engine started. */
  nowMs: number;
  viewers: ViewerCounters[];
}

/** Decodes `stats()` by the names `layout()` gives, so the two sides cannot drift apart silently. */
export function decodeStats(native: NativeLoadgen, raw: Float64Array): EngineSnapshot {
  const { header, viewer } = native.layout();
  const head = Object.fromEntries(header.map((name, index) => [name, raw[index]!]));
  const viewers: ViewerCounters[] = [];
  for (let offset = header.length; offset + viewer.length <= raw.length; offset += viewer.length) {
    const entry = Object.fromEntries(viewer.map((name, index) => [name, raw[offset + index]!]));
    viewers.push({ ...entry, state: VIEWER_STATES[entry.state!] ?? 'failed' } as unknown as ViewerCounters);
  }
  return {
    threadCpuUs: head.threadCpuUs!,
    datagrams: head.datagrams!,
    recvCalls: head.recvCalls!,
    wakeups: head.wakeups!,
    threadDone: head.threadDone === 1,
    nowMs: head.nowMs!,
    viewers,
  };
}
