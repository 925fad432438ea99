/**
 * The two decisions made once per source, in one place: whether its video is encoded or sent as is
 * (`transcode`), and whether the stream carries audio. Both may need to look inside the source; ffprobe runs
 * once for both. A local file is probed ahead (`prefetch()`), so that its first viewer waits for ffmpeg's
 * start alone, not for ffprobe's as well.
 */
import { statSync } from 'node:fs';
import type { Logger } from '../logger.ts';
import { isWebRtcSource, type AudioSpec, type FfmpegSourceSpec, type SourceSpec, type Transcode, type VideoCodec } from '../types.ts';
import { resolveFfprobePath } from './ffmpeg/ffmpeg-path.ts';
import { passthroughProblem, probeSource, sourceTarget, type SourceStreams } from './ffmpeg/source-probe.ts';

/** What in the options can force encoding (see encodingNeeds). */
export interface EncodingOptions {
  frameSizeReduction: number;
  filters: string | undefined;
  stabilize: boolean;
  colorspace: string | undefined;
}

export interface SourcePlanSettings extends EncodingOptions {
  source: SourceSpec;
  codec: VideoCodec;
  transcode: Transcode;
  audio: AudioSpec;
  ffmpegPath: string;
}

/** How a source is streamed: `copy` sends its H.264 as is; `failed` says why it cannot be streamed at all. */
export type VideoPlan = { copy: boolean } | { failed: Error };

/**
 * What in the options alone rules out sending the source as is (`-c:v copy`), or undefined when only the
 * source itself (probed when it starts) can tell.
 */
export function encodingNeeds(source: SourceSpec, codec: VideoCodec, options: EncodingOptions): string | undefined {
  if (isWebRtcSource(source)) return undefined; // never encoded (resolve-options refuses what would need it)
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

type ProbedSource = Exclude<FfmpegSourceSpec, { kind: 'frames' | 'testsrc' }>;
const isProbed = (source: SourceSpec): source is ProbedSource =>
  source.kind !== 'frames' && source.kind !== 'testsrc' && !isWebRtcSource(source);

/** A file as it was when probed: a probe is reused only for the same size and modification time. */
interface FileStamp {
  size: number;
  mtimeMs: number;
}

function stampOf(path: string): FileStamp | undefined {
  try {
    const { size, mtimeMs } = statSync(path);
    return { size, mtimeMs };
  } catch {
    return undefined;
  }
}

export class SourcePlan {
  readonly #settings: SourcePlanSettings;
  readonly #logger: Logger;
  #probe: Promise<SourceStreams> | undefined;
  /** A file's probe started ahead, and the file as it was then. */
  #prefetched: { streams: Promise<SourceStreams>; stamp: FileStamp } | undefined;
  readonly #closing = new AbortController();
  #audio: Promise<boolean> | undefined;
  #video: Promise<VideoPlan> | undefined;

  constructor(settings: SourcePlanSettings, logger: Logger) {
    this.#settings = settings;
    this.#logger = logger;
  }

  /**
   * Probes a local file now, in the background: ffprobe takes about 0.2 s, which the first viewer would
   * otherwise wait for on top of ffmpeg's start, with every viewer who comes meanwhile queued behind it.
   * The decisions still wait for the start: they take this probe if the file is the same then (size and
   * modification time) and it read the file, else they probe again. Cameras and URLs are not touched
   * before the start (opening a device, or a remote camera, is the start's to do).
   */
  prefetch(): void {
    const { source } = this.#settings;
    if (source.kind !== 'file' || this.#probe || this.#prefetched) return;
    const stamp = stampOf(source.path);
    if (!stamp) return; // not there yet: the start will look
    let ffprobe: string;
    try {
      ffprobe = resolveFfprobePath(this.#settings.ffmpegPath);
    } catch {
      return; // the start says why, in its own words
    }
    const streams = probeSource(ffprobe, source, undefined, this.#closing.signal);
    streams.catch(() => {}); // a failure is looked at only if a decision comes to it
    this.#prefetched = { streams, stamp };
  }

  /** Stops a probe still running (the source closed). */
  close(): void {
    this.#closing.abort();
  }

  /**
   * Whether the stream carries audio: an extra `audio` input does; the source's own audio is looked for
   * once with ffprobe (a source that cannot be probed is taken as silent). Decided once.
   */
  hasAudio(): Promise<boolean> {
    this.#audio ??= this.#decideAudio();
    return this.#audio;
  }

  /** The height of the source's picture when ffprobe can tell (a file or URL), else undefined. */
  async videoHeight(): Promise<number | undefined> {
    const { source } = this.#settings;
    if (!isProbed(source) || source.kind === 'device') return undefined;
    try {
      return (await this.#probeSource(source)).video?.height;
    } catch {
      return undefined;
    }
  }

  /**
   * Whether the video is sent as is: `transcode: 'auto'` probes an H.264 source that nothing in the options
   * needs encoded; `'never'` on a source that turns out to need encoding is a failure. Decided once.
   */
  video(): Promise<VideoPlan> {
    this.#video ??= this.#decideVideo();
    return this.#video;
  }

  async #decideVideo(): Promise<VideoPlan> {
    const { source, transcode, codec } = this.#settings;
    if (transcode === 'always' || !isProbed(source)) return { copy: false };
    if (encodingNeeds(source, codec, this.#settings)) return { copy: false }; // 'never' was refused with the options
    let problem: string | undefined;
    try {
      const { video } = await this.#probeSource(source);
      if (!video) throw new Error(`no video stream found in ${sourceTarget(source)}`);
      problem = passthroughProblem(video);
    } catch (error) {
      // Unreadable now: ffmpeg will say why, and restarts; copying is what was asked for or allowed.
      this.#logger.debug(`could not probe the source: ${(error as Error).message}`);
      return { copy: transcode === 'never' };
    }
    if (!problem) {
      this.#logger.info('the source is H.264 without B-frames: sending it as is, without encoding');
      return { copy: true };
    }
    if (transcode === 'auto') {
      this.#logger.info(`encoding the source: ${problem}`);
      return { copy: false };
    }
    return { failed: new Error(`the source cannot be sent without encoding (transcode: "never"): ${problem}`) };
  }

  async #decideAudio(): Promise<boolean> {
    const { audio, source } = this.#settings;
    // A WebRTC sender's own Opus, when it sends some (it cannot be known before it connects).
    if (isWebRtcSource(source)) return audio.kind === 'source';
    if (audio.kind !== 'source' || !isProbed(source)) return audio.kind === 'input';
    try {
      const streams = await this.#probeSource(source);
      if (streams.audio) this.#logger.info(`the source has audio (${streams.audio.codec}): sending it as Opus`);
      return streams.audio !== undefined;
    } catch (error) {
      this.#logger.debug(`could not probe the source for audio; sending none: ${(error as Error).message}`);
      return false;
    }
  }

  #probeSource(source: ProbedSource): Promise<SourceStreams> {
    this.#probe ??= this.#prefetchedOrProbe(source);
    return this.#probe;
  }

  async #prefetchedOrProbe(source: ProbedSource): Promise<SourceStreams> {
    const prefetched = this.#prefetched;
    this.#prefetched = undefined;
    if (prefetched && source.kind === 'file') {
      try {
        const streams = await prefetched.streams;
        const now = stampOf(source.path);
        if (now && now.size === prefetched.stamp.size && now.mtimeMs === prefetched.stamp.mtimeMs) return streams;
        this.#logger.debug(`${source.path} changed since it was probed: probing it again`);
      } catch {
        // Unreadable then (or being written): probed again below, as if never tried.
      }
    }
    return probeSource(resolveFfprobePath(this.#settings.ffmpegPath), source, undefined, this.#closing.signal);
  }
}
