/** Runs the network tools (ip, tc, nft, iptables) with errors that say which command failed and why. */
import { execFile, execFileSync } from 'node:child_process';

export class CommandError extends Error {
  readonly command: string;
  readonly stderr: string;
  constructor(command: string, stderr: string, cause?: unknown) {
    super(`${command} failed: ${stderr.trim() || String(cause)}`, { cause });
    this.command = command;
    this.stderr = stderr;
  }
}

const describe = (command: string, args: readonly string[]) => [command, ...args].join(' ');

/** Runs `command` to the end (at most `timeoutMs`); resolves its stdout, rejects with a CommandError. */
export function run(command: string, args: readonly string[], { input, timeoutMs = 10_000 }: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new CommandError(describe(command, args), stderr, error));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** The same, synchronously: for clean-up on process exit, where nothing asynchronous runs any more. */
export function runSync(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, { timeout: 10_000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    throw new CommandError(describe(command, args), String((error as { stderr?: unknown }).stderr ?? ''), error);
  }
}
