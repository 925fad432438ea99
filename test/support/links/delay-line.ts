/**
 * The delay line of a test link: delay-line.c, built at first use, run inside a namespace on the NFQUEUE
 * queues that the link's iptables rules fill.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { run } from './run.ts';

const SOURCE = join(import.meta.dirname, 'delay-line.c');

/** What CI needs to build it. */
export const DELAY_LINE_PACKAGES = 'gcc libc6-dev libnetfilter-queue-dev';

/**
 * The helper's binary, built once per version of its source into the temp folder (a second process that
 * builds at the same time renames its own copy over the first: both are whole).
 */
export async function delayLineBinary(): Promise<string> {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const folder = join(tmpdir(), `webgear-rtc-delay-line-${hash}`);
  const binary = join(folder, 'delay-line');
  if (existsSync(binary)) return binary;
  mkdirSync(folder, { recursive: true });
  const partial = `${binary}.${process.pid}`;
  try {
    await run('cc', ['-O2', '-Wall', '-o', partial, SOURCE, '-lnetfilter_queue'], { timeoutMs: 60_000 });
  } catch (error) {
    throw new Error(`cannot build the delay line (${SOURCE}); it needs: apt-get install ${DELAY_LINE_PACKAGES}`, { cause: error });
  }
  renameSync(partial, binary);
  return binary;
}

export interface DelayLineQueue {
  /** The NFQUEUE number the rules send packets to. */
  queue: number;
  delayMs: number;
}

export interface DelayLineQueueStats {
  queue: number;
  delayUs: number;
  /** Packets held so far (a GSO packet counts once). */
  held: number;
  /** Packets held now. */
  holding: number;
  /** The most held at once. */
  deepest: number;
  /** Packets let through undelayed because the line was full (never expected). */
  overflow: number;
}

const READY_TIMEOUT_MS = 5_000;

/** One delay-line process, holding the packets of `queues` for their delay each. */
export class DelayLine {
  readonly pid: number;
  #child: ChildProcessWithoutNullStreams;
  #exited = false;
  #stderr = '';
  #waiting: Array<(line: string) => void> = [];
  #queues: number;

  private constructor(child: ChildProcessWithoutNullStreams, queues: number) {
    this.#child = child;
    this.#queues = queues;
    this.pid = child.pid!;
    child.stderr.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk).slice(-4000)));
    child.once('exit', () => (this.#exited = true));
    createInterface({ input: child.stdout }).on('line', (line) => this.#waiting.shift()?.(line));
  }

  /** Starts it inside network namespace `namespace`; resolves once every queue is bound. */
  static async start(namespace: string, queues: readonly DelayLineQueue[]): Promise<DelayLine> {
    const binary = await delayLineBinary();
    const args = queues.map(({ queue, delayMs }) => `${queue}:${Math.round(delayMs * 1000)}`);
    // stdin stays a pipe: the helper stops when it closes, so it never outlives us.
    const line = new DelayLine(spawn('ip', ['netns', 'exec', namespace, binary, ...args], { stdio: 'pipe' }), queues.length);
    let timer: number | NodeJS.Timeout | undefined;
    const ready = await Promise.race([
      line.#nextLine(),
      once(line.#child, 'exit').then(() => undefined),
      new Promise<undefined>((resolve) => (timer = setTimeout(resolve, READY_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    if (ready !== 'ready') {
      await line.stop();
      throw new Error(`the delay line in ${namespace} did not start: ${line.#stderr.trim() || 'no answer in 5 s'}`);
    }
    return line;
  }

  /** Whether the process ended (on its own, it never should while its link is open). */
  get exited(): boolean {
    return this.#exited;
  }

  /** Its last words on stderr. */
  get stderr(): string {
    return this.#stderr;
  }

  /** What each queue has held so far. */
  async stats(): Promise<DelayLineQueueStats[]> {
    if (this.#exited) throw new Error(`the delay line (pid ${this.pid}) has exited: ${this.#stderr.trim()}`);
    const lines = Array.from({ length: this.#queues }, () => this.#nextLine());
    this.#child.stdin.write('stats\n');
    return (await Promise.all(lines)).map((line) => {
      const fields = Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map((match) => [match[1]!, Number(match[2])]));
      return {
        queue: fields.queue!, delayUs: fields.delay_us!, held: fields.held!, holding: fields.holding!,
        deepest: fields.deepest!, overflow: fields.overflow!,
      };
    });
  }

  /** Stops it (it releases what it holds first); SIGKILL after a second. Idempotent. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = once(this.#child, 'exit');
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 1_000);
    await exited;
    clearTimeout(timer);
  }

  #nextLine(): Promise<string> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
}
