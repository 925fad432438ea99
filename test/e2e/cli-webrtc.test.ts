/**
 * The command line with WebRTC sources: `--source whip --whip-token T` takes a publisher, and
 * `--source whep+http://…` pulls it from another instance (the server processes as users start them).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { connectWeriftViewer, tempDir, waitFor } from './helpers.ts';
import { closePublishers, publishWithWerift } from './publishers.ts';

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

/** `node dist/cli.js …args`, with its output collected, once it says where it streams. */
async function startCli(args: string[], home: string): Promise<{ process: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['dist/cli.js', ...args], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...process.env, HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  assert.ok(await waitFor(() => output.includes('streaming'), 15_000), `the CLI starts: ${output}`);
  return { process: child, output: () => output };
}

describe('npm start -- --source whip / --source whep+http://…', { timeout: 60_000 }, () => {
  const data = tempDir();
  const started: ChildProcess[] = [];
  after(async () => {
    await closePublishers();
    for (const child of started) {
      if (child.exitCode !== null) continue;
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    data.cleanup();
  });

  test('--source whip --whip-token: the publish page, the token asked for, a publisher seen by an edge pulling it', async () => {
    const [originPort, edgePort] = [await freePort(), await freePort()];
    const origin = await startCli(['--source', 'whip', '--whip-token', 's3cret', '--port', String(originPort)], data.path);
    started.push(origin.process);
    const url = `http://127.0.0.1:${originPort}`;
    assert.match(origin.output(), new RegExp(`publish at ${url}/publish, or with OBS \\(WHIP\\) to ${url}/whip`));
    assert.equal((await fetch(`${url}/publish`)).status, 200);
    const refused = await fetch(`${url}/whip`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'v=0\r\n' });
    assert.equal(refused.status, 401);
    const publisher = await publishWithWerift(`${url}/whip`, { token: 's3cret' });
    await publisher.connected;

    const edge = await startCli(['--source', `whep+${url}/whep`, '--port', String(edgePort)], data.path);
    started.push(edge.process);
    const viewer = await connectWeriftViewer(`http://127.0.0.1:${edgePort}/whep`, 'vp8', { whep: true });
    await viewer.connected;
    assert.ok(await waitFor(() => viewer.frames >= 60, 15_000), `the edge's viewer sees the publisher (${viewer.frames} frames)`);
    await viewer.close();
    await publisher.close();
  });
});
