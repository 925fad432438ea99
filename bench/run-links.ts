/**
 * `npm run bench`'s real-link part: bench/links.ts's scenarios (issue 17), run in a child process when this
 * machine can make network namespaces (root, `ip netns`), and skipped with the reason otherwise.
 *
 * Names: every bench/links.ts scenario by its own name (clean, cap800, crowd, …) where bench/run.ts has
 * none by that name; `links:<name>` for any of them (`links:firstFrame`: bench/run.ts has a firstFrame
 * of its own); `links` for all of them.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStaleLinks } from '../test/support/links/namespaces.ts';
import type { TargetRow } from './links-crowd.ts';
import { LINK_SCENARIOS } from './links.ts';

/** The whole real-link run is bounded: every scenario (about 9 minutes) plus the waits for a quiet machine. */
const LINKS_TIMEOUT_MS = 40 * 60_000;

/** Splits the asked names into bench/run.ts's own and bench/links.ts's; throws for an unknown one. */
export function selectScenarios(asked: readonly string[], own: readonly string[]): { own: string[]; links: string[] } {
  if (asked.length === 0) return { own: [...own], links: [...LINK_SCENARIOS] };
  const selected = { own: [] as string[], links: [] as string[] };
  for (const name of asked) {
    const prefixed = name.startsWith('links:') ? name.slice('links:'.length) : undefined;
    if (own.includes(name)) selected.own.push(name);
    else if (name === 'links') selected.links.push(...LINK_SCENARIOS);
    else if (LINK_SCENARIOS.includes(prefixed ?? name)) selected.links.push(prefixed ?? name);
    else throw new Error(`no scenario "${name}": ${own.join(', ')}; real links (links:<name>, or the name alone where unique): ${LINK_SCENARIOS.join(', ')}`);
  }
  selected.links = [...new Set(selected.links)];
  return selected;
}

/** Why this machine cannot run the real-link scenarios, or undefined if it can. */
export function linksUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (network namespaces, veth, tc and nftables need it)';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  } catch (error) {
    return `\`ip netns\` does not work here (${String((error as { stderr?: unknown }).stderr ?? error).trim().split('\n')[0]})`;
  }
  return undefined;
}

export interface LinkRun {
  /** Rows for the targets table (the crowd's). */
  rows: TargetRow[];
  /** The browser scenarios' table and the first-frame breakdown, as bench/links.ts prints them. */
  markdown: string;
}

/** Runs `names` with bench/links.ts in a child process (its output goes to ours); rejects if it fails. */
export async function runLinkScenarios(names: readonly string[]): Promise<LinkRun> {
  const json = join(tmpdir(), `webgear-rtc-bench-links-${process.pid}.json`);
  const child = spawn(process.execPath, [join(import.meta.dirname, 'links.ts'), ...names, '--json', json], { stdio: 'inherit' });
  const timer = setTimeout(() => child.kill('SIGKILL'), LINKS_TIMEOUT_MS);
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    if (code !== 0) throw new Error(`bench/links.ts ${names.join(' ')} ended with ${signal ?? `exit code ${code}`}`);
    return JSON.parse(readFileSync(json, 'utf8')) as LinkRun;
  } finally {
    clearTimeout(timer);
    rmSync(json, { force: true });
    // A child killed before its own clean-up leaves its namespaces: those of processes that are gone go now.
    await removeStaleLinks();
  }
}
