import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isRunning, tempDir, waitFor } from './helpers.ts';

describe('ffmpeg never outlives its host', { timeout: 60_000 }, () => {
  const data = tempDir();
  after(() => data.cleanup());

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    test(`a host killed by ${signal} without close() takes its ffmpeg with it`, async () => {
      const host = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'host-that-dies.ts'), data.path], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      host.stdout!.on('data', (chunk) => (output += chunk));
      assert.ok(await waitFor(() => /FFMPEG \d+/.test(output), 15_000), `the host streams: ${output}`);
      const ffmpegPid = Number(/FFMPEG (\d+)/.exec(output)![1]);
      assert.ok(isRunning(ffmpegPid));
      host.kill(signal);
      const gone = await waitFor(() => !isRunning(ffmpegPid), 3_000);
      if (!gone) process.kill(ffmpegPid, 'SIGKILL'); // leave nothing behind even when failing
      assert.ok(gone, `ffmpeg ${ffmpegPid} ended with its host`);
    });
  }
});
