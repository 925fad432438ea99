#!/usr/bin/env node
/** `webgear-rtc` / `npm start`: a thin command line over the public API. */
import { Command, InvalidArgumentError, Option } from 'commander';
import Koa from 'koa';
import { webgearRtc, type WebGearRtc } from './index.ts';

// Small Buffers are cut from a shared pool, and one slice kept alive keeps its whole pool. werift keeps a
// viewer's DTLS and SRTP keys and handshake messages as such slices, so each viewer pinned 1.3 pools: with
// Node 24's 64 KiB pools, 83 kB per viewer; with 8 KiB ones (Node's size until 2026), 34 kB
// (docs/operations.md). Set first: before any module cuts its first pool.
Buffer.poolSize = 8 * 1024;

const integer = (name: string) => (value: string): number => {
  const number = Number(value);
  if (!Number.isInteger(number)) throw new InvalidArgumentError(`${name} must be an integer.`);
  return number;
};

const program = new Command()
  .name('webgear-rtc')
  .description('Stream a video source to every browser over WebRTC.')
  .option('--source <source>', 'file, URL, camera index or device path, "testsrc", "whip" (take a WHIP publisher), or "whep+http://host/path" (pull a WHEP stream)', 'testsrc')
  .option('--whip-token <token>', 'with --source whip: the Bearer token a publisher must send')
  .option('--port <n>', 'HTTP port', integer('--port'), 8000)
  .option('--host <address>', 'address to listen on (0.0.0.0 for the LAN)', '127.0.0.1')
  .addOption(new Option('--codec <codec>', 'video codec').choices(['vp8', 'h264']).default('vp8'))
  .option('--logging', 'log what happens; tracebacks on the 500 page', false)
  .option('--frame-size-reduction <percent>', 'shrink frames by this percentage (0-90)', integer('--frame-size-reduction'), 0)
  .option('--max-viewers <n>', 'viewers allowed at once', integer('--max-viewers'), 100)
  .option('--max-connecting <n>', 'viewers connecting at once (answered, ICE and DTLS not done); more get 503 (default: --max-viewers)', integer('--max-connecting'))
  .option('--max-connecting-per-address <n>', 'sessions connecting at once from one address; more get 429', integer('--max-connecting-per-address'))
  .option('--max-event-loop-delay <ms>', 'refuse new viewers (503) while the event loop runs this late; 0 turns it off', integer('--max-event-loop-delay'))
  .option('--connect-timeout <seconds>', 'seconds a viewer has to connect after its offer', integer('--connect-timeout'))
  .option('--no-renditions', 'send the source alone: no lower renditions for thin links')
  .option('--bitrate <bits>', 'video bitrate in bits per second', integer('--bitrate'))
  .option('--loop', 'play a file source again when it ends', false)
  .option('--infinite-frames', 'show "No Input" while the source is down or after it ended', false)
  .addOption(new Option('--transcode <when>', 'encode the source, or send H.264 as is').choices(['auto', 'always', 'never']).default('auto'))
  .option('--audio <input>', 'audio to send with the video: a file, a URL or "lavfi:sine=frequency=440" (default: the source\'s own)')
  .option('--no-audio', 'send no audio, even if the source has some')
  .option('--ffmpeg-path <path>', 'ffmpeg binary to use')
  .option('--ice-host <address...>', 'extra host addresses to announce in ICE (e.g. a public or Docker host IP)')
  .option('--publish <url>', 'push the stream to this WHIP endpoint (an SFU or a CDN) and keep it there')
  .option('--publish-token <token>', 'the Bearer token of the --publish endpoint')
  .option('--metrics', 'serve GET /metrics in Prometheus text format', false)
  .showHelpAfterError();

program.parse();
const flags = program.opts<{
  source: string; port: number; host: string; codec: 'vp8' | 'h264'; logging: boolean;
  frameSizeReduction: number; maxViewers: number; bitrate?: number; loop: boolean; ffmpegPath?: string; iceHost?: string[];
  infiniteFrames: boolean; transcode: 'auto' | 'always' | 'never'; audio?: string | boolean;
  publish?: string; publishToken?: string; metrics: boolean; whipToken?: string;
  maxConnecting?: number; maxConnectingPerAddress?: number; maxEventLoopDelay?: number; connectTimeout?: number; renditions: boolean;
}>();
if (flags.publishToken !== undefined && flags.publish === undefined) program.error('error: --publish-token needs --publish <url>');

let rtc: WebGearRtc;
try {
  rtc = webgearRtc({
    source: flags.source,
    codec: flags.codec,
    logging: flags.logging,
    frameSizeReduction: flags.frameSizeReduction,
    maxViewers: flags.maxViewers,
    ...(flags.maxConnecting !== undefined && { maxConnecting: flags.maxConnecting }),
    ...(flags.maxConnectingPerAddress !== undefined && { maxConnectingPerAddress: flags.maxConnectingPerAddress }),
    ...(flags.maxEventLoopDelay !== undefined && { maxEventLoopDelay: flags.maxEventLoopDelay }),
    ...(flags.connectTimeout !== undefined && { connectTimeout: flags.connectTimeout }),
    ...(!flags.renditions && { renditions: false }),
    loop: flags.loop,
    enableInfiniteFrames: flags.infiniteFrames,
    transcode: flags.transcode,
    ...(flags.bitrate !== undefined && { bitrate: flags.bitrate }),
    ...(flags.audio !== undefined && { audio: flags.audio }),
    ...(flags.ffmpegPath !== undefined && { ffmpegPath: flags.ffmpegPath }),
    ...(flags.publish !== undefined && { publish: { url: flags.publish, ...(flags.publishToken !== undefined && { token: flags.publishToken }) } }),
    metrics: flags.metrics,
    ...(flags.whipToken !== undefined && { whipToken: flags.whipToken }),
    // Loopback is no ICE host candidate by default; announce it so a browser on this machine connects.
    iceAdditionalHostAddresses: ['127.0.0.1', ...(flags.iceHost ?? [])],
  });
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}

const app = new Koa();
app.use(rtc);
// This app is ours: paths nothing answered get the theme's 404 page.
app.use((ctx) => {
  ctx.status = 404;
  rtc.render(ctx, '404.html', { path: ctx.path });
});
const server = app.listen(flags.port, flags.host, () => {
  const origin = `http://${flags.host.includes(':') ? `[${flags.host}]` : flags.host}:${flags.port}`;
  console.log(`webgear-rtc: streaming ${flags.source} at ${origin}/`);
  if (flags.source === 'whip') console.log(`webgear-rtc: publish at ${origin}/publish, or with OBS (WHIP) to ${origin}/whip`);
});
server.on('error', (error) => {
  console.error(`webgear-rtc: ${error.message}`);
  void rtc.close().then(() => process.exit(1));
});

let stopping = false;
async function stop(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`webgear-rtc: ${reason}, stopping`);
  const forced = setTimeout(() => process.exit(1), 5_000).unref(); // never hang on the way out
  await rtc.close();
  server.close();
  server.closeAllConnections();
  clearTimeout(forced);
  process.exit(0);
}
process.once('SIGINT', () => void stop('SIGINT'));
process.once('SIGTERM', () => void stop('SIGTERM'));
// `npm start` runs us under `sh -c`; a SIGTERM sent to npm kills that shell and would orphan us.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) void stop('parent process exited');
}, 500).unref();
