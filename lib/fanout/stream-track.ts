/**
 * The fan-out: one outgoing stream, many viewers, in the shape of pion's TrackLocalStaticRTP. Every packet
 * is written once and handed to every binding (a viewer's sender), which sends it as that viewer's. A new
 * binding first gets the packets since the last keyframe, so it decodes a picture at once.
 */
import type { RtpSink } from '../sender/rtp-sink.ts';
import { NativeFanout, type LaneBinding } from './native-fanout.ts';

/** What a joiner is given before the live packets: the current group of pictures, ready to send. */
export interface Replay {
  /** The packets, their frames' timestamps squeezed to how fast they will leave (`bitrate`, bit/s; default: at once). */
  replay(bitrate?: number): Buffer[];
  /** Its size in bytes, and when its keyframe arrived (ms since 1970; 0: none held). */
  readonly bytes: number;
  readonly keyframeAt: number;
}

/** One rung of the ladder as the fan-out offers it: a track, and what it sends. */
export interface Rendition {
  readonly track: StreamTrack;
  /** Its target bitrate, bit/s. */
  readonly bitrate: number;
  /**
   * What it takes now, bit/s: what it really sent lately (a simple picture sends far below its target,
   * a busy one may send above it).
   */
  readonly rate: number;
  /** The highest of its recent per-second rates, bit/s: what a viewer needs room for before it switches to it. */
  readonly peakRate: number;
  /**
   * A viewer of this rendition lost its picture: asks the rendition's sender for a keyframe, where it can
   * be asked (a WebRTC publisher or origin; the ffmpeg CLI cannot). Rate-limited by the sender's side.
   */
  requestKeyframe?(): void;
}

export class StreamTrack {
  readonly kind: 'audio' | 'video';
  readonly #bindings = new Set<RtpSink>();
  readonly #joinWith: Replay | undefined;
  /** The steady viewers whose packets C numbers and queues (native-fanout.ts); made at the first. */
  #lanes: NativeFanout | undefined;

  constructor(kind: 'audio' | 'video', joinWith?: Replay) {
    this.kind = kind;
    this.#joinWith = joinWith;
  }

  /** Sinks and lanes bound. */
  get bindingCount(): number {
    return this.#bindings.size + (this.#lanes?.size ?? 0);
  }

  /** The group of pictures a joiner would be given now (video), if any. */
  get gop(): Replay | undefined {
    return this.#joinWith;
  }

  /**
   * Starts sending to `sink`: the GOP first (video; unless `replay` is false, for a sink that waits for the
   * next keyframe), timed for a sink that sends it at `replayBitrate` (bit/s; default: at once), then every
   * packet written. Binding twice is a no-op.
   */
  bind(sink: RtpSink, { replay = true, replayBitrate }: { replay?: boolean; replayBitrate?: number } = {}): void {
    if (this.#bindings.has(sink)) return;
    if (replay) for (const packet of this.#joinWith?.replay(replayBitrate) ?? []) sink.send(packet);
    this.#bindings.add(sink);
  }

  unbind(sink: RtpSink): void {
    this.#bindings.delete(sink);
  }

  /**
   * Sends every packet written from now on through a steady viewer's lane, in C (no replay: the viewer
   * carries on from its sink, which the caller unbinds). `vp8`: the packets carry VP8 payload descriptors.
   */
  bindLane(lane: LaneBinding, vp8: boolean): void {
    this.#lanes ??= new NativeFanout(vp8);
    this.#lanes.add(lane);
  }

  unbindLane(lane: LaneBinding): void {
    this.#lanes?.remove(lane);
  }

  /** One packet to every binding and lane; they all read the same buffer and never change it. */
  write(packet: Buffer): void {
    for (const sink of this.#bindings) sink.send(packet);
    this.#lanes?.write(packet);
  }

  clear(): void {
    this.#bindings.clear();
    this.#lanes?.clear();
  }
}
