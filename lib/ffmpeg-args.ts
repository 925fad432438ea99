import type { ResolvedOptions, SourceSpec, VideoCodec } from './options.ts';

/** RTP payload type ffmpeg stamps on packets; werift rewrites it per viewer, so any dynamic value does. */
export const RTP_PAYLOAD_TYPE = 96;

/** What the ffmpeg command needs to know; a subset of the resolved options. */
export type EncodeSettings = Pick<
  ResolvedOptions,
  'source' | 'codec' | 'bitrate' | 'gop' | 'frameSizeReduction' | 'resolution' | 'framerate' | 'loop'
>;

/** Files and the test pattern are read at their native rate (`-re`); live sources pace themselves. */
export function isPacedByFfmpeg(source: SourceSpec): boolean {
  return source.kind === 'file' || source.kind === 'testsrc';
}

/** Whether the source ends by itself (a file played once) rather than being expected to run forever. */
export function endsByItself(settings: EncodeSettings): boolean {
  return settings.source.kind === 'file' && !settings.loop;
}

function inputArgs(settings: EncodeSettings): string[] {
  const { source, resolution, framerate } = settings;
  switch (source.kind) {
    case 'testsrc': {
      const [width, height] = resolution ?? [1280, 720];
      // testsrc draws a moving pattern plus a running timestamp, so motion and time are visible.
      return ['-re', '-f', 'lavfi', '-i', `testsrc=size=${width}x${height}:rate=${framerate ?? 30}`];
    }
    case 'file':
      return ['-re', ...(settings.loop ? ['-stream_loop', '-1'] : []), '-i', source.path];
    case 'device': {
      const format = process.platform === 'darwin' ? 'avfoundation' : 'v4l2';
      const size = resolution ? ['-video_size', `${resolution[0]}x${resolution[1]}`] : [];
      const rate = framerate ? ['-framerate', String(framerate)] : [];
      const name = process.platform === 'darwin' ? source.path.replace('/dev/video', '') : source.path;
      return ['-f', format, ...size, ...rate, '-i', name];
    }
    case 'url': {
      // No input buffering: a live viewer wants the newest frame, not a smooth past.
      const lowLatency = ['-fflags', 'nobuffer', '-flags', 'low_delay'];
      const rtsp = /^rtsps?:/i.test(source.url) ? ['-rtsp_transport', 'tcp'] : [];
      return [...lowLatency, ...rtsp, '-i', source.url];
    }
  }
}

/** `scale` keeping even dimensions (yuv420p needs them), or nothing when no reduction is asked. */
function scaleFilter(reductionPercent: number): string[] {
  if (reductionPercent <= 0) return [];
  const factor = (100 - reductionPercent) / 100;
  return ['-vf', `scale=trunc(iw*${factor}/2)*2:trunc(ih*${factor}/2)*2`];
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
export function buildFfmpegArgs(settings: EncodeSettings, rtpPort: number, ssrc: number): string[] {
  return [
    '-hide_banner', '-loglevel', 'warning', '-nostats',
    ...inputArgs(settings),
    '-an', '-sn', '-dn', '-map', '0:v:0',
    ...scaleFilter(settings.frameSizeReduction),
    '-pix_fmt', 'yuv420p',
    ...encoderArgs(settings.codec, settings.bitrate, settings.gop),
    '-f', 'rtp', '-payload_type', String(RTP_PAYLOAD_TYPE), '-ssrc', String(ssrc),
    `rtp://127.0.0.1:${rtpPort}?pkt_size=1200&rtcpport=${rtpPort}`,
  ];
}
