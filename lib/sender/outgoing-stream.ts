/**
 * One viewer's continuous RTP stream over whatever it is fed in turn (one rendition, then another; a GOP
 * replayed after a picture loss): its own sequence numbers, one after the other, and its own timestamps,
 * which carry on across a switch by the time that passed (as ingest's RtpContinuity does across ffmpeg
 * runs, but per viewer, since viewers switch at different moments).
 */
import { VIDEO_CLOCK_RATE } from '../rtp/rtp-packet.ts';

const CLOCK_PER_MS = VIDEO_CLOCK_RATE / 1000;

export class OutgoingStream {
  #nextSeq: number;
  #timestampOffset = 0;
  #lastTimestamp = 0;
  #lastAtMs = 0;
  #started = false;

  constructor(firstSeq = Math.floor(Math.random() * 0x8000)) {
    this.#nextSeq = firstSeq;
  }

  /** The sequence number the next packet gets. */
  get nextSequenceNumber(): number {
    return this.#nextSeq & 0xffff;
  }

  /** The source's timestamp plus this (mod 2^32) is the viewer's, under the current rebase. */
  get timestampOffset(): number {
    return this.#timestampOffset;
  }

  /** When the last media packet came (performance.now()), which the next rebase measures from. */
  get lastAtMs(): number {
    return this.#lastAtMs;
  }

  /**
   * Carries on from where a numbering kept elsewhere left it (a viewer's lane in C: native-lane.ts): the
   * next sequence number, the timestamp offset, the last timestamp and when its packet came.
   */
  resume(nextSeq: number, timestampOffset: number, lastTimestamp: number, lastAtMs: number): void {
    this.#nextSeq = nextSeq & 0xffff;
    this.#timestampOffset = timestampOffset >>> 0;
    this.#lastTimestamp = lastTimestamp >>> 0;
    this.#lastAtMs = lastAtMs;
    this.#started = true;
  }

  /** The timestamp of the last packet mapped, in the viewer's timeline. */
  get lastTimestamp(): number {
    return this.#lastTimestamp;
  }

  /**
   * A new source from the next packet on (its first packet has timestamp `firstTimestamp` in its own
   * timeline, and came at `nowMs`): it continues this stream's timeline, one tick or the time that passed
   * between the last packet's coming and its own.
   */
  rebase(firstTimestamp: number, nowMs: number): void {
    if (!this.#started) {
      this.#timestampOffset = 0;
      return;
    }
    const gap = Math.max(1, Math.round((nowMs - this.#lastAtMs) * CLOCK_PER_MS));
    this.#timestampOffset = (this.#lastTimestamp + gap - firstTimestamp) >>> 0;
  }

  /** The viewer's timestamp for a source timestamp (under the current rebase). */
  timestampFor(sourceTimestamp: number): number {
    return (sourceTimestamp + this.#timestampOffset) >>> 0;
  }

  /**
   * Takes the next sequence number for a packet whose viewer timestamp is `timestamp`, from the source at
   * `atMs` (a media packet: when it came, which the next rebase measures from); without `atMs` (padding)
   * the timeline's clock stays where it was.
   */
  take(timestamp: number, atMs?: number): number {
    this.#started = true;
    this.#lastTimestamp = timestamp;
    if (atMs !== undefined) this.#lastAtMs = atMs;
    const seq = this.#nextSeq & 0xffff;
    this.#nextSeq = (this.#nextSeq + 1) & 0xffff;
    return seq;
  }
}
