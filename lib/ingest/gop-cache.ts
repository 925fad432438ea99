import type { VideoCodec } from '../types.ts';
import { startsKeyframe } from '../rtp/rtp-payload.ts';
import { RTP_TIMESTAMP_OFFSET, VIDEO_CLOCK_RATE } from '../rtp/rtp-packet.ts';

/** A group of pictures longer than this is not cached (a source with rare keyframes): memory stays bounded. */
const MAX_CACHED_BYTES = 4 * 1024 * 1024;

/**
 * The RTP packets since the last keyframe: what a viewer who joins now needs to decode the current
 * picture at once, instead of waiting up to a whole GOP for the encoder's next keyframe (the ffmpeg CLI
 * cannot be asked for one, and a passthrough source's keyframes are its own).
 */
export class GopCache {
  readonly #codec: VideoCodec;
  #packets: Buffer[] = [];
  #bytes = 0;
  #keyframeTimestamp = -1;
  #keyframeAt = 0;

  constructor(codec: VideoCodec) {
    this.#codec = codec;
  }

  /** Packets held now. */
  get size(): number {
    return this.#packets.length;
  }

  /** Bytes held now: what a replay sends. */
  get bytes(): number {
    return this.#bytes;
  }

  /** When the keyframe that starts the group arrived (ms since 1970); 0 when none is held. */
  get keyframeAt(): number {
    return this.#packets.length > 0 ? this.#keyframeAt : 0;
  }

  /** Takes one packet of the outgoing stream (already renumbered), in order. */
  push(packet: Buffer): void {
    const timestamp = packet.readUInt32BE(RTP_TIMESTAMP_OFFSET);
    // An H.264 keyframe's SPS, PPS and IDR packets share one timestamp: the first of them starts the group.
    if (startsKeyframe(this.#codec, packet) && timestamp !== this.#keyframeTimestamp) {
      this.#packets = [];
      this.#bytes = 0;
      this.#keyframeTimestamp = timestamp;
      this.#keyframeAt = Date.now();
    } else if (this.#packets.length === 0) {
      return; // no keyframe yet: nothing a decoder could start from
    }
    if (this.#bytes + packet.length > MAX_CACHED_BYTES) {
      this.clear();
      return;
    }
    this.#packets.push(packet);
    this.#bytes += packet.length;
  }

  clear(): void {
    this.#packets = [];
    this.#bytes = 0;
    this.#keyframeTimestamp = -1;
  }

  /**
   * Copies of the cached packets for one new viewer. Their frames' timestamps are squeezed to end at
   * the newest one: the browser shows the newest picture as soon as it has it, rather than playing the
   * last second again and staying that late. Each frame is as far from the one before it as it takes to
   * send at `bitrate` (bit/s; at least 1 tick), so that frames arrive when their timestamps say. Squeezed
   * to 1 tick each, a GOP paced over a real link (0.3–2 s) arrived ever later than its timestamps; Chromium
   * took its frames for late, dropped some and then every one after them until the next keyframe: frozen
   * 0.2–1.3 s just after the first picture in 4 of 6 joins over 40 ms RTT.
   */
  replay(bitrate = Number.POSITIVE_INFINITY): Buffer[] {
    const packets = this.#packets.map((packet) => Buffer.from(packet));
    if (packets.length === 0) return packets;
    // Each frame's bytes, in order (its packets share one timestamp).
    const frames: Array<{ timestamp: number; bytes: number }> = [];
    for (const packet of packets) {
      const timestamp = packet.readUInt32BE(RTP_TIMESTAMP_OFFSET);
      if (frames.at(-1)?.timestamp !== timestamp) frames.push({ timestamp, bytes: 0 });
      frames.at(-1)!.bytes += packet.length;
    }
    const squeezed = new Map<number, number>();
    let timestamp = packets.at(-1)!.readUInt32BE(RTP_TIMESTAMP_OFFSET);
    for (let i = frames.length - 1; i >= 0; i--) {
      squeezed.set(frames[i]!.timestamp, timestamp);
      // The frame after this one arrives this much later.
      timestamp = (timestamp - Math.max(1, Math.round(((frames[i]!.bytes * 8) / bitrate) * VIDEO_CLOCK_RATE))) >>> 0;
    }
    for (const packet of packets) packet.writeUInt32BE(squeezed.get(packet.readUInt32BE(RTP_TIMESTAMP_OFFSET))!, RTP_TIMESTAMP_OFFSET);
    return packets;
  }
}
