import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';

/** How an ffmpeg run ended. `stopped` is true when we asked it to stop. */
export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stopped: boolean;
  /** The last lines ffmpeg wrote to stderr: what to show a user when it dies. */
  stderrTail: string[];
}

const STDERR_TAIL_LINES = 20;

let deathSignalWrapper: string[] | undefined;
/**
 * On Linux, util-linux's `setpriv --pdeathsig SIGKILL` has the kernel kill ffmpeg when its parent dies,
 * however it dies (a crash, SIGKILL, an exit without close()): no orphan encoder keeps running. Checked
 * once; elsewhere ffmpeg is spawned as is.
 */
function deathSignalPrefix(): string[] {
  if (deathSignalWrapper) return deathSignalWrapper;
  deathSignalWrapper = [];
  if (process.platform === 'linux') {
    try {
      const help = execFileSync('setpriv', ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      if (help.includes('--pdeathsig')) deathSignalWrapper = ['setpriv', '--pdeathsig', 'SIGKILL', '--'];
    } catch {
      // no setpriv: close() and the stdin pipe are the only ways ffmpeg learns we are gone
    }
  }
  return deathSignalWrapper;
}
const KILL_AFTER_MS = 2_000;

/**
 * One ffmpeg child process. Owns its process the way mediasoup's Worker does: an explicit `closed`
 * state, an idempotent `stop()` (SIGTERM, then SIGKILL), and one `'exit'` event however it ended.
 */
export class FfmpegProcess extends EventEmitter<{ exit: [FfmpegExit]; line: [string] }> {
  readonly #child: ChildProcess;
  readonly #stderrTail: string[] = [];
  #partialLine = '';
  #stopping = false;
  /** The newest raw frame waiting for stdin to drain (see writeFrame). */
  #waitingFrame: Buffer | undefined;
  #exited: Promise<FfmpegExit>;

  /**
   * @param options.stdout pipe ffmpeg's standard output (raw frames) instead of discarding it
   */
  constructor(ffmpegPath: string, args: readonly string[], options: { stdout?: boolean } = {}) {
    super();
    // stdin is a pipe: raw frames go there, and ffmpeg must never read the terminal's keys.
    const [command, ...commandArgs] = [...deathSignalPrefix(), ffmpegPath, ...args];
    this.#child = spawn(command!, commandArgs, { stdio: ['pipe', options.stdout ? 'pipe' : 'ignore', 'pipe'] });
    this.#child.stdin?.on('error', () => {}); // EPIPE when ffmpeg exits first
    this.#child.stderr?.setEncoding('utf8');
    this.#child.stderr?.on('data', (chunk: string) => this.#collectStderr(chunk));
    this.#exited = new Promise((resolve) => {
      let settled = false;
      const settle = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
        if (settled) return;
        settled = true;
        if (this.#partialLine) this.#pushLine(this.#partialLine);
        if (spawnError) this.#pushLine(`could not start ${ffmpegPath}: ${spawnError.message}`);
        const exit = { code, signal, stopped: this.#stopping, stderrTail: [...this.#stderrTail] };
        resolve(exit);
        this.emit('exit', exit);
      };
      this.#child.once('error', (error) => settle(null, null, error));
      this.#child.once('close', (code, signal) => settle(code, signal));
    });
  }

  /** ffmpeg's standard output, when asked for in the constructor. */
  get stdout(): NodeJS.ReadableStream | null {
    return this.#child.stdout;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Resolves when the process is gone, however it ended. */
  get exited(): Promise<FfmpegExit> {
    return this.#exited;
  }

  /**
   * Hands one raw frame to ffmpeg's stdin. While the previous frame is still on its way, this one waits
   * in a single slot that a newer frame replaces: at most one frame waits, always the newest. Returns
   * false when a frame was dropped (this one, or the older one it replaced). Copied, so the caller may
   * reuse its buffer at once.
   */
  writeFrame(data: Uint8Array): boolean {
    const stdin = this.#child.stdin;
    if (!stdin || !stdin.writable) return false;
    const frame = Buffer.from(data);
    if (!stdin.writableNeedDrain) {
      stdin.write(frame);
      return true;
    }
    const replaced = this.#waitingFrame !== undefined;
    this.#waitingFrame = frame;
    if (!replaced) {
      stdin.once('drain', () => {
        const waiting = this.#waitingFrame;
        this.#waitingFrame = undefined;
        if (waiting && stdin.writable) stdin.write(waiting);
      });
    }
    return !replaced;
  }

  /** Kills ffmpeg at once, as a crash would (the exit is not marked `stopped`): for a hung process. */
  kill(): void {
    this.#child.kill('SIGKILL');
  }

  /** Closes ffmpeg's input: it encodes what it has and exits (code 0). */
  endInput(): void {
    this.#child.stdin?.end();
  }

  /** Asks ffmpeg to stop, kills it if it does not within 2 s, and resolves once it is gone. */
  async stop(): Promise<FfmpegExit> {
    if (!this.#stopping) {
      this.#stopping = true;
      if (this.#child.exitCode === null && this.#child.signalCode === null) {
        this.#child.kill('SIGTERM');
        const killer = setTimeout(() => this.#child.kill('SIGKILL'), KILL_AFTER_MS);
        void this.#exited.finally(() => clearTimeout(killer));
      }
    }
    return this.#exited;
  }

  #collectStderr(chunk: string): void {
    const lines = (this.#partialLine + chunk).split(/\r?\n|\r/);
    this.#partialLine = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) this.#pushLine(line);
  }

  #pushLine(line: string): void {
    this.emit('line', line);
    this.#stderrTail.push(line);
    if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift();
  }
}
