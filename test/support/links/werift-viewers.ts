/**
 * Werift viewers behind a link: werift-viewer-process.ts run inside the viewer namespace, each viewer on
 * its own two UDP ports (`weriftViewerPorts`), so that a link made with `portCaps` caps each apart. Lighter
 * than a browser per viewer (2 cores), and they send the feedback a browser sends: transport-cc, NACK, PLI.
 */
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Link } from './link.ts';
import type { ViewerCounters, ViewerProcessConfig } from './werift-viewer-process.ts';

export type { ViewerCounters } from './werift-viewer-process.ts';

const PROCESS = join(import.meta.dirname, 'werift-viewer-process.ts');

/** The ports viewer i of `startWeriftViewers` may listen on: give them to `createLink`'s `portCaps`. */
export const weriftViewerPorts = (firstPort: number, index: number): [number, number] => [firstPort + 2 * index, firstPort + 2 * index + 1];

export interface WeriftViewers {
  /** Each viewer's public id (`stats().viewers[].id`) once it has joined. */
  readonly ids: ReadonlyArray<string | undefined>;
  /** Why a viewer could not join, by index. */
  readonly failures: ReadonlyMap<number, string>;
  /** The counters once a second, cumulative since each viewer joined, with the time they came (performance.now()). */
  readonly samples: ReadonlyArray<{ at: number; counters: ViewerCounters[] }>;
  /** Resolves once every viewer has joined or failed; rejects after `timeoutMs`. */
  joined(timeoutMs: number): Promise<void>;
  /** Ends the process (its peers close first). Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts `count` werift viewers of `offerUrl` (POST /offer) in `link`'s viewer namespace, `spacingMs` apart
 * (default 200), with transport-cc feedback as a browser writes it unless `feedback: 'werift'`. The process
 * ends by itself after `seconds`, and with the link.
 */
export function startWeriftViewers(
  link: Link,
  { spacingMs = 200, ...options }: Omit<ViewerProcessConfig, 'spacingMs'> & { spacingMs?: number },
): WeriftViewers {
  const { count } = options;
  const config: ViewerProcessConfig = { ...options, spacingMs };
  const child = link.spawn(process.execPath, [PROCESS, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ids: Array<string | undefined> = Array.from({ length: count }, () => undefined);
  const failures = new Map<number, string>();
  const samples: Array<{ at: number; counters: ViewerCounters[] }> = [];
  let exited = false;
  const done = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as { joined?: number; viewer?: string; failed?: number; error?: string; sample?: ViewerCounters[] };
    if (event.joined !== undefined) ids[event.joined] = event.viewer;
    else if (event.failed !== undefined) failures.set(event.failed, event.error ?? 'failed');
    else if (event.sample) samples.push({ at: performance.now(), counters: event.sample });
  });
  return {
    ids,
    failures,
    samples,
    async joined(timeoutMs) {
      const end = performance.now() + timeoutMs;
      while (ids.filter(Boolean).length + failures.size < count) {
        if (exited) throw new Error('the werift viewers exited before all had joined');
        if (performance.now() > end) throw new Error(`only ${ids.filter(Boolean).length} of ${count} werift viewers joined in ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async close() {
      if (exited) return;
      child.stdin!.end('quit\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await done;
      clearTimeout(timer);
    },
  };
}
