import type { PixelFormat } from './frames.ts';
import { COLORSPACES, type ResolvedOptions, type VideoCodec } from './options.ts';

/** RTP payload type ffmpeg stamps on packets; werift rewrites it per viewer, so any dynamic value does. */
export const RTP_PAYLOAD_TYPE = 96;

/** What the ffmpeg command needs to know; a subset of the resolved options. */
export type EncodeSettings = Pick<
  ResolvedOptions,
  | 'source' | 'codec' | 'bitrate' | 'gop' | 'frameSizeReduction' | 'resolution' | 'framerate' | 'loop'
  | 'inputOptions' | 'filters' | 'stabilize' | 'colorspace'
>;

/** Size and layout of the raw frames a custom stream pipes into ffmpeg. */
export interface RawFrameGeometry {
  width: number;
  height: number;
  format: PixelFormat;
}

/**
 * Whether the source ends by itself (a file played once, a custom stream whose read() returned null)
 * rather than being expected to run forever.
 */
export function endsByItself(settings: Pick<EncodeSettings, 'source' | 'loop'>): boolean {
  return (settings.source.kind === 'file' && !settings.loop) || settings.source.kind === 'frames';
}

/** How ffmpeg opens the source (everything up to and including `-i`). */
export function inputArgs(
  settings: Pick<EncodeSettings, 'source' | 'resolution' | 'framerate' | 'loop' | 'inputOptions'>,
  raw?: RawFrameGeometry,
): string[] {
  const { source, resolution, framerate } = settings;
  const extra = settings.inputOptions;
  switch (source.kind) {
    case 'frames': {
      if (!raw) throw new Error('raw frame geometry is needed for a custom stream');
      // Frames arrive when read() delivers them: stamp them with their arrival time, so a skipped tick
      // is a longer frame, not a drift between picture and clock.
      return [
        '-f', 'rawvideo', '-pix_fmt', raw.format, '-video_size', `${raw.width}x${raw.height}`,
        '-use_wallclock_as_timestamps', '1', ...extra, '-i', 'pipe:0',
      ];
    }
    case 'testsrc': {
      const [width, height] = resolution ?? [1280, 720];
      // testsrc draws a moving pattern plus a running timestamp, so motion and time are visible.
      return ['-re', '-f', 'lavfi', ...extra, '-i', `testsrc=size=${width}x${height}:rate=${framerate ?? 30}`];
    }
    case 'file':
      return ['-re', ...(settings.loop ? ['-stream_loop', '-1'] : []), ...extra, '-i', source.path];
    case 'device': {
      const format = process.platform === 'darwin' ? 'avfoundation' : 'v4l2';
      const size = resolution ? ['-video_size', `${resolution[0]}x${resolution[1]}`] : [];
      const rate = framerate ? ['-framerate', String(framerate)] : [];
      const name = process.platform === 'darwin' ? source.path.replace('/dev/video', '') : source.path;
      return ['-f', format, ...size, ...rate, ...extra, '-i', name];
    }
    case 'url': {
      // No input buffering: a live viewer wants the newest frame, not a smooth past.
      const lowLatency = ['-fflags', 'nobuffer', '-flags', 'low_delay'];
      const rtsp = /^rtsps?:/i.test(source.url) ? ['-rtsp_transport', 'tcp'] : [];
      return [...lowLatency, ...rtsp, ...extra, '-i', source.url];
    }
  }
}

/**
 * The `-vf` chain: stabilisation, the colour conversion, the user's filters, then the size reduction as
 * a `scale` keeping even dimensions (yuv420p needs them).
 */
function videoFilters(
  settings: Pick<EncodeSettings, 'filters' | 'frameSizeReduction' | 'stabilize' | 'colorspace'>,
): string[] {
  const chain: string[] = [];
  if (settings.stabilize) chain.push('deshake');
  if (settings.colorspace) chain.push(COLORSPACES[settings.colorspace]!);
  if (settings.filters) chain.push(settings.filters);
  if (settings.frameSizeReduction > 0) {
    const factor = (100 - settings.frameSizeReduction) / 100;
    chain.push(`scale=trunc(iw*${factor}/2)*2:trunc(ih*${factor}/2)*2`);
  }
  return chain.length > 0 ? ['-vf', chain.join(',')] : [];
}

function encoderArgs(codec: VideoCodec, bitrate: number, gop: number): string[] {
  const rate = ['-b:v', String(bitrate), '-maxrate', String(bitrate), '-bufsize', String(bitrate)];
  const keyframes = ['-g', String(gop), '-keyint_min', String(gop)];
  if (codec === 'vp8') {
    return [
      // One thread: measured cheaper than two at 360p-1080p (720p30: 27 % vs 47 % of a core), and keeps up.
      '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-threads', '1',
      // No alt-ref/lag: every frame goes out as soon as it is encoded. Error resilience keeps a lost packet local.
      '-auto-alt-ref', '0', '-lag-in-frames', '0', '-error-resilient', '1',
      ...rate, ...keyframes,
    ];
  }
  return [
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'baseline',
    '-bf', '0', '-sc_threshold', '0',
    ...rate, ...keyframes,
  ];
}

/**
 * The whole ffmpeg command line for one source: read, scale if asked, encode once, send RTP to a
 * loopback port. RTCP goes to the same port (and is dropped there) so nothing lands on a neighbour's port.
 */
export function buildFfmpegArgs(
  settings: EncodeSettings,
  rtpPort: number,
  ssrc: number,
  raw?: RawFrameGeometry,
): string[] {
  return [
    '-hide_banner', '-loglevel', 'warning', '-nostats',
    ...inputArgs(settings, raw),
    '-an', '-sn', '-dn', '-map', '0:v:0',
    ...videoFilters(settings),
    // Frames go out with the timestamps they came with: no duplicates, no drops by ffmpeg.
    '-fps_mode', 'passthrough',
    '-pix_fmt', 'yuv420p',
    ...encoderArgs(settings.codec, settings.bitrate, settings.gop),
    '-f', 'rtp', '-payload_type', String(RTP_PAYLOAD_TYPE), '-ssrc', String(ssrc),
    `rtp://127.0.0.1:${rtpPort}?pkt_size=1200&rtcpport=${rtpPort}`,
  ];
}
