/**
 * Without the native SRTP sender the server sends from JavaScript, and says so: one warning naming why,
 * at its first viewer, and `sendPath: 'direct'` in /stats. The server runs in its own process
 * (test/fixtures/host.ts): the addon is chosen when lib/native/index.ts loads, from its environment.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectWeriftViewer, tempDir, waitFor, type WeriftViewer } from './helpers.ts';

test('WEBGEAR_NATIVE=0: viewers are sent from JavaScript, /stats says so, and the server warns once why', { timeout: 60_000 }, async () => {
  const data = tempDir();
  const host = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'host.ts'), data.path, JSON.stringify({ resolution: [320, 240] })], {
    env: { ...process.env, WEBGEAR_NATIVE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  host.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  host.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const viewers: WeriftViewer[] = [];
  try {
    assert.ok(await waitFor(() => /URL \S+/.test(stdout), 15_000), `the host starts: ${stderr}`);
    const url = /URL (\S+)/.exec(stdout)![1]!;
    const warning = /native SRTP sender is not used \(turned off with WEBGEAR_NATIVE=0\)/g;
    assert.doesNotMatch(stderr, warning, 'nothing said before a viewer comes');
    for (let index = 0; index < 2; index++) {
      const viewer = await connectWeriftViewer(`${url}/offer`);
      viewers.push(viewer);
      await viewer.connected;
      assert.ok(await waitFor(() => viewer.packets >= 10, 5_000), 'the viewer receives RTP');
    }
    assert.equal(stderr.match(warning)?.length, 1, `one warning for two viewers: ${stderr}`);
    const stats = (await (await fetch(`${url}/stats`)).json()) as { viewers: { sendPath?: string }[] };
    assert.deepEqual(stats.viewers.map((viewer) => viewer.sendPath), ['direct', 'direct']);
  } finally {
    await Promise.all(viewers.map((viewer) => viewer.close()));
    host.kill('SIGTERM');
    if (host.exitCode === null) await Promise.race([once(host, 'exit'), new Promise((resolve) => setTimeout(resolve, 5_000))]);
    host.kill('SIGKILL');
    data.cleanup();
  }
});
