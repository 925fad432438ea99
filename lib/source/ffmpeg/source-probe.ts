import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { FfmpegSourceSpec } from '../../types.ts';

const run = promisify(execFile);

/** What ffprobe tells of a source's first video stream. */
export interface VideoStreamInfo {
  codec: string;
  width: number;
  height: number;
  pixelFormat: string;
  /** Frames the decoder must hold back for reordering: 0 when the stream has no B-frames. */
  reorderDelay: number;
}

/** Where ffmpeg and ffprobe read a (non-custom) source from. */
export function sourceTarget(source: Exclude<FfmpegSourceSpec, { kind: 'frames' }>): string {
  switch (source.kind) {
    case 'testsrc':
      return 'testsrc';
    case 'url':
      return source.url;
    default:
      return source.path;
  }
}

/** What ffprobe tells of a source's first audio stream. */
export interface AudioStreamInfo {
  codec: string;
}

/** A source's first video and first audio stream, as far as it has them. */
export interface SourceStreams {
  video: VideoStreamInfo | undefined;
  audio: AudioStreamInfo | undefined;
}

/**
 * Asks ffprobe about the source's first video and first audio stream in one run (`-show_entries stream=…`).
 * Rejects when the source cannot be read in `timeoutMs`, or `signal` aborts it (ffprobe is killed).
 */
export async function probeSource(
  ffprobePath: string,
  source: Exclude<FfmpegSourceSpec, { kind: 'frames' | 'testsrc' }>,
  timeoutMs = 5_000,
  signal?: AbortSignal,
): Promise<SourceStreams> {
  const target = sourceTarget(source);
  const { stdout } = await run(ffprobePath, [
    '-v', 'error', '-of', 'json',
    '-show_entries', 'stream=codec_type,codec_name,width,height,pix_fmt,has_b_frames',
    ...(source.kind === 'device' ? ['-f', process.platform === 'darwin' ? 'avfoundation' : 'v4l2'] : []),
    ...(source.kind === 'url' && /^rtsps?:/i.test(target) ? ['-rtsp_transport', 'tcp'] : []),
    target,
  ], { timeout: timeoutMs, signal });
  const streams = (JSON.parse(stdout) as {
    streams?: Array<{
      codec_type?: string; codec_name?: string; width?: number; height?: number; pix_fmt?: string; has_b_frames?: number;
    }>;
  }).streams ?? [];
  const video = streams.find((stream) => stream.codec_type === 'video');
  const audio = streams.find((stream) => stream.codec_type === 'audio');
  return {
    video: video?.width && video.height ? {
      codec: video.codec_name ?? 'unknown',
      width: video.width,
      height: video.height,
      pixelFormat: video.pix_fmt ?? 'unknown',
      reorderDelay: video.has_b_frames ?? 0,
    } : undefined,
    audio: audio && { codec: audio.codec_name ?? 'unknown' },
  };
}

/** Asks ffprobe about the source's first video stream. Rejects when it cannot be read in `timeoutMs`. */
export async function probeVideoStream(
  ffprobePath: string,
  source: Exclude<FfmpegSourceSpec, { kind: 'frames' | 'testsrc' }>,
  timeoutMs = 5_000,
): Promise<VideoStreamInfo> {
  const { video } = await probeSource(ffprobePath, source, timeoutMs);
  if (!video) throw new Error(`no video stream found in ${sourceTarget(source)}`);
  return video;
}

/**
 * Why a probed stream cannot go to browsers as is (they decode 8-bit 4:2:0 H.264 without reordering
 * delay), or undefined when it can.
 */
export function passthroughProblem(stream: VideoStreamInfo): string | undefined {
  if (stream.codec !== 'h264') return `the source is ${stream.codec}, not H.264`;
  if (stream.reorderDelay > 0) return 'the source has B-frames';
  if (stream.pixelFormat !== 'yuv420p' && stream.pixelFormat !== 'yuvj420p') {
    return `the source's pixel format is ${stream.pixelFormat}, not yuv420p`;
  }
  return undefined;
}
