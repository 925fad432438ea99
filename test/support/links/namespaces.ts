/**
 * Names and addresses of test links, and the removal of what a crashed run left behind.
 *
 * Link `i` (0–255) is `wgl<i>` in the root namespace (10.201.<i>.1/30), a router namespace
 * `wgl<i>-<pid>-router` and a viewer namespace `wgl<i>-<pid>-viewer` (10.201.<i>.2), where `<pid>` is the
 * process that made it: a link whose process is gone is stale, and the next `createLink` removes it.
 */
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, runSync } from './run.ts';

export const LINK_PREFIX = 'wgl';
export const MAX_LINKS = 256;
const NAMESPACE = /^wgl(\d+)-(\d+)-(router|viewer)$/;
const ROOT_DEVICE = /^wgl(\d+)$/;

export interface LinkNames {
  index: number;
  /** The veth end in the test process's namespace. */
  rootDevice: string;
  routerNamespace: string;
  viewerNamespace: string;
  /** The root side's address: where the server listens and what it announces in ICE. */
  serverAddress: string;
  /** The viewer namespace's address. */
  viewerAddress: string;
}

export function linkNames(index: number, pid = process.pid): LinkNames {
  return {
    index,
    rootDevice: `${LINK_PREFIX}${index}`,
    routerNamespace: `${LINK_PREFIX}${index}-${pid}-router`,
    viewerNamespace: `${LINK_PREFIX}${index}-${pid}-viewer`,
    serverAddress: `10.201.${index}.1`,
    viewerAddress: `10.201.${index}.2`,
  };
}

/** Every named network namespace (`ip netns list`). */
export async function namespaces(): Promise<string[]> {
  return (await run('ip', ['netns', 'list'])).split('\n').map((line) => line.split(' ')[0]!).filter(Boolean);
}

/** Names of the root namespace's network devices. */
export async function rootDevices(): Promise<string[]> {
  return (JSON.parse(await run('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>).map((link) => link.ifname);
}

async function usedNamespaceIndexes(): Promise<Set<number>> {
  const used = new Set<number>();
  for (const name of await namespaces()) {
    const match = NAMESPACE.exec(name);
    if (match) used.add(Number(match[1]));
  }
  return used;
}

/** The indexes that namespaces or root devices of any process use now. */
export async function usedIndexes(): Promise<Set<number>> {
  const used = await usedNamespaceIndexes();
  for (const name of await rootDevices()) {
    const match = ROOT_DEVICE.exec(name);
    if (match) used.add(Number(match[1]));
  }
  return used;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The processes inside named namespace `name` (what `ip netns pids` prints), read from /proc directly so
 * that it also works synchronously at exit.
 */
export function processesIn(name: string): number[] {
  let inode: number;
  try {
    inode = statSync(`/run/netns/${name}`).ino; // the namespace itself, bind-mounted there by `ip netns add`
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) === `net:[${inode}]`) pids.push(Number(entry));
    } catch {
      // it ended while we looked, or it is a zombie
    }
  }
  return pids;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Removes a namespace and everything in it: its processes (SIGKILL; waited for, since a namespace with a
 * process left lives on, and its devices with it), then the name. Missing is fine.
 */
export async function removeNamespace(name: string): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const pids = processesIn(name);
    if (pids.length === 0) break;
    killAll(pids);
    await sleep(50);
  }
  await run('ip', ['netns', 'delete', name]).catch(() => {});
}

/** The same, synchronously, for `process.on('exit')`: it does not wait for the killed to be gone. */
export function removeNamespaceSync(name: string): void {
  killAll(processesIn(name));
  try {
    runSync('ip', ['netns', 'delete', name]);
  } catch {
    // already gone
  }
}

/**
 * Removes the links of processes that are gone: their namespaces (with what runs in them) and any root
 * device `wgl<i>` that no namespace goes with. Returns what it removed.
 */
export async function removeStaleLinks(): Promise<string[]> {
  const removed: string[] = [];
  const live = new Set<number>();
  for (const name of await namespaces()) {
    const match = NAMESPACE.exec(name);
    if (!match) continue;
    if (isAlive(Number(match[2]))) {
      live.add(Number(match[1]));
      continue;
    }
    await removeNamespace(name);
    removed.push(name);
  }
  // A root device lives only as long as its router namespace (its peer is there), so one without a live
  // namespace of its index is left over.
  for (const name of await rootDevices()) {
    const match = ROOT_DEVICE.exec(name);
    if (!match || live.has(Number(match[1]))) continue;
    // Another process may have made this index's namespaces since we listed them.
    if ((await usedNamespaceIndexes()).has(Number(match[1]))) continue;
    await run('ip', ['link', 'delete', name]).catch(() => {});
    removed.push(name);
  }
  return removed;
}
