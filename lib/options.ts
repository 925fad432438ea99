import { existsSync, statSync } from 'node:fs';
import type { Context } from 'koa';
import { resolve } from 'node:path';
import { WebGearRtcOptionError } from './errors.ts';
import { isCustomStream, type CustomStream } from './frames.ts';
import type { Logger } from './logger.ts';

/** Video codecs the shared encoder can produce. VP8 plays everywhere; H.264 needs the browser's support. */
export type VideoCodec = 'vp8' | 'h264';

/** Whether the source is encoded or sent as is: see `WebGearRtcOptions.transcode`. */
export type Transcode = 'auto' | 'always' | 'never';

/** An ICE server handed to werift (and later to the page), as in the browser's RTCIceServer. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/**
 * Options of `webgearRtc()`. Names are vidgear WebGear_RTC's, in camelCase
 * (`frame_size_reduction` → `frameSizeReduction`).
 */
export interface WebGearRtcOptions {
  /**
   * What to stream: a file path, a URL (`rtsp://`, `http://`, `udp://`, …), a camera (`0` → `/dev/video0`,
   * or a device path such as `/dev/video2`), or `'testsrc'` for a built-in moving test pattern.
   */
  source?: string | number;
  /**
   * Frames from your own code (vidgear's `custom_stream`): any object with `read()` (sync or async,
   * returning `{data, width, height, format}` or null at the end) and `stop()`. Read `framerate` times
   * a second (default 30). Takes the place of `source`.
   */
  customStream?: CustomStream;
  /** Seconds to wait before reading the source (vidgear's `time_delay`). Default 0. */
  timeDelay?: number;
  /** Extra ffmpeg input options, placed before `-i` (e.g. `['-rtsp_transport', 'udp']`). */
  inputOptions?: string[];
  /** An ffmpeg `-vf` filter chain applied after the source is read (e.g. `'hflip,eq=contrast=1.2'`). */
  filters?: string;
  /** Steady a shaky picture, live (ffmpeg `deshake`), as vidgear's `stabilize`. Default false. */
  stabilize?: boolean;
  /**
   * vidgear's `colorspace`, an OpenCV conversion name, applied to the picture where ffmpeg can express
   * it: see `COLORSPACES`. Others are refused with the list.
   */
  colorspace?: string;
  /** `'vp8'` (default, libvpx realtime) or `'h264'` (libx264 zerolatency, baseline, no B-frames). */
  codec?: VideoCodec;
  /** Target video bitrate in bits per second. Default 2 500 000 (good 720p30). */
  bitrate?: number;
  /**
   * Keyframe interval in frames. Default 30. A joining viewer gets the packets since the last keyframe
   * (the GOP cache) and decodes a picture at once, so this sets the size of that burst, not a wait.
   */
  gop?: number;
  /** Shrinks every frame by this percentage (0–90), keeping even dimensions. Default 20, as vidgear. */
  frameSizeReduction?: number;
  /** Frame size `[width, height]` asked of a camera or of `'testsrc'` (default 1280x720 for testsrc). */
  resolution?: [number, number];
  /** Frame rate asked of a camera or of `'testsrc'` (default 30 for testsrc). */
  framerate?: number;
  /** Play a file source again from the start when it ends. Default false: a file plays once, as in vidgear. */
  loop?: boolean;
  /** Accepted for vidgear compatibility: every viewer always gets the live stream here. */
  enableLiveBroadcast?: boolean;
  /**
   * While the source is down or after it ended (once it has delivered), keep streaming a generated
   * "No Input" picture at the size viewers were watching and at `framerate` (default 30), so viewers keep
   * a live stream (vidgear's `enable_infinite_frames`). Default false: a finished source
   * shows "The End" for a second, then the stream stops sending (the connection stays up).
   */
  enableInfiniteFrames?: boolean;
  /**
   * Whether ffmpeg encodes the source: `'auto'` (default) sends an H.264 source as is (`-c:v copy`, near-zero
   * CPU) when `codec` is `'h264'`, the source has no B-frames and no filter or size reduction is asked;
   * `'always'` encodes; `'never'` refuses a source that would need encoding.
   */
  transcode?: Transcode;
  /**
   * Audio sent to every viewer with the video, as Opus (encoded once, by the same ffmpeg). `true` (default):
   * the source's first audio stream, if a file or URL has one (a camera, `'testsrc'` and a custom stream
   * have none). `false`: never any audio. A string: an extra ffmpeg audio input, which is how a custom
   * stream or a video-only source gets sound: a file path, a URL, or `'<format>:<input>'` for ffmpeg's
   * `lavfi`, `alsa` or `pulse` input formats (`'lavfi:sine=frequency=440'`, `'alsa:default'`). A viewer
   * whose offer has no audio section gets the video alone.
   */
  audio?: boolean | string;
  /** Log what happens (data-file location, ffmpeg, viewers) and show tracebacks on the 500 page. */
  logging?: boolean;
  /** Where log lines go. Default: console. */
  logger?: Logger;
  /** Folder holding `webgear_rtc/{templates,static}`. Must exist and be writable. Default `~/.vidgear`. */
  customDataLocation?: string;
  /** Rewrite the default template and static files from the package's theme. Default false. */
  overwriteDefaultFiles?: boolean;
  /** Serve under this path (e.g. `'/cam'`) without koa-mount. */
  prefix?: string;
  /** Public base path for the page's URLs, when a reverse proxy strips a prefix the server cannot see. */
  basePath?: string;
  /**
   * Template folder(s) searched before the data folder's `templates/` (and so before the default theme),
   * file by file: a file missing here comes from the next folder. Each must exist.
   */
  templates?: string | string[];
  /** Static folder(s) served under `/static` before the data folder's `static/`, file by file. Each must exist. */
  static?: string | string[];
  /** Viewers allowed at once; more get a 503. Default 100. */
  maxViewers?: number;
  /** Seconds a viewer has to connect (ICE and DTLS) after its offer; then it is dropped. Default 20. */
  connectTimeout?: number;
  /** Largest signaling request body in bytes (`POST /offer`); a larger one gets 413. Default 65 536. */
  bodyLimit?: number;
  /**
   * Guards every route of the plugin (page, static files, signaling, routes you add to `.router`):
   * resolve true to let the request in, false to answer 403. Or throw to answer yourself, e.g.
   * `ctx.throw(401, 'log in', { headers: { 'WWW-Authenticate': 'Basic' } })`. Host routes are not guarded.
   */
  authorize?: (ctx: Context) => boolean | Promise<boolean>;
  /** STUN/TURN servers for the server's peer connections and the page. Default `[]` (LAN, no STUN wait). */
  iceServers?: IceServer[];
  /** Extra host addresses to announce in ICE (a public IP behind 1:1 NAT, Docker host IP, `127.0.0.1`). */
  iceAdditionalHostAddresses?: string[];
  /** UDP port range `[min, max]` for the viewers' ICE sockets (one socket per viewer). */
  icePortRange?: [number, number];
  /** Path of the ffmpeg binary. Default: `FFMPEG_PATH`, ffmpeg-static, then `ffmpeg` on PATH. */
  ffmpegPath?: string;
  /**
   * Origins allowed to use WHEP (`/whep`) and `/stats` from another site's page (CORS): `'*'` (default),
   * one origin (`'https://example.com'`) or a list of them.
   */
  corsOrigins?: string | string[];
  /**
   * `GET /stats`: the source's state and every viewer as JSON. `true` (default) serves it, `false` answers
   * 404, a function guards it (resolve true to let the request in, false for 403). `rtc.stats()` works always.
   */
  stats?: boolean | ((ctx: Context) => boolean | Promise<boolean>);
  /**
   * Latency hint for the default page, in ms: the browser's jitter buffer aims at this delay
   * (`RTCRtpReceiver.jitterBufferTarget`). Lower is more live, higher rides out a bad network. Default:
   * the browser's own (adaptive, usually 10–50 ms on a LAN).
   */
  jitterBufferTarget?: number;
}

/** The options after validation, with every default filled in. */
export interface ResolvedOptions {
  source: SourceSpec;
  codec: VideoCodec;
  bitrate: number;
  gop: number;
  frameSizeReduction: number;
  resolution: [number, number] | undefined;
  framerate: number | undefined;
  loop: boolean;
  enableInfiniteFrames: boolean;
  transcode: Transcode;
  audio: AudioSpec;
  logging: boolean;
  logger: Logger | undefined;
  customDataLocation: string | undefined;
  overwriteDefaultFiles: boolean;
  prefix: string | undefined;
  basePath: string | undefined;
  templates: string[];
  static: string[];
  maxViewers: number;
  bodyLimit: number;
  connectTimeout: number;
  authorize: ((ctx: Context) => boolean | Promise<boolean>) | undefined;
  iceServers: IceServer[];
  iceAdditionalHostAddresses: string[];
  icePortRange: [number, number] | undefined;
  ffmpegPath: string | undefined;
  corsOrigins: '*' | string[];
  stats: boolean | ((ctx: Context) => boolean | Promise<boolean>);
  jitterBufferTarget: number | undefined;
  timeDelay: number;
  inputOptions: string[];
  filters: string | undefined;
  stabilize: boolean;
  colorspace: string | undefined;
}

/**
 * Where the stream's audio comes from: nowhere, the source's own first audio stream (when probing finds
 * one), or an extra ffmpeg input (`from` says how ffmpeg opens it).
 */
export type AudioSpec =
  | { kind: 'none' }
  | { kind: 'source' }
  | { kind: 'input'; from: 'file' | 'url' | AudioInputFormat; input: string };

/** ffmpeg input formats an `audio` string may name as `'<format>:<input>'`. */
export const AUDIO_INPUT_FORMATS = ['lavfi', 'alsa', 'pulse'] as const;
export type AudioInputFormat = (typeof AUDIO_INPUT_FORMATS)[number];

/** What a `source` option names, and how ffmpeg should open it. */
export type SourceSpec =
  | { kind: 'testsrc' }
  | { kind: 'file'; path: string }
  | { kind: 'url'; url: string }
  | { kind: 'device'; path: string }
  | { kind: 'frames'; stream: CustomStream };

const KNOWN_OPTIONS: ReadonlySet<string> = new Set<keyof WebGearRtcOptions>([
  'source', 'customStream', 'codec', 'bitrate', 'gop', 'frameSizeReduction', 'resolution', 'framerate',
  'loop', 'transcode', 'enableLiveBroadcast', 'enableInfiniteFrames', 'logging', 'logger', 'customDataLocation',
  'overwriteDefaultFiles', 'prefix', 'basePath', 'maxViewers', 'iceServers', 'iceAdditionalHostAddresses',
  'templates', 'static', 'bodyLimit', 'authorize', 'connectTimeout',
  'icePortRange', 'ffmpegPath', 'timeDelay', 'inputOptions', 'filters', 'stabilize', 'colorspace',
  'corsOrigins', 'stats', 'jitterBufferTarget', 'audio',
]);

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

const camelCase = (name: string): string => name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

function fail(option: string, expected: string, value: unknown): never {
  throw new WebGearRtcOptionError(option, `must be ${expected} (got ${describe(value)})`);
}

function optionalBoolean(options: WebGearRtcOptions, name: keyof WebGearRtcOptions, fallback: boolean): boolean {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(name, 'true or false', value);
  return value;
}

function optionalFunction<K extends 'authorize'>(options: WebGearRtcOptions, name: K): WebGearRtcOptions[K] {
  const value = options[name];
  if (value !== undefined && typeof value !== 'function') fail(name, 'a function', value);
  return value;
}

function optionalNumber(
  options: WebGearRtcOptions,
  name: keyof WebGearRtcOptions,
  { min, max, integer }: { min: number; max: number; integer: boolean },
): number | undefined {
  const value = options[name];
  if (value === undefined) return undefined;
  const kind = integer ? 'an integer' : 'a number';
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    fail(name, `${kind} from ${min} to ${max}`, value);
  }
  if (value < min || value > max) fail(name, `${kind} from ${min} to ${max}`, value);
  return value;
}

function optionalString(options: WebGearRtcOptions, name: keyof WebGearRtcOptions): string | undefined {
  const value = options[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail(name, 'a non-empty string', value);
  return value;
}

function pathPrefix(options: WebGearRtcOptions, name: 'prefix' | 'basePath'): string | undefined {
  const value = optionalString(options, name);
  if (value === undefined) return undefined;
  if (!value.startsWith('/') || /[?#\s]/.test(value)) fail(name, 'a path starting with "/"', value);
  const trimmed = value.replace(/\/+$/, '');
  return trimmed;
}

/** A directory path or an array of them, each existing; returned absolute, in search order. */
function directoryList(options: WebGearRtcOptions, name: 'templates' | 'static'): string[] {
  const value = options[name];
  if (value === undefined) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string' && item !== '')) {
    fail(name, 'a directory path or an array of them', value);
  }
  return list.map((dir) => {
    const path = resolve(dir);
    if (!existsSync(path) || !statSync(path).isDirectory()) {
      throw new WebGearRtcOptionError(name, `names no existing directory: ${JSON.stringify(dir)}`);
    }
    return path;
  });
}

function integerPair(options: WebGearRtcOptions, name: 'resolution' | 'icePortRange', min: number, max: number) {
  const value = options[name];
  if (value === undefined) return undefined;
  const ok =
    Array.isArray(value) &&
    value.length === 2 &&
    value.every((n) => typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max);
  if (!ok) fail(name, `a pair of integers from ${min} to ${max}`, value);
  return [value[0], value[1]] as [number, number];
}

function stringList(options: WebGearRtcOptions, name: 'iceAdditionalHostAddresses'): string[] {
  const value = options[name];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item !== '')) {
    fail(name, 'an array of non-empty strings', value);
  }
  return [...value];
}

function iceServerList(options: WebGearRtcOptions): IceServer[] {
  const value = options.iceServers;
  if (value === undefined) return [];
  const isUrl = (url: unknown) => typeof url === 'string' && /^(stun|stuns|turn|turns):/.test(url);
  const valid =
    Array.isArray(value) &&
    value.every(
      (server) =>
        server !== null &&
        typeof server === 'object' &&
        (Array.isArray(server.urls) ? server.urls.length > 0 && server.urls.every(isUrl) : isUrl(server.urls)) &&
        (server.username === undefined || typeof server.username === 'string') &&
        (server.credential === undefined || typeof server.credential === 'string'),
    );
  if (!valid) fail('iceServers', 'an array of {urls: "stun:…" | "turn:…", username?, credential?}', value);
  return value.map((server) => ({ ...server }));
}

/** `'*'`, or the origins (`scheme://host[:port]`, no path) allowed by CORS. */
function originList(options: WebGearRtcOptions): '*' | string[] {
  const value = options.corsOrigins;
  if (value === undefined || value === '*') return '*';
  const list = typeof value === 'string' ? [value] : value;
  const isOrigin = (item: unknown) => typeof item === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]+$/i.test(item);
  if (!Array.isArray(list) || list.length === 0 || !list.every(isOrigin)) {
    fail('corsOrigins', '"*", an origin such as "https://example.com" (no path), or an array of them', value);
  }
  return [...list];
}

function statsOption(options: WebGearRtcOptions): ResolvedOptions['stats'] {
  const value = options.stats;
  if (value === undefined) return true;
  if (typeof value !== 'boolean' && typeof value !== 'function') fail('stats', 'true, false or a function (ctx) => boolean', value);
  return value;
}

/**
 * The `audio` option: `true` looks for the audio of a file or URL source (the other kinds have none),
 * a string is an extra input; a missing file is reported now, as for `source`.
 */
function audioOption(options: WebGearRtcOptions, source: SourceSpec): AudioSpec {
  const value = options.audio;
  if (value === undefined || value === true) {
    return source.kind === 'file' || source.kind === 'url' ? { kind: 'source' } : { kind: 'none' };
  }
  if (value === false) return { kind: 'none' };
  if (typeof value !== 'string' || value.trim() === '') {
    fail('audio', 'true, false, or an ffmpeg audio input: a file path, a URL, or "lavfi:sine=frequency=440"', value);
  }
  const format = /^([a-z]+):(?!\/\/)(.+)$/s.exec(value);
  if (format && (AUDIO_INPUT_FORMATS as readonly string[]).includes(format[1]!)) {
    return { kind: 'input', from: format[1] as AudioInputFormat, input: format[2]! };
  }
  const path = value.startsWith('file://') ? decodeURIComponent(new URL(value).pathname) : value;
  if (path === value && /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return { kind: 'input', from: 'url', input: value };
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new WebGearRtcOptionError(
      'audio',
      `names no readable file: ${JSON.stringify(path)} does not exist (a URL needs its scheme, a generator "lavfi:")`,
    );
  }
  return { kind: 'input', from: 'file', input: path };
}

/** Tells what kind of input a `source` is; a missing file is reported now rather than by a silent ffmpeg. */
export function parseSource(source: string | number): SourceSpec {
  if (typeof source === 'number') {
    if (!Number.isInteger(source) || source < 0) fail('source', 'a camera index (integer ≥ 0), a path, a URL or "testsrc"', source);
    return { kind: 'device', path: `/dev/video${source}` };
  }
  if (typeof source !== 'string' || source.trim() === '') {
    fail('source', 'a file path, a URL, a camera index or "testsrc"', source);
  }
  if (source === 'testsrc') return { kind: 'testsrc' };
  if (/^\d+$/.test(source)) return { kind: 'device', path: `/dev/video${source}` };
  if (source.startsWith('/dev/video') || source.startsWith('/dev/v4l/')) return { kind: 'device', path: source };
  if (source.startsWith('file://')) return parseSource(decodeURIComponent(new URL(source).pathname));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return { kind: 'url', url: source };
  if (!existsSync(source) || !statSync(source).isFile()) {
    throw new WebGearRtcOptionError('source', `names no readable file: ${JSON.stringify(source)} does not exist`);
  }
  return { kind: 'file', path: source };
}

/** Validates `webgearRtc()` options and fills in defaults. Throws WebGearRtcOptionError naming the option. */
export function resolveOptions(options: WebGearRtcOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new WebGearRtcOptionError('options', `must be an object (got ${describe(options)})`);
  }
  for (const name of Object.keys(options)) {
    if (KNOWN_OPTIONS.has(name)) continue;
    const suggestion = camelCase(name);
    const hint = KNOWN_OPTIONS.has(suggestion) ? ` (did you mean "${suggestion}"?)` : '';
    throw new WebGearRtcOptionError(name, `is not a webgear-rtc option${hint}`);
  }
  if (options.customStream !== undefined && !isCustomStream(options.customStream)) {
    throw new WebGearRtcOptionError('customStream', 'must be an object with callable read() and stop() methods');
  }
  if (options.customStream !== undefined && options.source !== undefined) {
    throw new WebGearRtcOptionError('customStream', 'and "source" exclude each other: give one');
  }
  if (options.source === undefined && options.customStream === undefined) {
    throw new WebGearRtcOptionError('source', 'is required: give a file, URL, camera index or "testsrc" (or a customStream)');
  }
  const codec = options.codec ?? 'vp8';
  if (codec !== 'vp8' && codec !== 'h264') fail('codec', '"vp8" or "h264"', codec);
  const logger = options.logger;
  if (
    logger !== undefined &&
    (logger === null || typeof logger !== 'object' || !['debug', 'info', 'warn', 'error'].every((m) => typeof (logger as never)[m] === 'function'))
  ) {
    fail('logger', 'an object with debug, info, warn and error methods', logger);
  }
  const icePortRange = integerPair(options, 'icePortRange', 1, 65535);
  if (icePortRange && icePortRange[0] >= icePortRange[1]) fail('icePortRange', '[min, max] with min < max', icePortRange);
  optionalBoolean(options, 'enableLiveBroadcast', true);

  const colorspace = optionalString(options, 'colorspace');
  if (colorspace !== undefined && !(colorspace in COLORSPACES)) {
    fail('colorspace', `one of ${Object.keys(COLORSPACES).join(', ')}`, colorspace);
  }
  const inputOptions = options.inputOptions;
  if (inputOptions !== undefined && (!Array.isArray(inputOptions) || !inputOptions.every((item) => typeof item === 'string'))) {
    fail('inputOptions', 'an array of strings (ffmpeg arguments)', inputOptions);
  }

  const transcode = options.transcode ?? 'auto';
  if (!['auto', 'always', 'never'].includes(transcode)) fail('transcode', '"auto", "always" or "never"', transcode);
  const source: SourceSpec = options.customStream ? { kind: 'frames', stream: options.customStream } : parseSource(options.source!);

  const resolved: ResolvedOptions = {
    source,
    codec,
    bitrate: optionalNumber(options, 'bitrate', { min: 50_000, max: 50_000_000, integer: true }) ?? 2_500_000,
    gop: optionalNumber(options, 'gop', { min: 1, max: 600, integer: true }) ?? 30,
    frameSizeReduction: optionalNumber(options, 'frameSizeReduction', { min: 0, max: 90, integer: false }) ?? 20,
    resolution: integerPair(options, 'resolution', 16, 8192),
    framerate: optionalNumber(options, 'framerate', { min: 1, max: 240, integer: false }),
    loop: optionalBoolean(options, 'loop', false),
    enableInfiniteFrames: optionalBoolean(options, 'enableInfiniteFrames', false),
    transcode,
    audio: audioOption(options, source),
    logging: optionalBoolean(options, 'logging', false),
    logger,
    customDataLocation: optionalString(options, 'customDataLocation'),
    overwriteDefaultFiles: optionalBoolean(options, 'overwriteDefaultFiles', false),
    prefix: pathPrefix(options, 'prefix'),
    basePath: pathPrefix(options, 'basePath'),
    templates: directoryList(options, 'templates'),
    static: directoryList(options, 'static'),
    maxViewers: optionalNumber(options, 'maxViewers', { min: 1, max: 10_000, integer: true }) ?? 100,
    bodyLimit: optionalNumber(options, 'bodyLimit', { min: 1_024, max: 16 * 1024 * 1024, integer: true }) ?? 64 * 1024,
    authorize: optionalFunction(options, 'authorize'),
    connectTimeout: optionalNumber(options, 'connectTimeout', { min: 1, max: 300, integer: false }) ?? 20,
    iceServers: iceServerList(options),
    iceAdditionalHostAddresses: stringList(options, 'iceAdditionalHostAddresses'),
    icePortRange,
    ffmpegPath: optionalString(options, 'ffmpegPath'),
    corsOrigins: originList(options),
    stats: statsOption(options),
    jitterBufferTarget: optionalNumber(options, 'jitterBufferTarget', { min: 0, max: 4_000, integer: false }),
    timeDelay: optionalNumber(options, 'timeDelay', { min: 0, max: 3600, integer: false }) ?? 0,
    inputOptions: inputOptions ? [...inputOptions] : [],
    filters: optionalString(options, 'filters'),
    stabilize: optionalBoolean(options, 'stabilize', false),
    colorspace,
  };
  const needs = transcode === 'never' && encodingNeeds(source, codec, resolved);
  if (needs) throw new WebGearRtcOptionError('transcode', `is "never", but ${needs} needs encoding`);
  return resolved;
}

/**
 * What in the options alone rules out sending the source as is (`-c:v copy`), or undefined when only the
 * source itself (probed when it starts) can tell.
 */
export function encodingNeeds(
  source: SourceSpec,
  codec: VideoCodec,
  options: Pick<ResolvedOptions, 'frameSizeReduction' | 'filters' | 'stabilize' | 'colorspace'>,
): string | undefined {
  if (codec !== 'h264') return `codec "${codec}" (only H.264 is sent as is)`;
  if (source.kind === 'frames') return 'a customStream (raw frames)';
  if (source.kind === 'testsrc') return 'the test pattern';
  if (source.kind === 'device') return 'a camera';
  if (options.frameSizeReduction > 0) return `frameSizeReduction ${options.frameSizeReduction} (the default is 20: set 0)`;
  if (options.filters) return 'the filters option';
  if (options.stabilize) return 'stabilize';
  if (options.colorspace) return 'colorspace';
  return undefined;
}
