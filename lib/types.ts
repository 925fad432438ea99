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
  | { kind: 'frames'; stream: CustomStream }
  /** A WHIP publisher (a browser, OBS) sends the picture: RFC 9725 ingest at `<mount>/whip`. */
  | { kind: 'whip' }
  /** Another server's WHEP endpoint (`url`: http or https), pulled as one of its viewers. */
  | { kind: 'whep'; url: string };

/** The sources ffmpeg reads (all but the WebRTC ones). */
export type FfmpegSourceSpec = Exclude<SourceSpec, { kind: 'whip' | 'whep' }>;

/** The sources whose RTP comes over WebRTC and is sent on as is (no ffmpeg, except for the slate). */
export type WebRtcSourceSpec = Extract<SourceSpec, { kind: 'whip' | 'whep' }>;
export const isWebRtcSource = (source: SourceSpec): source is WebRtcSourceSpec => source.kind === 'whip' || source.kind === 'whep';

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
