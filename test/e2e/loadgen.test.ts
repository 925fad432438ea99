/**
 * The native load generator (bench/loadgen, issue 20 item 5) against the real server, started as a user
 * does (`node dist/cli.js`, so a werift timer left behind by a refused handshake dies with it): viewers connect
 * (ICE, DTLS with the server's fingerprint checked), decrypt every packet (a wrong key would show as
 * authentication failures and no packets), see every frame the source makes and lose none, and send
 * receiver reports the server can read. A wrong fingerprint in the answer is refused. It is bounded: only
 * loopback, and a hard stop that closes its sockets. Needs `npm run loadgen:build` (part of `npm run test:e2e`).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { BroadcastStats } from 'webgear-rtc';
import { LoadGenerator, type LoadReport } from '../../bench/loadgen/index.ts';
import { nativeLanes } from '../../lib/native/index.ts';
import { tempDir, waitFor } from './helpers.ts';

const root = join(import.meta.dirname, '..', '..');

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

/** Whether a UDP port on loopback is free again (the generator closed its socket). */
async function portIsFree(port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}

/** The server as a user starts it (`node dist/cli.js --source testsrc …`), with `args` added; `stop()` ends it. */
async function startCli(home: string, args: string[] = []): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const server: ChildProcess = spawn(process.execPath, ['dist/cli.js', '--source', 'testsrc', '--frame-size-reduction', '50', '--port', String(port), ...args], {
    cwd: root,
    env: { ...process.env, HOME: home }, // data files go to a private ~/.vidgear
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout!.on('data', (chunk) => (output += chunk));
  server.stderr!.on('data', (chunk) => (output += chunk));
  const stop = async () => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    server.kill('SIGTERM');
    if (!(await waitFor(() => server.exitCode !== null || server.signalCode !== null, 5_000))) server.kill('SIGKILL');
  };
  if (!(await waitFor(() => output.includes(`${url}/`), 15_000))) {
    await stop();
    assert.fail(`the server starts: ${output}`);
  }
  return { url, pid: server.pid!, stop };
}

describe('native load generator', { timeout: 60_000 }, () => {
  const data = tempDir();
  let server: Awaited<ReturnType<typeof startCli>> | undefined;
  let url: string;
  const stats = async () => (await (await fetch(`${url}/stats`)).json()) as BroadcastStats;

  before(async () => {
    server = await startCli(data.path);
    url = server.url;
  });
  after(async () => {
    await server?.stop();
    data.cleanup();
  });

  test('5 viewers connect, decrypt every packet, get every frame at ~30 fps with no loss; the server reads their reports and sends from their lanes', async () => {
    const generator = new LoadGenerator({ hardStopSeconds: 40 });
    try {
      const joined = await Promise.all(Array.from({ length: 5 }, () => generator.join(url)));
      for (const viewer of joined) assert.equal(viewer.error, undefined, `viewer ${viewer.id} signaled`);
      assert.ok(
        await waitFor(() => generator.snapshot().viewers.every((viewer) => viewer.frames >= 10), 20_000),
        `every viewer receives frames: ${JSON.stringify(generator.snapshot().viewers.map((viewer) => [viewer.state, viewer.frames]))}`,
      );
      await sleep(1_000); // past the joiners' GOP burst
      const before = generator.snapshot();
      const sourceBefore = (await stats()).source.frames;
      const startedAt = performance.now();
      await sleep(3_000);
      const after = generator.snapshot();
      const sourceFrames = (await stats()).source.frames - sourceBefore;
      const seconds = (performance.now() - startedAt) / 1000;

      for (const [id, viewer] of after.viewers.entries()) {
        const frames = viewer.frames - before.viewers[id]!.frames;
        assert.equal(viewer.state, 'connected', `viewer ${id}: ${generator.failure(id)}`);
        assert.equal(viewer.authFailures, 0, `viewer ${id}: every SRTP packet authenticates`);
        assert.equal(viewer.rtcpAuthFailures, 0, `viewer ${id}: every SRTCP packet authenticates`);
        assert.ok(viewer.packets > 100, `viewer ${id} decrypted ${viewer.packets} packets`);
        assert.equal(viewer.lost, 0, `viewer ${id}: no sequence gap`);
        assert.ok(frames / seconds >= 25, `viewer ${id}: ${(frames / seconds).toFixed(1)} fps`);
        assert.ok(Math.abs(frames - sourceFrames) <= 2, `viewer ${id}: ${frames} frames, the source made ${sourceFrames}`);
        assert.ok(viewer.rtcpSent >= 3 && viewer.rtcpReceived >= 1, `viewer ${id}: reports both ways`);
        assert.ok(viewer.firstMediaMs > 0 && viewer.stunAnswered > 0, `viewer ${id}: first media, the server's checks answered`);
      }
      // The server computes a round trip from our receiver reports' LSR/DLSR: it decrypted them.
      const { viewers } = await stats();
      assert.equal(viewers.length, 5);
      for (const viewer of viewers) {
        assert.equal(typeof viewer.roundTripTimeMs, 'number', `server-side viewer ${viewer.id} read our reports`);
        // No transport-cc offered: unpaced and steady, so numbered and queued in C (lib/native/lane.h), losing nothing.
        if (nativeLanes) assert.equal(viewer.video?.lane.now, true, `server-side viewer ${viewer.id} sent from its lane: ${JSON.stringify(viewer.video)}`);
      }
    } finally {
      await generator.close();
    }
    assert.ok(await waitFor(async () => (await stats()).viewers.length === 0, 5_000), 'DELETE ended every session');
  });

  test('AES-CM SRTP decrypts too (each datagram read on its own, no UDP_GRO); a wrong fingerprint in the answer is refused before any key is made', async () => {
    const generator = new LoadGenerator({ hardStopSeconds: 30, receiveOffload: false });
    try {
      const cm = await generator.join(url, { srtpProfiles: ['cm'] });
      const forged = await generator.join(url, {
        // One byte of the server's certificate digest changed: the DTLS handshake must not complete.
        editAnswer: (sdp) => sdp.replace(/(a=fingerprint:sha-256 )([0-9A-Fa-f]{2})/, (_, head: string, byte: string) =>
          `${head}${((Number.parseInt(byte, 16) + 1) % 256).toString(16).padStart(2, '0').toUpperCase()}`),
      });
      assert.equal(cm.error, undefined);
      assert.equal(forged.error, undefined);
      assert.ok(await waitFor(() => {
        const { viewers } = generator.snapshot();
        // Past the GOP cache a joiner gets at once: live packets, whose loss would show.
        return viewers[cm.id]!.frames >= 60 && viewers[forged.id]!.state === 'failed';
      }, 20_000), JSON.stringify(generator.snapshot().viewers));
      const { viewers } = generator.snapshot();
      assert.equal(viewers[cm.id]!.authFailures, 0);
      assert.equal(viewers[cm.id]!.lost, 0);
      assert.match(generator.failure(forged.id) ?? '', /does not match the answer's a=fingerprint/);
      assert.equal(viewers[forged.id]!.connectedMs, -1, 'never connected');
      assert.equal(viewers[forged.id]!.packets + viewers[forged.id]!.authFailures, 0, 'and took in no media');
      // Our AES-CM SRTCP reports reach the server too: it computes a round trip from them.
      assert.ok(
        await waitFor(async () => (await stats()).viewers.some((viewer) => viewer.state === 'connected' && typeof viewer.roundTripTimeMs === 'number'), 8_000),
        `the server reads the AES-CM viewer's reports: ${JSON.stringify((await stats()).viewers)}`,
      );
    } finally {
      await generator.close();
    }
  });

  test('bounded: loopback only, and a hard stop that closes its sockets whatever Node does', async () => {
    assert.throws(() => new LoadGenerator({ hardStopSeconds: 0 }), /hardStopSeconds/);
    assert.throws(() => new LoadGenerator({ hardStopSeconds: 5, bindAddress: '192.0.2.1' }), /neither loopback/);
    const generator = new LoadGenerator({ hardStopSeconds: 1.5 });
    try {
      assert.throws(() => generator.whepEndpoint('http://192.0.2.1:8000'), /only loopback/);
      const viewer = await generator.join(url);
      assert.equal(viewer.error, undefined);
      assert.ok(await waitFor(() => generator.snapshot().threadDone, 5_000), 'the native thread stopped by itself');
      assert.equal(generator.snapshot().viewers[viewer.id]!.state, 'closed');
      assert.ok(await portIsFree(viewer.port), 'its socket is closed');
    } finally {
      await generator.close();
    }
  });

  test('the CLI runs a bounded load and reports per viewer, and the server\'s CPU per packet over the window and in slices of it', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        'bench/loadgen/cli.ts', '--url', url, '--viewers', '3', '--spacing-ms', '50', '--seconds', '7',
        '--server-pid', String(server!.pid), '--slice-s', '1', '--json', `${data.path}/report.json`,
      ],
      { cwd: root, timeout: 30_000 },
    );
    assert.match(stdout, /3 requested, 3 answered, 3 connected, 3 receiving, 0 failed/);
    const report = JSON.parse(readFileSync(`${data.path}/report.json`, 'utf8')) as LoadReport;
    assert.equal(report.viewers.length, 3);
    assert.equal(report.summary.authFailures, 0);
    assert.equal(report.summary.lossPercent, 0);
    for (const viewer of report.viewers) assert.ok(viewer.firstMediaMs! > 0 && viewer.packets > 0, JSON.stringify(viewer));
    // The window (from a second after the last first media to the end) in 1 s slices, each with its own µs per packet.
    const cpu = report.summary.server!;
    assert.ok(cpu.usPerPacket > 0, JSON.stringify(cpu));
    assert.ok(cpu.slices.length >= 3 && cpu.slices.every((us) => us > 0), JSON.stringify(cpu));
    assert.ok(cpu.usPerPacketMedian >= Math.min(...cpu.slices) && cpu.usPerPacketMedian <= Math.max(...cpu.slices), JSON.stringify(cpu));
    assert.match(stdout, new RegExp(`median of ${cpu.slices.length} slices`));
  });
});

describe('native load generator: a viewer told 503 comes back after its Retry-After', { timeout: 60_000 }, () => {
  const data = tempDir();
  let server: Awaited<ReturnType<typeof startCli>> | undefined;
  before(async () => {
    server = await startCli(data.path, ['--max-viewers', '1']);
  });
  after(async () => {
    await server?.stop();
    data.cleanup();
  });

  test('by default a 503 is final; with retryRefusedForMs the viewer POSTs again after Retry-After and gets in once there is room', async () => {
    const { url } = server!;
    const generator = new LoadGenerator({ hardStopSeconds: 40, retryRefusedForMs: 20_000 });
    const once = new LoadGenerator({ hardStopSeconds: 10 });
    try {
      const first = await generator.join(url);
      assert.equal(first.status, 201, `the first viewer is answered: ${first.error}`);
      assert.ok(await waitFor(() => (generator.snapshot().viewers[first.id]?.frames ?? 0) > 0, 15_000), 'the first viewer watches');
      const refused = await once.join(url);
      assert.equal(refused.status, 503, 'the second is refused: the server has its maximum of 1');
      assert.match(refused.error ?? '', /503/);
      assert.equal(refused.refusals, undefined, 'and does not try again by default');

      const joining = generator.join(url);
      await sleep(1_000);
      await generator.leave(first); // room again, before the 503's Retry-After (10 s) has passed
      const second = await joining;
      assert.equal(second.status, 201, `the second viewer is answered once it comes back: ${second.error}`);
      assert.ok((second.refusals ?? 0) >= 1, `it was refused first (${second.refusals} refusals)`);
      assert.ok(second.answerMs! >= 9_000, `it waited for the Retry-After: answered ${Math.round(second.answerMs!)} ms after its first POST`);
      assert.ok(
        await waitFor(() => (generator.snapshot().viewers[second.id]?.frames ?? 0) >= 10, 15_000),
        `it receives frames: ${JSON.stringify(generator.snapshot().viewers[second.id])}`,
      );
    } finally {
      await Promise.all([generator.close(), once.close()]);
    }
  });
});
