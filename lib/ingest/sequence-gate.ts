/**
 * A WebRTC sender's video packets, let through in sequence order or not at all: a lost packet is waited
 * for (its NACK's retransmission comes within a round trip) while the packets after it are held; if it
 * does not come in time, what was held is dropped and the stream goes on from the next keyframe (asked
 * for). Downstream, each viewer's sender numbers packets one after the other and the GOP cache replays
 * them in arrival order: a packet let through late, or a frame with a hole, would reach viewers as a
 * broken frame. ffmpeg on loopback never loses; a publisher on Wi-Fi does.
 *
 * In order (the usual case) a packet costs one comparison.
 */
import { sequenceNumberOf } from '../rtp/rtp-packet.ts';
import { startsKeyframe } from '../rtp/rtp-payload.ts';
import type { VideoCodec } from '../types.ts';
import { sequenceDelta } from '../rtp/sequence-number.ts';

/** How long a hole is waited for: a NACK's round trip on a usual link, and a retransmission's. */
export const HOLE_WAIT_MS = 200;
/** More held than this (a long burst lost): the hole is given up at once. */
const MAX_HELD = 512;

export interface SequenceGateOptions {
  codec: VideoCodec;
  /** Packets in order (each let through once). */
  release(packet: Buffer, now: number): void;
  /** A hole was given up: the stream waits for a keyframe, which the sender should be asked for. */
  requestKeyframe(): void;
  /** How long a hole is waited for, ms (default 200). */
  holeWaitMs?: number;
}

export interface SequenceGateCounts {
  /** Holes filled in time (a retransmission, or a packet that came late), and given up. */
  recovered: number;
  givenUp: number;
  /** Packets dropped: duplicates, too late, held past a hole given up, or before a keyframe. */
  dropped: number;
}

export class SequenceGate {
  readonly #options: SequenceGateOptions;
  /** The next sequence number to let through (unwrapped); undefined before the first packet. */
  #expected: number | undefined;
  /** Packets after a hole, by unwrapped sequence number (null: a padding packet, counted, never let through). */
  readonly #held = new Map<number, Buffer | null>();
  #holeTimer: NodeJS.Timeout | undefined;
  /** After a hole was given up: nothing goes through until a keyframe starts. */
  #awaitingKeyframe = false;
  readonly counts: SequenceGateCounts = { recovered: 0, givenUp: 0, dropped: 0 };

  constructor(options: SequenceGateOptions) {
    this.#options = options;
  }

  push(packet: Buffer, now: number): void {
    this.#take(this.#unwrap(sequenceNumberOf(packet)), packet, now);
  }

  /**
   * A padding-only packet (a browser's bandwidth probe, without RTX): it takes a sequence number of the
   * stream, so it fills its place, but nothing goes on from it.
   */
  pushPadding(sequenceNumber: number, now: number): void {
    if (this.#expected === undefined || this.#awaitingKeyframe) return; // nothing to keep in order yet
    this.#take(this.#unwrap(sequenceNumber), null, now);
  }

  #take(sequence: number, packet: Buffer | null, now: number): void {
    if (this.#awaitingKeyframe) {
      if (!packet) return;
      if (!startsKeyframe(this.#options.codec, packet)) {
        this.counts.dropped++;
        return;
      }
      this.#awaitingKeyframe = false;
      this.#expected = sequence;
    }
    if (this.#expected === undefined || sequence === this.#expected) {
      this.#expected = sequence + 1;
      if (packet) this.#options.release(packet, now);
      if (this.#held.size > 0) this.#drain(now);
      return;
    }
    if (sequence < this.#expected || this.#held.has(sequence)) {
      if (packet) this.counts.dropped++; // a duplicate, or a retransmission after its hole was given up
      return;
    }
    this.#held.set(sequence, packet);
    if (this.#held.size > MAX_HELD) {
      this.#giveUp(now);
      return;
    }
    this.#holeTimer ??= setTimeout(() => this.#giveUp(Date.now()), this.#options.holeWaitMs ?? HOLE_WAIT_MS);
  }

  /** The sender restarted or changed: a new sequence space, nothing held. */
  reset(): void {
    clearTimeout(this.#holeTimer);
    this.#holeTimer = undefined;
    this.counts.dropped += this.#held.size;
    this.#held.clear();
    this.#expected = undefined;
    this.#awaitingKeyframe = false;
  }

  /** The hole is filled (or skipped): what follows it in order goes through. */
  #drain(now: number, filled = true): void {
    let next = this.#held.get(this.#expected!);
    if (next !== undefined && filled) this.counts.recovered++;
    while (next !== undefined) {
      this.#held.delete(this.#expected!);
      this.#expected!++;
      if (next) this.#options.release(next, now);
      next = this.#held.get(this.#expected!);
    }
    if (this.#held.size === 0) {
      clearTimeout(this.#holeTimer);
      this.#holeTimer = undefined;
    }
  }

  /** Too late for the hole: from the first keyframe held on, or else from the next one to come. */
  #giveUp(now: number): void {
    clearTimeout(this.#holeTimer);
    this.#holeTimer = undefined;
    if (this.#held.size === 0) return;
    this.counts.givenUp++;
    const held = [...this.#held.entries()].sort(([a], [b]) => a - b);
    this.#held.clear();
    const keyframe = held.findIndex(([, packet]) => packet !== null && startsKeyframe(this.#options.codec, packet));
    if (keyframe < 0) {
      this.counts.dropped += held.length;
      this.#awaitingKeyframe = true;
      this.#options.requestKeyframe();
      return;
    }
    this.counts.dropped += keyframe;
    // From the keyframe on, what is consecutive goes through; a further hole is waited for again.
    this.#expected = held[keyframe]![0];
    for (const [sequence, packet] of held.slice(keyframe)) this.#held.set(sequence, packet);
    this.#drain(now, false);
    if (this.#held.size > 0) this.#holeTimer ??= setTimeout(() => this.#giveUp(Date.now()), this.#options.holeWaitMs ?? HOLE_WAIT_MS);
  }

  /** The 16-bit sequence number as a counter that does not wrap (nearest to the one expected). */
  #unwrap(sequence: number): number {
    if (this.#expected === undefined) return sequence;
    return this.#expected + sequenceDelta(sequence, this.#expected);
  }
}
