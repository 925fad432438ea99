/**
 * A WebRTC sender's video layers (one, or a browser's simulcast encodings) as the ladder's streams, top
 * first: the layers that have sent a keyframe and are still sending are ordered by picture size (their last
 * keyframe's), then by bitrate; stream i takes layer i, or the lowest one when there are fewer layers than
 * streams. A stream changes layer only at the new layer's keyframe (asked for at once), so every stream
 * stays decodable; its IngestStream makes the change one continuous stream.
 *
 * Layers come and go: a browser starts with its lowest layer and adds the others as its estimate grows,
 * pauses them when it falls, and a new publisher brings new ones. A layer silent for INACTIVE_MS is no
 * longer used; it must send a keyframe to be used again.
 */
import { KeyframeRequests } from '../../ingest/keyframe-requests.ts';
import { hasMarker, ssrcOf } from '../../rtp/rtp-packet.ts';
import { rtpPictureSize, startsKeyframe } from '../../rtp/rtp-payload.ts';
import type { PictureSize, VideoCodec } from '../../types.ts';

/** A layer that sent nothing for this long is not used (a browser paused it, or it is gone). */
export const INACTIVE_MS = 1_500;

export interface LayerRouterOptions {
  codec: VideoCodec;
  /** How many streams the ladder has. */
  streams: number;
  /**
   * Frames after a keyframe past which the next one is asked for (the `gop` option): browsers send
   * keyframes only when asked, and joiners replay the packets since the last one. 0: never asked for that.
   */
  gop: number;
  /** Hands `packet` to stream `index`: a buffer of its own (the stream rewrites it in place). */
  deliver(index: number, packet: Buffer, now: number): void;
  /** Asks the sender for a keyframe of `ssrc` (already rate-limited here). */
  requestKeyframe(ssrc: number): void;
}

export interface LayerStats {
  /** The layer's name: its RID (simulcast), or the track's. */
  id: string;
  ssrc: number;
  width: number | undefined;
  height: number | undefined;
  /** Over the last second. */
  bitrate: number;
  framesPerSecond: number;
  /** The streams (rungs, 0: top) it feeds now. */
  streams: number[];
}

interface Layer {
  id: string;
  ssrc: number;
  size: PictureSize | undefined;
  /** Sent a keyframe since it (re)started: a decoder can start from it. */
  keyframed: boolean;
  lastPacketAt: number;
  framesSinceKeyframe: number;
  bytes: number;
  frames: number;
  bytesAtSample: number;
  framesAtSample: number;
  bitrate: number;
  framesPerSecond: number;
}

const area = (layer: Layer): number => (layer.size ? layer.size.width * layer.size.height : 0);

export class LayerRouter {
  readonly #options: LayerRouterOptions;
  readonly #layers = new Map<string, Layer>();
  /** Per stream: the layer it is fed from, and the one it changes to at that layer's next keyframe. */
  readonly #current: Array<Layer | undefined>;
  readonly #pending: Array<Layer | undefined>;
  readonly #requests = new KeyframeRequests<string>();

  constructor(options: LayerRouterOptions) {
    this.#options = options;
    this.#current = new Array<Layer | undefined>(options.streams).fill(undefined);
    this.#pending = new Array<Layer | undefined>(options.streams).fill(undefined);
  }

  /** Keyframe requests sent upstream, and those held back by the rate limit. */
  get keyframeRequests(): { sent: number; suppressed: number } {
    return { sent: this.#requests.sent, suppressed: this.#requests.suppressed };
  }

  /** One packet of layer `id` (a fresh buffer, given away). Returns whether a stream took it. */
  push(id: string, packet: Buffer, now: number): boolean {
    const layer = this.#layer(id, ssrcOf(packet), now);
    layer.lastPacketAt = now;
    layer.bytes += packet.length;
    const keyframe = startsKeyframe(this.#options.codec, packet);
    let reassigned = false;
    if (keyframe) {
      layer.framesSinceKeyframe = 0;
      const size = rtpPictureSize(this.#options.codec, packet) ?? layer.size;
      const resized = size?.width !== layer.size?.width || size?.height !== layer.size?.height;
      layer.size = size;
      if (!layer.keyframed || resized) {
        layer.keyframed = true;
        reassigned = this.#assign(now);
      }
    }
    if (hasMarker(packet)) {
      layer.frames++;
      layer.framesSinceKeyframe++;
    }
    let taken = false;
    for (let index = 0; index < this.#current.length; index++) {
      if (keyframe && this.#pending[index] === layer) {
        this.#current[index] = layer;
        this.#pending[index] = undefined;
      }
      if (this.#current[index] !== layer) continue;
      this.#options.deliver(index, taken ? Buffer.from(packet) : packet, now);
      taken = true;
    }
    // Streams still waiting for another layer's keyframe ask for it (this packet was not it); a layer
    // without a keyframe yet (after a stall, a restarted encoding) is asked for one.
    if (reassigned) this.#requestPending(now);
    if (!layer.keyframed && this.#requests.due(layer.id, now)) this.#request(layer, now);
    const { gop } = this.#options;
    if (taken && gop > 0 && layer.framesSinceKeyframe > gop && this.#requests.due(layer.id, now)) this.#request(layer, now);
    return taken;
  }

  /** A viewer of stream `index` lost its picture: the layer it is fed from (or about to be) is asked for a keyframe. */
  requestKeyframe(index: number, now: number): void {
    const layer = this.#pending[index] ?? this.#current[index];
    if (layer) this.#request(layer, now);
  }

  /** Layer `id` needs a keyframe (its packets were lost): asked for, within the rate limit. */
  requestLayerKeyframe(id: string, now: number): void {
    const layer = this.#layers.get(id);
    if (layer) this.#request(layer, now);
  }

  /** Once a second: the rates; layers gone silent are no longer used; keyframes still awaited are asked for again. */
  sample(now: number): void {
    let silenced = false;
    for (const layer of this.#layers.values()) {
      layer.bitrate = (layer.bytes - layer.bytesAtSample) * 8;
      layer.framesPerSecond = layer.frames - layer.framesAtSample;
      layer.bytesAtSample = layer.bytes;
      layer.framesAtSample = layer.frames;
      if (layer.keyframed && now - layer.lastPacketAt >= INACTIVE_MS) {
        layer.keyframed = false;
        silenced = true;
      }
    }
    if (silenced) this.#assign(now);
    this.#requestPending(now);
  }

  /** The sender is gone: its layers are forgotten; the streams wait for the next sender's keyframes. */
  reset(): void {
    for (const id of this.#layers.keys()) this.#requests.forget(id);
    this.#layers.clear();
    this.#current.fill(undefined);
    this.#pending.fill(undefined);
  }

  stats(): LayerStats[] {
    return [...this.#layers.values()].map((layer) => ({
      id: layer.id,
      ssrc: layer.ssrc,
      width: layer.size?.width,
      height: layer.size?.height,
      bitrate: layer.bitrate,
      framesPerSecond: layer.framesPerSecond,
      streams: this.#current.flatMap((current, index) => (current === layer ? [index] : [])),
    }));
  }

  #layer(id: string, ssrc: number, now: number): Layer {
    let layer = this.#layers.get(id);
    if (!layer) {
      layer = {
        id, ssrc, size: undefined, keyframed: false, lastPacketAt: now, framesSinceKeyframe: 0,
        bytes: 0, frames: 0, bytesAtSample: 0, framesAtSample: 0, bitrate: 0, framesPerSecond: 0,
      };
      this.#layers.set(id, layer);
    } else if (layer.ssrc !== ssrc) {
      // The sender restarted this encoding: its streams wait for its keyframe (no delta of a new encoder).
      layer.ssrc = ssrc;
      layer.keyframed = false;
      this.#current.forEach((current, index) => {
        if (current !== layer) return;
        this.#current[index] = undefined;
        this.#pending[index] = layer;
      });
    }
    return layer;
  }

  /** Which layer each stream should have; a stream whose layer changes waits for the new one's keyframe. */
  #assign(now: number): boolean {
    const usable = [...this.#layers.values()]
      .filter((layer) => layer.keyframed && now - layer.lastPacketAt < INACTIVE_MS)
      .sort((a, b) => area(b) - area(a) || b.bitrate - a.bitrate || a.id.localeCompare(b.id));
    if (usable.length === 0) return false; // nothing to change to: the streams keep what they had
    for (let index = 0; index < this.#current.length; index++) {
      const wanted = usable[Math.min(index, usable.length - 1)]!;
      this.#pending[index] = wanted === this.#current[index] ? undefined : wanted;
    }
    return true;
  }

  #requestPending(now: number): void {
    for (const layer of new Set(this.#pending)) if (layer) this.#request(layer, now);
  }

  #request(layer: Layer, now: number): void {
    if (this.#requests.allow(layer.id, now)) this.#options.requestKeyframe(layer.ssrc);
  }
}
