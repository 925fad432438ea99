/**
 * A WebRTC sender (a WHIP publisher, a WHEP origin) feeding the ladder's streams: its video layers through
 * the layer router, its Opus into the audio stream, viewers' keyframe requests back to it. Whether its
 * picture flows is the source's news: "No Input" (the slate) while it does not, once it has delivered.
 */
import { EventEmitter } from 'node:events';
import type { IngestStream } from '../../ingest/ingest-stream.ts';
import { SequenceGate, type SequenceGateCounts } from '../../ingest/sequence-gate.ts';
import { ssrcOf } from '../../rtp/rtp-packet.ts';
import type { Logger } from '../../logger.ts';
import type { PictureSize, VideoCodec } from '../../types.ts';
import type { Slate } from '../slate.ts';
import { LayerRouter, type LayerStats } from './layer-router.ts';
import type { RemotePeer } from './remote-peer.ts';

/** A sender whose picture stopped this long is down: the state and the slate say so. */
export const MEDIA_STALL_MS = 3_000;

export interface RemoteFeedSettings {
  codec: VideoCodec;
  gop: number;
  framerate: number | undefined;
  enableInfiniteFrames: boolean;
}

/** The streams a feed writes: the ladder's, top first, and the audio. */
export interface FeedStreams {
  videos: readonly IngestStream[];
  audio: IngestStream;
}

export interface RemoteFeedStats {
  layers: LayerStats[];
  /** Keyframe requests sent to the sender (viewers', ours), and viewers' held back by the rate limit. */
  keyframeRequests: { sent: number; suppressed: number };
  /** Its video's holes (lost packets) filled in time by retransmissions, given up (then from a keyframe), and packets dropped. */
  losses: SequenceGateCounts;
}

export class RemoteFeed extends EventEmitter<{ flowing: [boolean] }> {
  readonly #settings: RemoteFeedSettings;
  readonly #streams: FeedStreams;
  readonly #slate: Slate;
  readonly #logger: Logger;
  readonly #router: LayerRouter;
  /** Per layer: its packets in order (the SSRC they are numbered under). */
  readonly #gates = new Map<string, { ssrc: number; gate: SequenceGate }>();
  readonly #losses: SequenceGateCounts = { recovered: 0, givenUp: 0, dropped: 0 };
  #peer: RemotePeer | undefined;
  #flowing = false;
  #everDelivered = false;
  #lastVideoAt = 0;

  constructor(settings: RemoteFeedSettings, streams: FeedStreams, slate: Slate, logger: Logger) {
    super();
    this.#settings = settings;
    this.#streams = streams;
    this.#slate = slate;
    this.#logger = logger;
    this.#router = new LayerRouter({
      codec: settings.codec,
      streams: streams.videos.length,
      gop: settings.gop,
      deliver: (index, packet, now) => this.#deliver(index, packet, now),
      requestKeyframe: (ssrc) => this.#peer?.requestKeyframe(ssrc),
    });
    streams.videos.forEach((stream, index) => {
      stream.keyframeRequester = () => this.#router.requestKeyframe(index, Date.now());
    });
  }

  /** Whether the sender's picture reaches the streams now. */
  get flowing(): boolean {
    return this.#flowing;
  }

  get everDelivered(): boolean {
    return this.#everDelivered;
  }

  get peer(): RemotePeer | undefined {
    return this.#peer;
  }

  /** The sender from now on (the previous one, if any, no longer feeds anything: its owner closes it). */
  attach(peer: RemotePeer): void {
    if (this.#peer) this.#peer.handlers = undefined;
    this.#peer = peer;
    this.#reset(); // the streams change to the new sender's layers at their first keyframes
    peer.handlers = {
      video: (layer, packet, now) => this.#gate(layer, ssrcOf(packet)).push(packet, now),
      padding: (layer, ssrc, sequenceNumber, now) => this.#gate(layer, ssrc).pushPadding(sequenceNumber, now),
      audio: (packet) => this.#streams.audio.push(packet),
    };
  }

  /** `peer` is gone: nothing flows until the next one. */
  detach(peer: RemotePeer): void {
    if (peer !== this.#peer) return;
    peer.handlers = undefined;
    this.#peer = undefined;
    this.#reset();
    this.#setFlowing(false);
  }

  /** Once a second: rates; a picture that stopped is down (the streams then wait for a keyframe). */
  watch(now = Date.now()): void {
    this.#router.sample(now);
    if (this.#flowing && now - this.#lastVideoAt > MEDIA_STALL_MS) {
      this.#logger.info(`no picture from the WebRTC sender for ${MEDIA_STALL_MS} ms`);
      this.#reset(); // when it comes back, from a keyframe (asked for), not mid-picture after the slate
      this.#setFlowing(false);
    }
  }

  stats(): RemoteFeedStats {
    const losses = { ...this.#losses };
    for (const { gate } of this.#gates.values()) {
      losses.recovered += gate.counts.recovered;
      losses.givenUp += gate.counts.givenUp;
      losses.dropped += gate.counts.dropped;
    }
    return { layers: this.#router.stats(), keyframeRequests: this.#router.keyframeRequests, losses };
  }

  /** Layer `layer`'s gate, a new one when its SSRC changed (a restarted encoder numbers afresh). */
  #gate(layer: string, ssrc: number): SequenceGate {
    let entry = this.#gates.get(layer);
    if (entry?.ssrc !== ssrc) {
      if (entry) this.#retire(entry.gate);
      const gate = new SequenceGate({
        codec: this.#settings.codec,
        release: (packet, now) => {
          this.#lastVideoAt = now;
          this.#router.push(layer, packet, now);
        },
        requestKeyframe: () => this.#router.requestLayerKeyframe(layer, Date.now()),
      });
      entry = { ssrc, gate };
      this.#gates.set(layer, entry);
    }
    return entry.gate;
  }

  /** A gate no longer used: its timer stopped, its counts kept. */
  #retire(gate: SequenceGate): void {
    gate.reset();
    this.#losses.recovered += gate.counts.recovered;
    this.#losses.givenUp += gate.counts.givenUp;
    this.#losses.dropped += gate.counts.dropped;
  }

  #reset(): void {
    for (const { gate } of this.#gates.values()) this.#retire(gate);
    this.#gates.clear();
    this.#router.reset();
  }

  #deliver(index: number, packet: Buffer, now: number): void {
    if (!this.#flowing) this.#setFlowing(true); // the slate stops before the picture goes on
    this.#streams.videos[index]!.push(packet, now);
  }

  #setFlowing(flowing: boolean): void {
    if (this.#flowing === flowing) return;
    this.#flowing = flowing;
    if (flowing) {
      this.#everDelivered = true;
      if (this.#slate.showing) this.#slate.hide();
    } else if (this.#everDelivered && this.#settings.enableInfiniteFrames) {
      this.#slate.show('No Input', this.#pictureSize(), this.#settings.framerate ?? 30);
    }
    this.emit('flowing', flowing);
  }

  /** The size viewers were watching (the top stream's last keyframe), for the slate. */
  #pictureSize(): PictureSize {
    return this.#streams.videos[0]?.pictureSize ?? { width: 1280, height: 720 };
  }
}
