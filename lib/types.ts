/**
 * The media types every stage shares. A leaf: it imports nothing of the project, so the RTP helpers, the
 * ffmpeg command and the option table can all use these names without depending on each other.
 */
import type { CustomStream } from './source/frames.ts';

/** Video codecs the shared encoder can produce. VP8 plays everywhere; H.264 needs the browser's support. */
export type VideoCodec = 'vp8' | 'h264';

/** Whether the source is encoded or sent as is: see the `transcode` option. */
export type Transcode = 'auto' | 'always' | 'never';

/** An ICE server handed to werift, the page and WHEP players, as in the browser's RTCIceServer. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** Width and height of a picture in pixels. */
export interface PictureSize {
  width: number;
  height: number;
}

/** What a `source` option names, and how ffmpeg should open it. */
export type SourceSpec =
  | { kind: 'testsrc' }
  | { kind: 'file'; path: string }
  | { kind: 'url'; url: string }
  | { kind: 'device'; path: string }
  | { kind: 'frames'; stream: CustomStream };

/** ffmpeg input formats an `audio` string may name as `'<format>:<input>'`. */
export const AUDIO_INPUT_FORMATS = ['lavfi', 'alsa', 'pulse'] as const;
export type AudioInputFormat = (typeof AUDIO_INPUT_FORMATS)[number];

/**
 * Where the stream's audio comes from: nowhere, the source's own first audio stream (when probing finds
 * one), or an extra ffmpeg input (`from` says how ffmpeg opens it).
 */
export type AudioSpec =
  | { kind: 'none' }
  | { kind: 'source' }
  | { kind: 'input'; from: 'file' | 'url' | AudioInputFormat; input: string };
