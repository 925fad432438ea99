import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  connectWeriftViewer, cpuSeconds, ffmpegProcessesWith, isRunning, launchChromium, processInfo, makeTestVideo, measurePlayback, recentFps,
  tempDir, waitFor,
} from './helpers.ts';

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

describe('npm start -- --source FILE --port N', { timeout: 120_000 }, () => {
  const data = tempDir();
  let cli: ChildProcess;
  let clip: string;
  let port: number;
  let output = '';

  before(async () => {
    clip = makeTestVideo(join(data.path, 'video.mp4'), { seconds: 30, width: 640, height: 360 });
    port = await freePort();
    cli = spawn('npm', ['start', '--silent', '--', '--source', clip, '--port', String(port)], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, HOME: data.path }, // data files go to a private ~/.vidgear
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cli.stdout!.on('data', (chunk) => (output += chunk));
    cli.stderr!.on('data', (chunk) => (output += chunk));
    assert.ok(await waitFor(() => output.includes(`http://127.0.0.1:${port}/`), 15_000), `the CLI starts: ${output}`);
  });
  after(() => {
    cli.stdout!.destroy();
    cli.stderr!.destroy();
    if (cli.exitCode === null) cli.kill('SIGKILL');
    data.cleanup();
  });

  test('plays in Chromium at the file size and ≥ 25 fps while 4 more viewers each get ≥ 28 fps', async () => {
    const url = `http://127.0.0.1:${port}`;
    const viewers = await Promise.all([1, 2, 3, 4].map(() => connectWeriftViewer(`${url}/offer`)));
    await Promise.all(viewers.map((viewer) => viewer.connected));
    const [ffmpegPid] = ffmpegProcessesWith(clip);
    assert.ok(ffmpegPid, 'ffmpeg runs');
    const serverPid = processInfo(ffmpegPid!)!.ppid;
    const cpuBefore = { node: cpuSeconds(serverPid), ffmpeg: cpuSeconds(ffmpegPid!), at: performance.now() };

    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const report = await measurePlayback(page, `${url}/`, 4_000, { settleMs: 1_500, againBelowFps: 25 });
      const elapsed = (performance.now() - cpuBefore.at) / 1000;
      const cpu = {
        node: (cpuSeconds(serverPid) - cpuBefore.node) / elapsed,
        ffmpeg: (cpuSeconds(ffmpegPid!) - cpuBefore.ffmpeg) / elapsed,
      };
      const viewerFps = viewers.map((viewer) => recentFps(viewer.frameTimes, 4_000));
      console.log(
        `chromium: ${report.width}x${report.height} ${report.fps.toFixed(1)} fps, first frame ${report.firstFrameMs} ms; ` +
          `werift viewers: ${viewerFps.map((fps) => fps.toFixed(1)).join(', ')} fps; ` +
          `server CPU: node ${(cpu.node * 100).toFixed(0)} %, ffmpeg ${(cpu.ffmpeg * 100).toFixed(0)} % of a core`,
      );
      assert.deepEqual([report.width, report.height], [640, 360], 'the file size, unscaled');
      assert.ok(report.fps >= 25, `Chromium presents ${report.fps} fps`);
      for (const fps of viewerFps) assert.ok(fps >= 28, `a werift viewer gets ${fps.toFixed(1)} fps`);
      assert.equal(ffmpegProcessesWith(clip).length, 1, 'one encoder for all five viewers');
    } finally {
      await browser.close();
      await Promise.all(viewers.map((viewer) => viewer.close()));
    }
  });

  test('SIGTERM to npm stops the server within 5 s and leaves no ffmpeg or server running', async () => {
    const [ffmpegPid] = ffmpegProcessesWith(clip);
    const serverPid = processInfo(ffmpegPid!)!.ppid;
    const sentAt = Date.now();
    cli.kill('SIGTERM');
    const gone = await waitFor(() => !isRunning(serverPid) && ffmpegProcessesWith(clip).length === 0, 5_000);
    console.log(`server and ffmpeg gone ${Date.now() - sentAt} ms after SIGTERM`);
    assert.ok(gone, 'server and ffmpeg stopped within 5 s');
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} to the server itself closes everything and exits 0`, async () => {
      const server = spawn(process.execPath, ['dist/cli.js', '--source', clip, '--port', String(port)], {
        cwd: join(import.meta.dirname, '..', '..'),
        env: { ...process.env, HOME: data.path },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      server.stdout!.on('data', (chunk) => (log += chunk));
      assert.ok(await waitFor(() => log.includes('streaming'), 10_000), log);
      const viewer = await connectWeriftViewer(`http://127.0.0.1:${port}/offer`);
      await viewer.connected;
      assert.equal(ffmpegProcessesWith(clip).length, 1);
      const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
      const sentAt = Date.now();
      server.kill(signal);
      assert.equal(await exited, 0);
      assert.ok(Date.now() - sentAt < 5_000, 'stopped within 5 s');
      assert.match(log, new RegExp(`${signal}, stopping`));
      assert.deepEqual(ffmpegProcessesWith(clip), [], 'no ffmpeg left');
      await viewer.close();
    });
  }
});

test('the command line cuts small Buffers from 8 KiB pools, not Node 24\'s 64 KiB (a kept slice pins its whole pool)', () => {
  // A module loaded before the command line's own reports the pool size as the process exits (--help exits at once).
  const report = 'data:text/javascript,process.on("exit",()=>process.stderr.write(`poolSize=${Buffer.poolSize}`))';
  const { stderr, status } = spawnSync(process.execPath, ['--import', report, 'dist/cli.js', '--help'], {
    cwd: join(import.meta.dirname, '..', '..'), encoding: 'utf8', timeout: 30_000,
  });
  assert.equal(status, 0);
  assert.match(stderr, /poolSize=8192/);
});
