/**
 * A real network link for tests and benchmarks: a viewer in its own network namespace, reached from the
 * test process through a router namespace that caps the rate, drops at random and delays (this kernel has
 * no netem qdisc).
 *
 *   test process (root namespace)        router namespace                         viewer namespace
 *   wgl<i> 10.201.<i>.1/30 ─veth─ srv ─[loss: nft prerouting]─[delay: NFQUEUE]─ view ─veth─ eth0 10.201.<i>.2/30
 *                                        [rate cap: TBF on `view`, toward the viewer]   (browsers run here)
 *                                        [or one cap per viewer port: HTB on `view`]
 *
 * Why a router in the middle rather than rules at the viewer's end: nothing but the veth end may go into
 * the root namespace, so without a router the viewer → server half of the delay would be held in the
 * viewer's own stack, where TSQ throttles a TCP sender (research/real-networks.md §8). In the router
 * every packet it holds, either way, has been received and is being forwarded, and the rate cap is a
 * plain egress queue of a forwarding hop, as a real bottleneck is. Measured through 40 ms RTT: TCP at
 * 640 Mbit/s uncapped and at 95 % of a 20 Mbit/s cap (test/links.test.ts).
 * The router answers ARP for either end (proxy ARP), so each end sees the other on its /30.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DelayLine, type DelayLineQueueStats } from './delay-line.ts';
import {
  MAX_LINKS, linkNames, removeNamespace, removeNamespaceSync, removeStaleLinks, usedIndexes, type LinkNames,
} from './namespaces.ts';
import { CommandError, run } from './run.ts';

export interface LinkOptions {
  /** Rate cap on server → viewer, in kbit/s (1000 bit/s); none when undefined. `setRate` changes it. */
  rateKbit?: number;
  /** Random loss of server → viewer UDP, in percent (0–100, to 0.01). `setLoss` changes it. */
  lossPercent?: number;
  /** One-way delay each way, in ms (the RTT is twice this); 0 or undefined: none. */
  delayMs?: number;
  /** The rate cap's queue, in ms at the capped rate (tail drop beyond it; at least 4 full packets). Default 100. */
  queueMs?: number;
  /**
   * Caps of their own for some viewers in the namespace, told apart by their UDP ports: each entry is one
   * cap (an HTB class with `queueMs` of queue), shared by the server → viewer UDP packets to its `ports`,
   * as if each of those viewers were behind its own link; everything else is uncapped. Not with `rateKbit`.
   */
  portCaps?: readonly PortCap[];
}

export interface PortCap {
  /** Destination UDP ports (in the viewer namespace) of the packets this cap carries. */
  ports: readonly number[];
  rateKbit: number;
}

/** One port cap's counters, as `capSent` and the others for the whole link. */
export interface PortCapStats {
  sent: number;
  dropped: number;
  backlogBytes: number;
}

export interface LinkStats {
  /** Server → viewer UDP packets that reached the router, and those its loss rule dropped. */
  udpToViewer: number;
  udpToViewerBytes: number;
  udpDropped: number;
  /** The rate cap's counters (zero without one): packets sent on, dropped at its full queue, queued now. */
  capSent: number;
  capDropped: number;
  capBacklogBytes: number;
  /** Each of `portCaps`' counters, in its order (their sums are the three above); empty without. */
  portCaps: PortCapStats[];
  /** The delay line's queues: [0] server → viewer, [1] viewer → server; empty without a delay. */
  delay: DelayLineQueueStats[];
}

export interface Link extends LinkNames {
  readonly options: Readonly<LinkOptions>;
  /** A private folder for this link's files (browser wrappers, profiles), removed by `close()`. */
  readonly folder: string;
  readonly closed: boolean;
  /** The delay line's process (in the router namespace), when the link has a delay. */
  readonly delayLinePid: number | undefined;
  /** Sets, changes or (undefined) lifts the rate cap while traffic flows (not on a link with `portCaps`). */
  setRate(kbit: number | undefined): Promise<void>;
  /** Sets the random loss of server → viewer UDP (0: none). */
  setLoss(percent: number): Promise<void>;
  /** Runs a program inside the viewer namespace to its end; resolves its stdout. */
  exec(command: string, args?: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** Starts a program inside the viewer namespace; `close()` kills it if it still runs. */
  spawn(command: string, args?: readonly string[], options?: SpawnOptions): ChildProcess;
  stats(): Promise<LinkStats>;
  /** Removes everything the link made: processes in its namespaces, the namespaces, the veth pairs. */
  close(): Promise<void>;
}

/** Server → viewer and viewer → server NFQUEUE numbers in the router namespace. */
const QUEUE_TO_VIEWER = 0;
const QUEUE_TO_SERVER = 1;
const FULL_PACKET = 1514;

/** A cap's bucket (10 ms, at least two full packets) and queue (`queueMs`, at least four), in bytes. */
function capBytes(kbit: number, queueMs: number): { burst: number; queue: number } {
  const bytesPerMs = kbit / 8;
  return {
    burst: Math.max(2 * FULL_PACKET, Math.round(bytesPerMs * 10)),
    queue: Math.max(4 * FULL_PACKET, Math.round(bytesPerMs * queueMs)),
  };
}

/** The TBF arguments for a cap: a bucket of 10 ms (at least two full packets) and `queueMs` of queue. */
export function tbfArgs(kbit: number, queueMs: number): string[] {
  const { burst, queue } = capBytes(kbit, queueMs);
  return ['tbf', 'rate', `${kbit}kbit`, 'burst', String(burst), 'limit', String(burst + queue)];
}

/**
 * `tc -batch` lines for port caps on `device`: an HTB root whose unclassified traffic goes straight
 * through (`default 0`), one class per cap (rate = ceil: it never borrows, so caps do not share), each
 * with a byte FIFO of `queueMs` as its queue (tail drop, as the TBF's), and u32 filters on UDP
 * destination ports. Class `1:<i + 1>` is cap i (tc reads minor ids and handles in hex); its FIFO is
 * `<i + 0x10>:`. The bucket is as the TBF's.
 */
function portCapBatch(device: string, caps: readonly PortCap[], queueMs: number): string[] {
  const lines = [`qdisc add dev ${device} root handle 1: htb default 0`];
  caps.forEach(({ ports, rateKbit }, index) => {
    const { burst, queue } = capBytes(rateKbit, queueMs);
    const classId = portCapClass(index);
    // quantum: only for sharing between classes, which never happens here; set so that tc does not
    // warn about the small one rate/r2q gives low rates.
    lines.push(
      `class add dev ${device} parent 1: classid ${classId} htb rate ${rateKbit}kbit ceil ${rateKbit}kbit burst ${burst} cburst ${burst} quantum ${FULL_PACKET}`,
      `qdisc add dev ${device} parent ${classId} handle ${(index + 0x10).toString(16)}: bfifo limit ${queue}`,
      ...ports.map((port) => `filter add dev ${device} parent 1: protocol ip prio 1 u32 match ip protocol 17 0xff match ip dport ${port} 0xffff flowid ${classId}`),
    );
  });
  return lines;
}

/** Port cap i's HTB class, as tc writes it. */
const portCapClass = (index: number) => `1:${(index + 1).toString(16)}`;

function lossRules(percent: number): string {
  const drop = Math.round(percent * 100);
  return [
    'flush chain ip webgear_link loss',
    // Counted first: what the server sent toward the viewer, before any is dropped.
    'add rule ip webgear_link loss iifname "srv" meta l4proto udp counter',
    // All of it (100 %): no random number, whose range (0-9999) cannot be compared with 10000.
    ...(drop >= 10_000 ? ['add rule ip webgear_link loss iifname "srv" meta l4proto udp counter drop'] : []),
    ...(drop > 0 && drop < 10_000 ? [`add rule ip webgear_link loss iifname "srv" meta l4proto udp numgen random mod 10000 < ${drop} counter drop`] : []),
  ].join('\n');
}

function validate(options: LinkOptions): void {
  const { rateKbit, lossPercent, delayMs, queueMs, portCaps } = options;
  const bad = (name: string, value: unknown, want: string) =>
    new TypeError(`createLink: ${name} must be ${want} (got ${String(value)})`);
  if (rateKbit !== undefined && !(Number.isFinite(rateKbit) && rateKbit >= 8)) throw bad('rateKbit', rateKbit, 'a number ≥ 8');
  if (lossPercent !== undefined && !(lossPercent >= 0 && lossPercent <= 100)) throw bad('lossPercent', lossPercent, 'within 0–100');
  if (delayMs !== undefined && !(delayMs >= 0 && delayMs <= 10_000)) throw bad('delayMs', delayMs, 'within 0–10000');
  if (queueMs !== undefined && !(queueMs > 0 && queueMs <= 10_000)) throw bad('queueMs', queueMs, 'within 1–10000');
  if (portCaps === undefined) return;
  if (rateKbit !== undefined) throw bad('portCaps', 'with rateKbit', 'alone: one cap for the link or one per port');
  const seen = new Set<number>();
  for (const cap of portCaps) {
    if (!(Number.isFinite(cap.rateKbit) && cap.rateKbit >= 8)) throw bad('portCaps[].rateKbit', cap.rateKbit, 'a number ≥ 8');
    if (cap.ports.length === 0) throw bad('portCaps[].ports', '[]', 'at least one port');
    for (const port of cap.ports) {
      if (!(Number.isInteger(port) && port > 0 && port < 65536)) throw bad('a port in portCaps', port, 'within 1–65535');
      if (seen.has(port)) throw bad('a port in portCaps', port, 'in one cap only');
      seen.add(port);
    }
  }
}

const openLinks = new Set<LinkNames>();
let exitHookInstalled = false;

/** On an exit without `close()` (a crashed test), remove what is left, synchronously; SIGKILL leaves it to the next run. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const names of openLinks) {
      removeNamespaceSync(names.routerNamespace);
      removeNamespaceSync(names.viewerNamespace);
    }
  });
}

/** Makes a link (see the top of this file). Requires root. Removes stale links of crashed runs first. */
export async function createLink(options: LinkOptions = {}): Promise<Link> {
  validate(options);
  if (process.getuid?.() !== 0) throw new Error('createLink needs root (network namespaces, veth, tc, nftables)');
  await removeStaleLinks();
  const names = await claimIndex();
  openLinks.add(names);
  installExitHook();
  try {
    return await setUp(names, options);
  } catch (error) {
    await tearDown(names, undefined);
    throw error;
  }
}

/** Makes the namespaces and the root veth end of the first free index; the veth's name is the claim. */
async function claimIndex(): Promise<LinkNames> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const used = await usedIndexes();
    const index = Array.from({ length: MAX_LINKS }, (_, i) => i).find((i) => !used.has(i));
    if (index === undefined) throw new Error(`createLink: all ${MAX_LINKS} link indexes are in use`);
    const names = linkNames(index);
    await run('ip', ['netns', 'add', names.routerNamespace]);
    await run('ip', ['netns', 'add', names.viewerNamespace]);
    try {
      await run('ip', ['link', 'add', names.rootDevice, 'type', 'veth', 'peer', 'name', 'srv', 'netns', names.routerNamespace]);
      return names;
    } catch (error) {
      await removeNamespace(names.routerNamespace);
      await removeNamespace(names.viewerNamespace);
      if (!(error instanceof CommandError && /exists/i.test(error.stderr))) throw error;
      // Another process took this index between our look and our claim: try the next free one.
    }
  }
  throw new Error('createLink: could not claim a link index (too many processes making links at once?)');
}

async function setUp(names: LinkNames, options: LinkOptions): Promise<Link> {
  const { rootDevice, routerNamespace: router, viewerNamespace: viewer, serverAddress, viewerAddress } = names;
  const queueMs = options.queueMs ?? 100;
  // Root namespace: only our veth end, its address and the /30 route that comes with it. No IPv6 on it.
  await run('ip', ['link', 'set', rootDevice, 'addrgenmode', 'none']);
  await run('ip', ['addr', 'add', `${serverAddress}/30`, 'dev', rootDevice]);
  // One datagram per packet on the link, as on a wire: the server's send thread hands the kernel a run of
  // a viewer's packets as one UDP GSO send, and a veth carries that whole to the router, where the loss
  // rule would drop it all at once (2 % "random" loss as bursts of 4–5 packets, a fifth as many losses).
  // A device that segments nothing makes the kernel cut it into datagrams first, as a NIC does.
  await run('ip', ['link', 'set', rootDevice, 'gso_max_segs', '1']);
  await run('ip', ['link', 'set', rootDevice, 'up']);
  // Router: forwards between its two ends and answers ARP for each far end at once (proxy_delay 0).
  await run('ip', ['netns', 'exec', router, 'sysctl', '-q', '-w',
    'net.ipv4.conf.all.forwarding=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0',
    'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await run('ip', ['-n', router, '-batch', '-'], {
    input: [
      'link set lo up',
      `link add view type veth peer name eth0 netns ${viewer}`,
      'link set srv up',
      'link set view up',
      `route add ${serverAddress}/32 dev srv`,
      `route add ${viewerAddress}/32 dev view`,
    ].join('\n'),
  });
  await run('ip', ['netns', 'exec', router, 'sysctl', '-q', '-w',
    'net.ipv4.conf.srv.proxy_arp=1', 'net.ipv4.conf.view.proxy_arp=1',
    'net.ipv4.neigh.srv.proxy_delay=0', 'net.ipv4.neigh.view.proxy_delay=0',
    'net.ipv4.conf.srv.rp_filter=0', 'net.ipv4.conf.view.rp_filter=0']);
  // Viewer: its address, and a default route through the router, which has no route anywhere but the
  // server: Firefox gathers ICE candidates only on the default route's interface, and anything else is
  // answered "unreachable" at once.
  await run('ip', ['netns', 'exec', viewer, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await run('ip', ['-n', viewer, '-batch', '-'], {
    input: ['link set lo up', `addr add ${viewerAddress}/30 dev eth0`, 'link set eth0 up', `route add default via ${serverAddress}`].join('\n'),
  });
  // Loss first of all (prerouting, priority -400), on server → viewer UDP only: signalling is TCP.
  await run('ip', ['netns', 'exec', router, 'nft', '-f', '-'], {
    input: `add table ip webgear_link\nadd chain ip webgear_link loss { type filter hook prerouting priority -400; policy accept; }\n${lossRules(options.lossPercent ?? 0)}`,
  });
  let delayLine: DelayLine | undefined;
  if (options.delayMs) {
    delayLine = await DelayLine.start(router, [
      { queue: QUEUE_TO_VIEWER, delayMs: options.delayMs },
      { queue: QUEUE_TO_SERVER, delayMs: options.delayMs },
    ]);
    // The kernel here has no nft `queue` expression; iptables' NFQUEUE target goes through nft's compat layer.
    for (const [device, queue] of [['srv', QUEUE_TO_VIEWER], ['view', QUEUE_TO_SERVER]] as const) {
      await run('ip', ['netns', 'exec', router, 'iptables', '-w', '-t', 'mangle', '-A', 'FORWARD', '-i', device, '-j', 'NFQUEUE', '--queue-num', String(queue)]);
    }
  }
  let rate: number | undefined;
  const setRate = async (kbit: number | undefined) => {
    if (kbit !== undefined) validate({ rateKbit: kbit });
    if (kbit === undefined) {
      if (rate !== undefined) await run('ip', ['netns', 'exec', router, 'tc', 'qdisc', 'del', 'dev', 'view', 'root']);
    } else {
      // `change` keeps what the queue holds, as a link whose rate drops would.
      await run('ip', ['netns', 'exec', router, 'tc', 'qdisc', rate === undefined ? 'add' : 'change', 'dev', 'view', 'root', ...tbfArgs(kbit, queueMs)]);
    }
    rate = kbit;
  };
  await setRate(options.rateKbit);
  if (options.portCaps) {
    await run('ip', ['netns', 'exec', router, 'tc', '-batch', '-'], { input: portCapBatch('view', options.portCaps, queueMs).join('\n') });
  }

  const folder = mkdtempSync(join(tmpdir(), `webgear-rtc-${rootDevice}-`));
  const children = new Set<ChildProcess>();
  let closed = false;
  const link: Link = {
    ...names,
    options: { ...options },
    folder,
    delayLinePid: delayLine?.pid,
    get closed() {
      return closed;
    },
    setRate: (kbit) => {
      if (closed) return Promise.reject(new Error(`link ${rootDevice} is closed`));
      if (options.portCaps) return Promise.reject(new Error(`link ${rootDevice} has port caps, not one rate`));
      return setRate(kbit);
    },
    async setLoss(percent) {
      if (closed) throw new Error(`link ${rootDevice} is closed`);
      validate({ lossPercent: percent });
      await run('ip', ['netns', 'exec', router, 'nft', '-f', '-'], { input: lossRules(percent) });
    },
    exec(command, args = [], execOptions = {}) {
      if (closed) return Promise.reject(new Error(`link ${rootDevice} is closed`));
      return run('ip', ['netns', 'exec', viewer, command, ...args], execOptions);
    },
    spawn(command, args = [], spawnOptions = {}) {
      if (closed) throw new Error(`link ${rootDevice} is closed`);
      const child = spawn('ip', ['netns', 'exec', viewer, command, ...args], spawnOptions);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    async stats() {
      const counters = JSON.parse(await run('ip', ['netns', 'exec', router, 'nft', '-j', 'list', 'chain', 'ip', 'webgear_link', 'loss'])) as {
        nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number; bytes: number } }> } }>;
      };
      const rules = counters.nftables.flatMap((item) => item.rule?.expr.flatMap((e) => (e.counter ? [e.counter] : [])) ?? []);
      const qdiscs = JSON.parse(await run('ip', ['netns', 'exec', router, 'tc', '-s', '-j', 'qdisc', 'show', 'dev', 'view'])) as Array<{
        kind: string; parent?: string; packets: number; drops: number; backlog: number;
      }>;
      const tbf = qdiscs.find((qdisc) => qdisc.kind === 'tbf');
      // A port cap's counters are its FIFO's: what it sent on, dropped full, holds (HTB's own are the sums).
      const portCaps = (options.portCaps ?? []).map((_, index) => {
        const fifo = qdiscs.find((qdisc) => qdisc.kind === 'bfifo' && qdisc.parent === portCapClass(index));
        return { sent: fifo?.packets ?? 0, dropped: fifo?.drops ?? 0, backlogBytes: fifo?.backlog ?? 0 };
      });
      const sum = (key: keyof PortCapStats) => portCaps.reduce((total, cap) => total + cap[key], 0);
      return {
        udpToViewer: rules[0]?.packets ?? 0,
        udpToViewerBytes: rules[0]?.bytes ?? 0,
        udpDropped: rules[1]?.packets ?? 0,
        capSent: tbf?.packets ?? sum('sent'),
        capDropped: tbf?.drops ?? sum('dropped'),
        capBacklogBytes: tbf?.backlog ?? sum('backlogBytes'),
        portCaps,
        delay: delayLine ? await delayLine.stats() : [],
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const child of children) child.kill('SIGKILL');
      await tearDown(names, delayLine);
      rmSync(folder, { recursive: true, force: true });
    },
  };
  return link;
}

/** Removes a link's processes, namespaces and veth pairs (the root end goes with its peer). */
async function tearDown(names: LinkNames, delayLine: DelayLine | undefined): Promise<void> {
  await delayLine?.stop();
  await removeNamespace(names.viewerNamespace);
  await removeNamespace(names.routerNamespace);
  // Gone with the router namespace's `srv`; deleted here only if that namespace never got it.
  await run('ip', ['link', 'delete', names.rootDevice]).catch(() => {});
  openLinks.delete(names);
}
