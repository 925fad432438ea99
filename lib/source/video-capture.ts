import { inputArgs } from './ffmpeg/ffmpeg-args.ts';
import { resolveFfmpegPath, resolveFfprobePath } from './ffmpeg/ffmpeg-path.ts';
import { FfmpegProcess } from './ffmpeg/ffmpeg-process.ts';
import { frameByteLength, PIXEL_FORMATS, type CustomStream, type PixelFormat, type VideoFrame } from './frames.ts';
import { WebGearRtcOptionError } from '../errors.ts';
import { isWebRtcSource, type FfmpegSourceSpec } from '../types.ts';
import { parseSource } from './source-spec.ts';
import { probeVideoStream } from './ffmpeg/source-probe.ts';

export interface VideoCaptureOptions {
  /** Pixel format of the frames `read()` returns. Default `'bgr24'`, as OpenCV (vidgear) frames. */
  format?: PixelFormat;
  /** Scale frames to this size; default: the source's own size. */
  width?: number;
  height?: number;
  /** Frames per second to deliver; default: the source's own rate. */
  framerate?: number;
  /** Play a file again from the start when it ends. */
  loop?: boolean;
  /** Extra ffmpeg input options, placed before `-i`. */
  inputOptions?: string[];
  /** The ffmpeg binary; default as for `webgearRtc()`. */
  ffmpegPath?: string;
}

/**
 * vidgear's capture gears, the Node way: decodes any source ffmpeg can read (file, URL, camera,
 * `'testsrc'`) into raw frames. `read()` resolves with the newest frame not yet read — never a backlog:
 * frames that arrive while nobody reads are replaced — and with `null` once the source has ended or
 * `stop()` was called. Usable directly as a `customStream`, or wrapped by your own transform.
 */
export class VideoCapture implements CustomStream {
  readonly #source: FfmpegSourceSpec;
  readonly #options: VideoCaptureOptions;
  readonly #format: PixelFormat;
  #starting: Promise<void> | undefined;
  #ffmpeg: FfmpegProcess | undefined;
  #width = 0;
  #height = 0;
  #frameBytes = 0;
  #filling: Buffer | undefined;
  #filled = 0;
  #newest: VideoFrame | undefined;
  #waiters: Array<(frame: VideoFrame | null) => void> = [];
  #ended = false;

  constructor(source: string | number, options: VideoCaptureOptions = {}) {
    const spec = parseSource(source);
    if (isWebRtcSource(spec)) {
      throw new WebGearRtcOptionError('source', `cannot be read by VideoCapture: ${JSON.stringify(source)} is a WebRTC source`);
    }
    this.#source = spec;
    this.#format = options.format ?? 'bgr24';
    if (!PIXEL_FORMATS.includes(this.#format)) {
      throw new WebGearRtcOptionError('format', `must be one of ${PIXEL_FORMATS.join(', ')} (got ${JSON.stringify(options.format)})`);
    }
    for (const name of ['width', 'height', 'framerate'] as const) {
      const value = options[name];
      if (value !== undefined && !(typeof value === 'number' && value > 0 && Number.isFinite(value))) {
        throw new WebGearRtcOptionError(name, `must be a positive number (got ${String(value)})`);
      }
    }
    if ((options.width === undefined) !== (options.height === undefined)) {
      throw new WebGearRtcOptionError('width', 'and "height" go together: give both or neither');
    }
    this.#options = options;
  }

  /** The newest frame not yet read, waiting for one if needed; `null` at the end. */
  async read(): Promise<VideoFrame | null> {
    this.#starting ??= this.#start();
    await this.#starting;
    const frame = this.#newest;
    if (frame) {
      this.#newest = undefined;
      return frame;
    }
    if (this.#ended) return null;
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Stops ffmpeg; pending and later reads resolve with `null`. */
  async stop(): Promise<void> {
    this.#newest = undefined;
    this.#end();
    await this.#ffmpeg?.stop();
  }

  async #start(): Promise<void> {
    const ffmpegPath = resolveFfmpegPath(this.#options.ffmpegPath);
    const { width, height } = this.#options.width
      ? { width: Math.round(this.#options.width), height: Math.round(this.#options.height!) }
      : await this.#probeSize(ffmpegPath);
    if (this.#ended) return; // stopped while probing
    this.#width = width;
    this.#height = height;
    this.#frameBytes = frameByteLength(width, height, this.#format);
    const settings = {
      source: this.#source,
      resolution: this.#options.width ? ([width, height] as [number, number]) : undefined,
      framerate: this.#options.framerate,
      loop: this.#options.loop ?? false,
      inputOptions: this.#options.inputOptions ?? [],
    };
    const args = [
      '-hide_banner', '-loglevel', 'error', '-nostats',
      ...inputArgs(settings),
      '-an', '-sn', '-dn', '-map', '0:v:0',
      ...(this.#options.width ? ['-vf', `scale=${width}:${height}`] : []),
      ...(this.#options.framerate ? ['-r', String(this.#options.framerate)] : []),
      '-pix_fmt', this.#format, '-f', 'rawvideo', 'pipe:1',
    ];
    const ffmpeg = new FfmpegProcess(ffmpegPath, args, { stdout: true });
    this.#ffmpeg = ffmpeg;
    ffmpeg.stdout!.on('data', (chunk: Buffer) => this.#collect(chunk));
    ffmpeg.once('exit', () => this.#end());
  }

  /** The source's frame size, from ffprobe (the test pattern's is known). */
  async #probeSize(ffmpegPath: string): Promise<{ width: number; height: number }> {
    if (this.#source.kind === 'testsrc') return { width: 1280, height: 720 };
    if (this.#source.kind === 'frames') throw new Error('VideoCapture cannot read a custom stream');
    try {
      const { width, height } = await probeVideoStream(resolveFfprobePath(ffmpegPath), this.#source);
      return { width, height };
    } catch (error) {
      throw new Error(`VideoCapture: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Cuts ffmpeg's byte stream into frames; each complete one replaces any unread one. */
  #collect(chunk: Buffer): void {
    if (this.#ended) return; // what ffmpeg still writes after stop() is nobody's
    let offset = 0;
    while (offset < chunk.length) {
      this.#filling ??= Buffer.allocUnsafe(this.#frameBytes);
      const copied = chunk.copy(this.#filling, this.#filled, offset);
      offset += copied;
      this.#filled += copied;
      if (this.#filled < this.#frameBytes) continue;
      const frame: VideoFrame = { data: this.#filling, width: this.#width, height: this.#height, format: this.#format };
      this.#filling = undefined;
      this.#filled = 0;
      const waiter = this.#waiters.shift();
      if (waiter) waiter(frame);
      else this.#newest = frame;
    }
  }

  #end(): void {
    this.#ended = true;
    for (const waiter of this.#waiters.splice(0)) waiter(null);
  }
}
