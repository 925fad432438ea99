import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { SourceSpec } from './options.ts';

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
export function sourceTarget(source: Exclude<SourceSpec, { kind: 'frames' }>): string {
  switch (source.kind) {
    case 'testsrc':
      return 'testsrc';
    case 'url':
      return source.url;
    default:
      return source.path;
  }
}

/** Asks ffprobe about the source's first video stream. Rejects when it cannot be read in `timeoutMs`. */
export async function probeVideoStream(
  ffprobePath: string,
  source: Exclude<SourceSpec, { kind: 'frames' | 'testsrc' }>,
  timeoutMs = 5_000,
): Promise<VideoStreamInfo> {
  const target = sourceTarget(source);
  const { stdout } = await run(ffprobePath, [
    '-v', 'error', '-select_streams', 'v:0', '-of', 'json',
    '-show_entries', 'stream=codec_name,width,height,pix_fmt,has_b_frames',
    ...(source.kind === 'device' ? ['-f', process.platform === 'darwin' ? 'avfoundation' : 'v4l2'] : []),
    ...(source.kind === 'url' && /^rtsps?:/i.test(target) ? ['-rtsp_transport', 'tcp'] : []),
    target,
  ], { timeout: timeoutMs });
  const stream = (JSON.parse(stdout) as {
    streams?: Array<{ codec_name?: string; width?: number; height?: number; pix_fmt?: string; has_b_frames?: number }>;
  }).streams?.[0];
  if (!stream?.width || !stream.height) throw new Error(`no video stream found in ${target}`);
  return {
    codec: stream.codec_name ?? 'unknown',
    width: stream.width,
    height: stream.height,
    pixelFormat: stream.pix_fmt ?? 'unknown',
    reorderDelay: stream.has_b_frames ?? 0,
  };
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
