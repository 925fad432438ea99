/**
 * A real WHIP ingest nobody here wrote: Debian's Janus (1.1.2) with its VideoRoom, behind Meetecho's
 * simple-whip-server (Debian's package, unpacked by install.sh into whip-server/ with its npm dependencies).
 *
 * Janus never offers a loopback candidate (its ICE code skips loopback interfaces), so both run in a network
 * namespace of their own, reached over a veth pair: 10.231.N.1 on this side, 10.231.N.2 in the namespace,
 * where Janus listens on 8088 (HTTP API), 8188 (WebSockets, for simple-whip-server) and 20000-20999 (ICE),
 * and simple-whip-server on 7080. Needs root; `close()` kills both and deletes the namespace (the veth pair
 * goes with it).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const HERE = import.meta.dirname;
const CONF_DIR = join(HERE, 'conf');
/** Where install.sh unpacks the Debian package (`apt-get download simple-whip-server`), its npm dependencies beside. */
export const WHIP_SERVER_DIR = process.env.SIMPLE_WHIP_SERVER_DIR ?? join(HERE, 'whip-server', 'deb', 'usr', 'share', 'simple-whip-server');
const JANUS = process.env.JANUS_PATH ?? '/usr/bin/janus';
export const ROOM = 1234;

/** Why the Janus tests cannot run here, or undefined when they can. */
export function janusSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (a network namespace for Janus)';
  if (!existsSync(JANUS)) return `Janus is not installed (${JANUS}): apt-get install janus, or run test/support/janus/install.sh`;
  if (!existsSync(join(WHIP_SERVER_DIR, 'src', 'server.js')) || !existsSync(join(HERE, 'whip-server', 'node_modules', 'express'))) {
    return 'simple-whip-server is not unpacked: run test/support/janus/install.sh';
  }
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the ip command (iproute2) is missing';
  }
  return undefined;
}

/** A child process and the tail of what it printed (for failure messages). */
interface Child {
  process: ChildProcess;
  output: () => string;
}

function start(command: string, args: string[], cwd?: string, env?: NodeJS.ProcessEnv): Child {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('error', (error) => keep(Buffer.from(`\n${error.message}\n`)));
  return { process: child, output: () => output };
}

/** Kills one of our children (SIGKILL after `graceMs`) and waits for it. */
async function stop(child: Child | undefined, signal: NodeJS.Signals = 'SIGTERM', graceMs = 2_000): Promise<void> {
  if (!child || child.process.exitCode !== null || child.process.signalCode !== null) return;
  const exited = new Promise((resolve) => child.process.once('exit', resolve));
  child.process.kill(signal);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

async function waitForHttp(url: string, child: Child, timeoutMs: number, init?: RequestInit): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.process.exitCode !== null) throw new Error(`exited (${child.process.exitCode}) before ${url} answered:\n${child.output()}`);
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(1_000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer in ${timeoutMs} ms:\n${child.output()}`);
}

export class JanusEndpoint {
  /** The namespace's address (Janus, simple-whip-server). */
  readonly address: string;
  readonly #namespace: string;
  #janus: Child | undefined;
  #whip: Child | undefined;

  private constructor(namespace: string, address: string) {
    this.#namespace = namespace;
    this.address = address;
  }

  /**
   * The namespace, then Janus and simple-whip-server with the WHIP endpoint `id` publishing to room 1234
   * (with `token`, it takes only requests bearing it).
   */
  static async start(id: string, token?: string): Promise<JanusEndpoint> {
    const tag = process.pid % 100_000;
    const namespace = `wgrtc-janus-${tag}`;
    const subnet = `10.231.${process.pid % 250}`;
    const [outside, inside] = [`wgj${tag}h`, `wgj${tag}n`];
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    ip('netns', 'add', namespace);
    const endpoint = new JanusEndpoint(namespace, `${subnet}.2`);
    try {
      ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside, 'netns', namespace);
      ip('addr', 'add', `${subnet}.1/30`, 'dev', outside);
      ip('link', 'set', outside, 'up');
      ip('-n', namespace, 'addr', 'add', `${subnet}.2/30`, 'dev', inside);
      ip('-n', namespace, 'link', 'set', inside, 'up');
      ip('-n', namespace, 'link', 'set', 'lo', 'up');
      await endpoint.startServers(id, token);
    } catch (error) {
      await endpoint.close();
      throw error;
    }
    return endpoint;
  }

  /** The WHIP endpoint's URL. */
  whipUrl(id: string): string {
    return `http://${this.address}:7080/whip/endpoint/${id}`;
  }

  /** Janus's HTTP API. */
  get apiUrl(): string {
    return `http://${this.address}:8088/janus`;
  }

  /** Janus, then simple-whip-server (it connects to Janus at start), then the endpoint `id` (kept in memory). */
  async startServers(id: string, token?: string): Promise<void> {
    const inNamespace = ['netns', 'exec', this.#namespace];
    this.#janus = start('ip', [...inNamespace, JANUS, '-F', CONF_DIR, '-o', '-d', '3']);
    await waitForHttp(`${this.apiUrl}/info`, this.#janus, 10_000);
    this.#whip = start('ip', [...inNamespace, process.execPath, 'src/server.js'], WHIP_SERVER_DIR, { DEBUG: 'whip:*' });
    await waitForHttp(`http://${this.address}:7080/whip/healthcheck`, this.#whip, 10_000);
    await this.createEndpoint(id, token);
  }

  /**
   * One more WHIP endpoint on simple-whip-server (`POST /whip/create`), publishing to room 1234. Each has
   * its own label: simple-whip-server keys its Janus sessions by label (default "WHIP Publisher <room>"),
   * and a second publisher with the same one would replace the first's session (and crash it).
   */
  async createEndpoint(id: string, token?: string): Promise<void> {
    const created = await fetch(`http://${this.address}:7080/whip/create`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id, room: ROOM, label: `webgear-rtc ${id}`, ...(token && { token }) }),
    });
    if (!created.ok) throw new Error(`simple-whip-server did not create the endpoint: ${created.status} ${await created.text()}`);
  }

  /** Both servers killed at once (SIGKILL: no goodbye to the publisher), as a crash or a lost network would. */
  async killServers(): Promise<void> {
    await Promise.all([stop(this.#whip, 'SIGKILL'), stop(this.#janus, 'SIGKILL')]);
  }

  /** What simple-whip-server printed lately (its `DEBUG=whip:*` log: trickles, teardowns). */
  whipLog(): string {
    return this.#whip?.output() ?? '';
  }

  janusLog(): string {
    return this.#janus?.output() ?? '';
  }

  /** Stops both servers and deletes the namespace (and with it the veth pair). Safe to call twice. */
  async close(): Promise<void> {
    await Promise.all([stop(this.#whip), stop(this.#janus)]);
    try {
      execFileSync('ip', ['netns', 'del', this.#namespace], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}
