/**
 * What the hostile-input tests and `npm run fuzz` share: the server in its own process (its RSS is the
 * server's alone), werift viewers kept on loopback, where a viewer's session listens and sends from,
 * sending hostile datagrams (from fresh sockets, through a viewer's own ICE pair, or with a forged
 * source address), and how long a viewer went without a frame. Loopback only; every send is bounded.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RTCPeerConnection } from 'werift';
import { connectWeriftViewer, listProcesses, sleep, type WeriftViewer } from '../helpers.ts';
import type { IceCredentials } from './packets.ts';

const here = dirname(fileURLToPath(import.meta.url));
export type Address = [host: string, port: number];

/** What the host fixture's `GET /_state` answers (after a garbage collection). */
export interface HostState {
  rss: number;
  heapUsed: number;
  external: number;
  viewers: number;
  source: { pid?: number };
}

export interface HostProcess {
  url: string;
  pid: number;
  /** After a full garbage collection, which stops the server a moment: not while a viewer's frame gaps are measured. */
  state(): Promise<HostState>;
  /** The resident set as the kernel counts it now (no garbage collection). */
  rss(): number;
  /** The server's `/stats` viewers: public id → state. */
  viewerStates(): Promise<Map<string, string>>;
  stop(): Promise<void>;
}

/** The test host (test/fixtures/host.ts) in its own process, with `options` for webgearRtc. */
export async function startHost(dataDir: string, options: object = {}): Promise<HostProcess> {
  const host = spawn(process.execPath, ['--expose-gc', join(here, '..', 'fixtures', 'host.ts'), dataDir, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    host.stdout!.on('data', (chunk: Buffer) => {
      output += chunk;
      const found = /URL (\S+)/.exec(output);
      if (found) resolve(found[1]!);
    });
    host.once('exit', (code) => reject(new Error(`the host exited (${code}): ${output}`)));
  });
  return {
    url,
    pid: host.pid!,
    state: async () => (await (await fetch(`${url}/_state`)).json()) as HostState,
    rss: () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${host.pid}/status`, 'utf8'))![1]) * 1024,
    async viewerStates() {
      const stats = (await (await fetch(`${url}/stats`)).json()) as { viewers: { id: string; state: string }[] };
      return new Map(stats.viewers.map((viewer) => [viewer.id, viewer.state]));
    },
    async stop() {
      if (host.exitCode === null && host.signalCode === null) {
        host.kill('SIGTERM');
        await once(host, 'exit');
      }
    },
  };
}

/** A werift viewer whose ICE uses 127.0.0.1 only, so every pair, and every packet a test sends, stays on loopback. */
export const connectLoopbackViewer = (url: string): Promise<WeriftViewer> =>
  connectWeriftViewer(`${url}/offer`, 'vp8', { peer: { iceInterfaceAddresses: { udp4: '127.0.0.1' } } });

/** werift 0.25's ICE connection as the tests touch it. */
interface IceConnection {
  send(data: Buffer): Promise<void>;
  nominated?: { remoteAddr: Address; protocol: { getExtraInfo(): Address } };
}
interface DtlsTransport {
  state: string;
  dtls?: DtlsClient;
  onStateChange: { subscribe(handler: (state: string) => void): unknown };
  iceTransport: { connection: IceConnection };
}
/** werift 0.25's DTLS client: what a forged or held handshake changes. */
export interface DtlsClient {
  connect(): Promise<void>;
  /** Its flight number: a retransmission loop stops once this passes the flight it waits for. */
  dtls: { flight: number };
  cipher: { signatureData(data: Buffer, hash: string): Buffer; verifyData(data: Buffer): Buffer };
}

const transportOf = (pc: RTCPeerConnection): DtlsTransport => (pc.dtlsTransports as unknown as DtlsTransport[])[0]!;
export const iceConnectionOf = (viewer: WeriftViewer): IceConnection => transportOf(viewer.pc).iceTransport.connection;

/**
 * Calls `change` with the viewer's DTLS client as soon as werift creates it (in the same tick as the
 * transport says "connecting", before its first flight). werift creates it only once ICE is up.
 */
export function onDtlsClient(viewer: WeriftViewer, change: (client: DtlsClient) => void): void {
  const transport = transportOf(viewer.pc);
  if (transport.dtls) return change(transport.dtls);
  transport.onStateChange.subscribe((state) => {
    if (state === 'connecting') queueMicrotask(() => change(transport.dtls!));
  });
}

/**
 * The viewer's selected pair as the wire sees it: the address its socket is bound to (127.0.0.1: not
 * the candidate's label, which may name another interface) and the server's socket it talks to.
 */
export function routeOf(viewer: WeriftViewer): { viewer: Address; server: Address } {
  const nominated = iceConnectionOf(viewer).nominated;
  if (!nominated) throw new Error('the viewer has no selected ICE pair yet');
  return { viewer: nominated.protocol.getExtraInfo(), server: nominated.remoteAddr };
}

/** The server's loopback ICE candidates for this viewer's session, from the answer SDP. */
export function iceTargetsOf(answerSdp: string): Address[] {
  return [...answerSdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ (127\.0\.0\.1) (\d+) typ host/gm)].map(([, host, port]) => [host!, Number(port)]);
}

/** The ICE credentials of a viewer's session (the server's from the answer, the viewer's from its offer). */
export function credentialsOf(viewer: WeriftViewer): IceCredentials {
  const field = (sdp: string, name: string) => new RegExp(`^a=${name}:(\\S+)`, 'm').exec(sdp)![1]!;
  return {
    serverUfrag: field(viewer.answerSdp, 'ice-ufrag'),
    serverPassword: field(viewer.answerSdp, 'ice-pwd'),
    clientUfrag: field(viewer.pc.localDescription!.sdp, 'ice-ufrag'),
  };
}

/**
 * Time that does not count against the server when a viewer waits for a frame: when this process's
 * event loop stood still (a 5 ms ticker whose late ticks are the stalls: the machine busy elsewhere, a
 * garbage collection, this process's own work: a frame that reached the socket on time but was read
 * late), and when the server's main thread or its ffmpeg was ready to run but waited for a CPU (the
 * kernel's schedstat: on a shared machine, other people's work; an attacker is not on the server's
 * machine). Of these, the longest counts: they overlap.
 */
export class StallClock {
  readonly #ticks: number[] = [performance.now()];
  /** Per watched process: its main thread's cumulative run-queue wait (ms) at each tick. */
  readonly #waits = new Map<number, number[]>();
  readonly #timer = setInterval(() => {
    this.#ticks.push(performance.now());
    for (const [pid, waits] of this.#waits) waits.push(StallClock.#runQueueWait(pid) ?? waits.at(-1)!);
  }, 5);

  /** Also counts the run-queue wait of `pid` (from now on). */
  watch(pid: number): void {
    if (this.#waits.has(pid)) return;
    const now = StallClock.#runQueueWait(pid) ?? 0;
    this.#waits.set(pid, this.#ticks.map(() => now));
  }

  static #runQueueWait(pid: number): number | undefined {
    try {
      return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
    } catch {
      return undefined; // it is gone
    }
  }

  /** How long within [from, to] this process stood still, or a watched one waited for a CPU, whichever is longest. */
  stalledMs(from: number, to: number): number {
    let stalled = 0;
    const waited = new Map<number, number>();
    for (let i = 1; i < this.#ticks.length; i++) {
      const start = Math.max(this.#ticks[i - 1]! + 5, from);
      const end = Math.min(this.#ticks[i]!, to);
      if (end > start) stalled += end - start;
      if (this.#ticks[i - 1]! < from || this.#ticks[i]! > to) continue;
      for (const [pid, waits] of this.#waits) waited.set(pid, (waited.get(pid) ?? 0) + waits[i]! - waits[i - 1]!);
    }
    return Math.max(stalled, ...waited.values());
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * The longest wait between two frames the viewer got in [from, to] (performance.now() times): as seen
 * (`raw`), and less what a StallClock says is not the server's doing (`server`).
 */
export function longestGapMs(viewer: WeriftViewer, from: number, to = performance.now(), clock?: StallClock): { raw: number; server: number } {
  const times = [from, ...viewer.frameTimes.filter((time) => time > from && time < to), to];
  let raw = 0;
  let server = 0;
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!;
    raw = Math.max(raw, gap);
    server = Math.max(server, gap - (clock?.stalledMs(times[i - 1]!, times[i]!) ?? 0));
  }
  return { raw, server };
}

/**
 * Datagrams sent in one go, then a millisecond's pause: at most ~30 000 a second, a flood a real
 * attacker can send, without this process (where the watching viewer counts frames) doing nothing else.
 */
const BURST = 32;
const pause = () => new Promise((resolve) => setTimeout(resolve, 1));

/** What came back to the sockets that sent: every datagram, with the port that got it. */
export interface BlastResult {
  sent: number;
  answers: { port: number; data: Buffer }[];
}

/**
 * Sends `datagrams` to `target` from `sockets` fresh loopback sockets (on `from`) in turn: other addresses
 * than any checked pair. Then listens `settleMs` for anything coming back.
 */
export async function blast(
  target: Address,
  datagrams: Iterable<Buffer>,
  { sockets = 8, settleMs = 300, from = '127.0.0.1' } = {},
): Promise<BlastResult> {
  const open: Socket[] = [];
  const answers: BlastResult['answers'] = [];
  try {
    for (let i = 0; i < sockets; i++) {
      const socket = createSocket('udp4');
      socket.on('message', (data) => answers.push({ port: socket.address().port, data }));
      socket.on('error', () => {}); // ICMP unreachable and the like: not what is measured
      socket.bind(0, from);
      await once(socket, 'listening');
      open.push(socket);
    }
    let sent = 0;
    for (const datagram of datagrams) {
      open[sent % open.length]!.send(datagram, target[1], target[0]);
      if (++sent % BURST === 0) await pause();
    }
    await sleep(settleMs);
    return { sent, answers };
  } finally {
    for (const socket of open) socket.close();
  }
}

/** Sends `datagrams` over the viewer's own selected pair: from its address and port, as a forger on its path would. */
export async function inject(viewer: WeriftViewer, datagrams: Iterable<Buffer>): Promise<number> {
  const connection = iceConnectionOf(viewer);
  let sent = 0;
  for (const datagram of datagrams) {
    void connection.send(datagram);
    if (++sent % BURST === 0) await pause();
  }
  return sent;
}

let spoofBinary: string | undefined | null = null;

/** The raw-socket sender (spoof.c), built once with the system's C compiler; undefined when not root or no compiler. */
export function spoofer(): string | undefined {
  if (spoofBinary !== null) return spoofBinary;
  spoofBinary = undefined;
  if (process.getuid?.() !== 0) return undefined;
  const folder = mkdtempSync(join(tmpdir(), 'webgear-spoof-'));
  process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
  const output = join(folder, 'spoof');
  const built = spawnSync(process.env.CC || 'cc', ['-O2', '-Wall', '-o', output, join(here, 'spoof.c')], { stdio: 'inherit' });
  if (built.status === 0 && existsSync(output)) spoofBinary = output;
  return spoofBinary;
}

/** Sends `datagrams` to `to` with the forged source address `from` (raw socket, loopback only); returns how many left. */
export async function spoof(from: Address, to: Address, datagrams: Buffer[]): Promise<number> {
  const binary = spoofer();
  if (!binary) throw new Error('spoofing needs root and a C compiler');
  if (!from[0].startsWith('127.') || !to[0].startsWith('127.')) throw new Error('spoofing stays on loopback');
  const child = spawn(binary, [from[0], String(from[1]), to[0], String(to[1])], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk));
  for (const datagram of datagrams) {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(datagram.length, 0);
    if (!child.stdin.write(Buffer.concat([prefix, datagram]))) await once(child.stdin, 'drain');
  }
  child.stdin.end();
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`spoof exited with ${code}`);
  return Number(output.trim());
}

/**
 * Raises the scheduling priority of `pid` and every process it started (root only; a no-op otherwise),
 * so that other work on a shared machine does not pass for an attack's effect on frame gaps.
 */
export function raisePriority(pid: number): void {
  if (process.getuid?.() !== 0) return;
  const processes = listProcesses();
  const family = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const info of processes) {
      if (family.has(info.ppid) && !family.has(info.pid)) {
        family.add(info.pid);
        grew = true;
      }
    }
  }
  for (const member of family) {
    try {
      setPriority(member, -10);
    } catch {
      // it ended meanwhile
    }
  }
}
