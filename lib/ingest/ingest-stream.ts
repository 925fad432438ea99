/**
 * One outgoing stream made of whatever senders feed it in turn (successive ffmpeg runs, the slate): their
 * packets renumbered into one continuous stream, counted, kept since the last keyframe (video), then handed
 * to the fan-out.
 */
import { StreamTrack } from '../fanout/stream-track.ts';
import { hasMarker, VIDEO_CLOCK_RATE } from '../rtp/rtp-packet.ts';
import { RtpContinuity } from '../rtp/rtp-continuity.ts';
import { rtpPictureSize } from '../rtp/rtp-payload.ts';
import type { PictureSize, VideoCodec } from '../types.ts';
import { GopCache } from './gop-cache.ts';

export interface IngestCounts {
  /** RTP packets and bytes received since the start (headers included). */
  packets: number;
  bytes: number;
  /** Whole frames (marker bits). */
  frames: number;
  /** Frames per second and bits per second over the last second. */
  framesPerSecond: number;
  bitrate: number;
}

/** Seconds of rates `rate` looks back over. */
const RATE_SECONDS = 3;
/** No stream is taken to need less (a still picture sends almost nothing until it moves). */
const MIN_RATE = 100_000;
/** …nor less than this share of its target. */
const MIN_SHARE_OF_TARGET = 0.5;

export class IngestStream {
  readonly track: StreamTrack;
  /** The bitrate this stream is encoded at (its rung of the ladder), bit/s; 0 for audio. */
  readonly bitrate: number;
  /** The picture size its last keyframe announced (video). */
  pictureSize: PictureSize | undefined;
  /** Asks whoever sends this stream for a keyframe (a WebRTC publisher or origin); unset for ffmpeg. */
  keyframeRequester: (() => void) | undefined;
  readonly #codec: VideoCodec | undefined;
  readonly #continuity: RtpContinuity;
  readonly #gop: GopCache | undefined;
  readonly #counts: IngestCounts = { packets: 0, bytes: 0, frames: 0, framesPerSecond: 0, bitrate: 0 };
  #framesAtLastSample = 0;
  #bytesAtLastSample = 0;
  /** The bit rates of the last few seconds, newest last. */
  readonly #recentBitrates: number[] = [];

  /** A video stream (`codec` given) keeps its GOP for joiners; an audio stream (Opus, 48 kHz) does not. */
  constructor(codec: VideoCodec | undefined, bitrate = 0) {
    this.bitrate = bitrate;
    this.#codec = codec;
    this.#gop = codec && new GopCache(codec);
    this.#continuity = new RtpContinuity(codec ? VIDEO_CLOCK_RATE : 48_000);
    this.track = new StreamTrack(codec ? 'video' : 'audio', this.#gop);
  }

  /** Takes one packet of the current sender (rewritten in place), then sends it to every viewer. */
  push(packet: Buffer, now = Date.now()): void {
    this.#continuity.rewrite(packet, now);
    if (this.#codec) this.pictureSize = rtpPictureSize(this.#codec, packet) ?? this.pictureSize;
    this.#counts.packets++;
    this.#counts.bytes += packet.length;
    if (hasMarker(packet)) this.#counts.frames++;
    this.#gop?.push(packet);
    this.track.write(packet);
  }

  /** A viewer lost its picture: the sender is asked for a keyframe, where it can be (see `keyframeRequester`). */
  requestKeyframe(): void {
    this.keyframeRequester?.();
  }

  /** Updates the per-second rates; called once a second. */
  sample(): void {
    this.#counts.framesPerSecond = this.#counts.frames - this.#framesAtLastSample;
    this.#framesAtLastSample = this.#counts.frames;
    this.#counts.bitrate = (this.#counts.bytes - this.#bytesAtLastSample) * 8;
    this.#bytesAtLastSample = this.#counts.bytes;
    this.#recentBitrates.push(this.#counts.bitrate);
    if (this.#recentBitrates.length > RATE_SECONDS) this.#recentBitrates.shift();
  }

  /**
   * What the stream takes, bit/s: its average over the last few seconds (keyframes included; the pacer
   * spreads their bursts), but never under half its target (a picture that sends little now may move
   * and send its target the next second), and never under its target until it has sent for those few
   * seconds: an encoder's first second sends less than it will (a source that starts with its first
   * viewer; on a busy machine it also runs behind real time), and a viewer who joined then was started on
   * a rung its link did not carry and stepped down a second later (the e2e runs on a slow day: 640x360,
   * then 320x180 for 4 s, where a later joiner starts on 320x180 and climbs).
   */
  get rate(): number {
    const samples = this.#recentBitrates;
    if (samples.length === 0) return this.bitrate;
    const average = samples.reduce((sum, bitrate) => sum + bitrate, 0) / samples.length;
    const floor = samples.length < RATE_SECONDS ? this.bitrate : this.bitrate * MIN_SHARE_OF_TARGET;
    return Math.max(MIN_RATE, average, floor);
  }

  /** The highest of the last few seconds' rates (what a viewer must have room for to take this stream), bit/s. */
  get peakRate(): number {
    const samples = this.#recentBitrates;
    if (samples.length === 0) return this.bitrate;
    return Math.max(this.rate, ...samples);
  }

  counts(): IngestCounts {
    return { ...this.#counts };
  }

  clear(): void {
    this.#gop?.clear();
    this.track.clear();
  }
}
