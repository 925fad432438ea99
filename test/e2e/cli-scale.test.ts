/** The command line's `--publish URL [--publish-token T]` and `--metrics`. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir, waitFor } from './helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');

test('--publish URL --publish-token T pushes to the endpoint with the token; --metrics serves /metrics', { timeout: 30_000 }, async () => {
  const data = tempDir();
  const offers: Array<{ authorization: string | undefined; type: string | undefined }> = [];
  const whip = createServer((request, response) => {
    offers.push({ authorization: request.headers.authorization, type: request.headers['content-type'] });
    request.resume();
    response.writeHead(503).end();
  });
  await new Promise<void>((resolve) => whip.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(whip.address() as { port: number }).port}/whip`;
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  const cli = spawn(process.execPath, ['dist/cli.js', '--port', String(port), '--publish', endpoint, '--publish-token', 's3cret', '--metrics'], {
    cwd: ROOT, env: { ...process.env, HOME: data.path }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  cli.stdout!.on('data', (chunk) => (log += chunk));
  cli.stderr!.on('data', (chunk) => (log += chunk));
  try {
    assert.ok(await waitFor(() => offers.length >= 1, 15_000), `offered to the endpoint: ${log}`);
    assert.deepEqual(offers[0], { authorization: 'Bearer s3cret', type: 'application/sdp' });
    const stats = (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as { publish: { url: string; lastError?: string } };
    assert.equal(stats.publish.url, endpoint);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^webgear_rtc_publish_state\{state="(retrying|starting|connecting)"\} 1$/m);
  } finally {
    cli.kill('SIGTERM');
    await new Promise((resolve) => cli.once('exit', resolve));
    whip.close();
    data.cleanup();
  }
});

test('--publish-token without --publish, or a --publish that is no URL: exit 1 or 2 with a message', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, ['dist/cli.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 10_000 });
  const tokenOnly = run('--publish-token', 't');
  assert.notEqual(tokenOnly.status, 0);
  assert.match(tokenOnly.stderr, /--publish-token needs --publish <url>/);
  const notUrl = run('--publish', 'sfu.example.com/whip');
  assert.equal(notUrl.status, 2);
  assert.match(notUrl.stderr, /option "publish.url" must be an absolute URL/);
});

test('--max-connecting-per-address, --no-renditions and the other limits reach the server', { timeout: 40_000 }, async () => {
  const { RTCPeerConnection, useVP8 } = await import('werift');
  const data = tempDir();
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  const cli = spawn(process.execPath, [
    'dist/cli.js', '--port', String(port), '--max-connecting-per-address', '1', '--no-renditions',
    '--max-connecting', '5', '--max-event-loop-delay', '0', '--connect-timeout', '5',
  ], { cwd: ROOT, env: { ...process.env, HOME: data.path }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  cli.stdout!.on('data', (chunk) => (log += chunk));
  cli.stderr!.on('data', (chunk) => (log += chunk));
  const peers = [0, 1].map(() => new RTCPeerConnection({ codecs: { video: [useVP8()] }, iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false }));
  try {
    assert.ok(await waitFor(() => log.includes('streaming'), 15_000), log);
    const offers = await Promise.all(peers.map(async (pc) => {
      pc.addTransceiver('video', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      return pc.localDescription!.sdp;
    }));
    // Neither connects (no answer is applied): the first stays "connecting" while the second asks.
    const first = await fetch(`http://127.0.0.1:${port}/whep`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offers[0] });
    const second = await fetch(`http://127.0.0.1:${port}/whep`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offers[1] });
    assert.equal(first.status, 201, await first.text());
    assert.equal(second.status, 429, 'one session connecting per address');
    // The first offer started the source: one rendition, the source itself (the ladder would make three).
    let renditions: unknown[] = [];
    await waitFor(async () => {
      const stats = (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as { source: { state: string; renditions: unknown[] } };
      renditions = stats.source.renditions;
      return stats.source.state === 'running' && renditions.length > 0;
    }, 15_000);
    assert.equal(renditions.length, 1, JSON.stringify(renditions));
  } finally {
    await Promise.all(peers.map((pc) => pc.close().catch(() => {})));
    cli.kill('SIGTERM');
    await new Promise((resolve) => cli.once('exit', resolve));
    data.cleanup();
  }
});
