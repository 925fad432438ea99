import type { PixelFormat } from '../frames.ts';
import type { Rung } from '../ladder.ts';
import type { AudioSpec, SourceSpec, VideoCodec } from '../../types.ts';

/**
 * vidgear `colorspace` names (OpenCV conversions) that ffmpeg can express on the picture the browser
 * sees, and their filters. Conversions into HSV, Lab, YUV… show only as false colours in OpenCV too.
 */
export const COLORSPACES: Readonly<Record<string, string>> = {
  COLOR_BGR2GRAY: 'format=gray',
  COLOR_RGB2GRAY: 'format=gray',
  COLOR_BGRA2GRAY: 'format=gray',
  COLOR_RGBA2GRAY: 'format=gray',
  // Swapping red and blue is what these conversions look like once the result is shown as BGR.
  COLOR_BGR2RGB: 'colorchannelmixer=rr=0:rb=1:br=1:bb=0',
  COLOR_RGB2BGR: 'colorchannelmixer=rr=0:rb=1:br=1:bb=0',
};

/** RTP payload type ffmpeg stamps on packets; werift rewrites it per viewer, so any dynamic value does. */
export const RTP_PAYLOAD_TYPE = 96;
/** The audio's payload type: only told apart from video for a reader of the packets (the SSRC decides here). */
export const AUDIO_PAYLOAD_TYPE = 111;
/** Opus bitrate: transparent enough for music at 48 kHz stereo, small next to the video. */
export const AUDIO_BITRATE = 64_000;

/** What the ffmpeg command needs to know (the resolved options have all of it). */
export interface EncodeSettings {
  source: SourceSpec;
  codec: VideoCodec;
  bitrate: number;
  gop: number;
  frameSizeReduction: number;
  resolution: [number, number] | undefined;
  framerate: number | undefined;
  loop: boolean;
  inputOptions: string[];
  filters: string | undefined;
  stabilize: boolean;
  colorspace: string | undefined;
  audio: AudioSpec;
}

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
    case 'whip':
    case 'whep':
      throw new Error('a WebRTC source is not read by ffmpeg: its RTP is sent on as is');
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
  const chain = filterChain(settings);
  return chain.length > 0 ? ['-vf', chain.join(',')] : [];
}

function filterChain(settings: Pick<EncodeSettings, 'filters' | 'frameSizeReduction' | 'stabilize' | 'colorspace'>): string[] {
  const chain: string[] = [];
  if (settings.stabilize) chain.push('deshake');
  if (settings.colorspace) chain.push(COLORSPACES[settings.colorspace]!);
  if (settings.filters) chain.push(settings.filters);
  if (settings.frameSizeReduction > 0) {
    const factor = (100 - settings.frameSizeReduction) / 100;
    chain.push(`scale=trunc(iw*${factor}/2)*2:trunc(ih*${factor}/2)*2`);
  } else {
    chain.push(EVEN_SIZE); // 4:2:0 needs even sizes (x264 refuses odd ones); free when even
  }
  return chain;
}

const EVEN_SIZE = 'crop=trunc(iw/2)*2:trunc(ih/2)*2';

/**
 * The most a keyframe may take, in % of an average frame's share of the bitrate: libwebrtc's own rule for
 * libvpx (half a 600 ms buffer: 30 × the frame rate, at least 300 %). Unbounded, libvpx made the first
 * keyframe of a 2.5 Mbit/s 720p stream 367 kB (1.2 s of the stream) and later ones 86 kB on average; a
 * 800 kbit/s 360p rung's first 72 kB: a GOP replay that a thin link carries only after its pacer's bound,
 * so the viewer froze. Bounded: 68 kB at most, 13 kB for 360p (the noisy 720p30 test clip, 10 s).
 */
export function maxIntraRate(framerate: number): number {
  return Math.max(300, Math.round(30 * framerate));
}

/**
 * `lower`: a lower rung of the ladder, encoded faster (its pictures are small; libvpx's per-frame cost does
 * not shrink with them: at cpu-used 8 a 360p rung costs 44 % of the 720p one, at 16 about 22 %).
 */
function encoderArgs(codec: VideoCodec, bitrate: number, gop: number, framerate: number | undefined, lower = false): string[] {
  const rate = ['-b:v', String(bitrate), '-maxrate', String(bitrate), '-bufsize', String(bitrate)];
  const keyframes = ['-g', String(gop), '-keyint_min', String(gop)];
  if (codec === 'vp8') {
    return [
      // One thread: measured cheaper than two at 360p-1080p (720p30: 27 % vs 47 % of a core), and keeps up.
      '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', lower ? '16' : '8', '-threads', '1',
      // No alt-ref/lag: every frame goes out as soon as it is encoded. Error resilience keeps a lost packet local.
      '-auto-alt-ref', '0', '-lag-in-frames', '0', '-error-resilient', '1',
      '-max-intra-rate', String(maxIntraRate(framerate ?? 30)),
      ...rate, ...keyframes,
    ];
  }
  return [
    '-c:v', 'libx264', '-preset', lower ? 'ultrafast' : 'veryfast', '-tune', 'zerolatency', '-profile:v', 'baseline',
    '-bf', '0', '-sc_threshold', '0',
    ...rate, ...keyframes,
  ];
}

/** Sends the encoded stream as RTP to a loopback port; RTCP goes to the same port (and is dropped there). */
function rtpOutputArgs(rtpPort: number, ssrc: number, payloadType = RTP_PAYLOAD_TYPE): string[] {
  return [
    '-f', 'rtp', '-payload_type', String(payloadType), '-ssrc', String(ssrc),
    `rtp://127.0.0.1:${rtpPort}?pkt_size=1200&rtcpport=${rtpPort}`,
  ];
}

/**
 * How ffmpeg opens an extra audio input (`audio: '<input>'`), as its second input. Files and generators
 * are read at their own pace (`-re`), a file again and again with `loop`; URLs and devices are live.
 */
export function audioInputArgs(audio: Extract<AudioSpec, { kind: 'input' }>, loop: boolean): string[] {
  switch (audio.from) {
    case 'file':
      return ['-re', ...(loop ? ['-stream_loop', '-1'] : []), '-i', audio.input];
    case 'url':
      return ['-i', audio.input];
    case 'lavfi':
      return ['-re', '-f', 'lavfi', '-i', audio.input];
    default:
      return ['-f', audio.from, '-i', audio.input];
  }
}

/**
 * The audio output: the first audio stream of `input` (0: the source, 1: the extra audio input) as Opus,
 * 48 kHz stereo (what WebRTC's Opus is), 20 ms frames in low-delay mode, to the same port as the video
 * under its own SSRC.
 */
function audioOutputArgs(input: 0 | 1, rtpPort: number, ssrc: number): string[] {
  return [
    '-map', `${input}:a:0`, '-vn', '-sn', '-dn',
    '-c:a', 'libopus', '-b:a', String(AUDIO_BITRATE), '-ar', '48000', '-ac', '2',
    '-application', 'lowdelay', '-frame_duration', '20',
    ...rtpOutputArgs(rtpPort, ssrc, AUDIO_PAYLOAD_TYPE),
  ];
}

/** How a run of the source is turned into RTP. */
export interface RunOptions {
  /** Size and format of the raw frames on stdin, for a custom stream. */
  raw?: RawFrameGeometry;
  /** Send the source's H.264 as is instead of encoding it. */
  copy?: boolean;
  /**
   * Also send audio as Opus RTP with this SSRC: the source's first audio stream (`audio` is
   * `{kind: 'source'}` and the source has one) or the extra audio input. Without it, video only.
   */
  audioSsrc?: number;
  /** Read a looped file once: the caller starts the next run when it ends (see SourceSupervisor). */
  loopByRestart?: boolean;
  /** The lower rungs of the ladder (lib/source/ladder.ts), each sent under its own SSRC; none by default. */
  lower?: Array<{ rung: Rung; ssrc: number }>;
}

/** A lower rung's scale filter, from the picture above it (`fromFraction`: that picture's share of the top). */
function rungScale(rung: Rung, fromFraction: number): string {
  const scale = rung.scale;
  if (!scale) return 'null';
  if ('height' in scale) return `scale=-2:${scale.height}:flags=fast_bilinear`;
  const step = scale.fraction / fromFraction;
  return `scale=trunc(iw*${step}/2)*2:trunc(ih*${step}/2)*2:flags=fast_bilinear`;
}

/**
 * The video outputs: the top rung (encoded, or copied) and the lower rungs, each scaled from the one above
 * (a cascade: each scaler reads the smallest picture it can) in one filter graph.
 */
function videoOutputArgs(settings: EncodeSettings, rtpPort: number, ssrc: number, run: RunOptions): string[] {
  const lower = run.lower ?? [];
  const encode = (bitrate: number, isLower: boolean) => [
    // Frames go out with the timestamps they came with: no duplicates, no drops by ffmpeg.
    '-fps_mode', 'passthrough', '-pix_fmt', 'yuv420p', ...encoderArgs(settings.codec, bitrate, settings.gop, settings.framerate, isLower),
  ];
  // Browsers need SPS/PPS in-band before each keyframe; MP4 keeps them aside (avcC), RTSP in the SDP.
  const copy = ['-c:v', 'copy', '-bsf:v', 'h264_mp4toannexb,dump_extra=freq=keyframe'];
  if (lower.length === 0) {
    const video = run.copy ? copy : [...videoFilters(settings), ...encode(settings.bitrate, false)];
    return ['-an', '-sn', '-dn', '-map', '0:v:0', ...video, ...rtpOutputArgs(rtpPort, ssrc)];
  }
  // A copied top rung takes the source as it is; the lower ones are decoded and scaled from it.
  const chain = run.copy ? [EVEN_SIZE] : filterChain(settings);
  const graph: string[] = [];
  let input = `[0:v:0]${chain.join(',')}`;
  let fraction = 1;
  if (!run.copy) {
    graph.push(`${input},split=2[v0][s0]`);
    input = '[s0]';
  }
  lower.forEach(({ rung }, index) => {
    const last = index === lower.length - 1;
    const out = last ? `[v${index + 1}]` : `split=2[v${index + 1}][s${index + 1}]`;
    graph.push(`${input}${input.endsWith(']') ? '' : ','}${rungScale(rung, fraction)}${last ? out : `,${out}`}`);
    input = `[s${index + 1}]`;
    if (rung.scale && 'fraction' in rung.scale) fraction = rung.scale.fraction;
  });
  const top = run.copy
    ? ['-map', '0:v:0', ...copy]
    : ['-map', '[v0]', ...encode(settings.bitrate, false)];
  return [
    '-an', '-sn', '-dn', '-filter_complex', graph.join(';'),
    ...top, ...rtpOutputArgs(rtpPort, ssrc),
    ...lower.flatMap(({ rung, ssrc: rungSsrc }, index) => [
      '-map', `[v${index + 1}]`, ...encode(rung.bitrate, true), ...rtpOutputArgs(rtpPort, rungSsrc),
    ]),
  ];
}

/**
 * The whole ffmpeg command line for one source: read, scale if asked, encode once (or copy an H.264
 * source), send RTP to a loopback port; with `run.audioSsrc`, a second output sends the audio as Opus.
 */
export function buildFfmpegArgs(
  settings: EncodeSettings,
  rtpPort: number,
  ssrc: number,
  run: RunOptions = {},
): string[] {
  const { audio } = settings;
  const withAudio = run.audioSsrc !== undefined && audio.kind !== 'none';
  const extraInput = withAudio && audio.kind === 'input';
  const loop = settings.loop && !run.loopByRestart;
  return [
    '-hide_banner', '-loglevel', 'warning', '-nostats',
    ...inputArgs({ ...settings, loop }, run.raw),
    ...(extraInput ? audioInputArgs(audio, loop) : []),
    ...videoOutputArgs(settings, rtpPort, ssrc, run),
    ...(withAudio ? audioOutputArgs(extraInput ? 1 : 0, rtpPort, run.audioSsrc!) : []),
  ];
}

/** A generated picture shown in place of the source ("No Input", "The End"). */
export interface SlateSpec {
  text: string;
  width: number;
  height: number;
  framerate: number;
  /** Stop after this many seconds; default: until stopped. */
  seconds?: number;
  /** Draw the text (needs ffmpeg's drawtext and a font); false gives a plain dark picture. */
  drawText: boolean;
}

/** ffmpeg generating a slate: a dark picture with centred white text, encoded like the source. */
export function buildSlateArgs(
  settings: Pick<EncodeSettings, 'codec' | 'bitrate' | 'gop'>,
  slate: SlateSpec,
  rtpPort: number,
  ssrc: number,
): string[] {
  const duration = slate.seconds ? `:duration=${slate.seconds}` : '';
  const text = slate.text.replace(/[\\':]/g, (c) => `\\${c}`);
  const draw = slate.drawText
    ? ['-vf', `drawtext=text='${text}':fontcolor=white:fontsize=h/8:x=(w-text_w)/2:y=(h-text_h)/2`]
    : [];
  return [
    '-hide_banner', '-loglevel', 'warning', '-nostats',
    '-re', '-f', 'lavfi', '-i', `color=c=0x202020:size=${slate.width}x${slate.height}:rate=${slate.framerate}${duration}`,
    ...draw,
    '-pix_fmt', 'yuv420p',
    // A still picture needs few bits: a tenth of the source's rate keeps the slate cheap.
    ...encoderArgs(settings.codec, Math.max(50_000, Math.round(settings.bitrate / 10)), settings.gop, slate.framerate),
    ...rtpOutputArgs(rtpPort, ssrc),
  ];
}
