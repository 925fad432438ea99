/**
 * The fan-out's C side for one rendition: its steady viewers as lanes (lib/native/lane.h), every packet
 * numbered and queued for all of them in one call into C (lib/native/fanout.h), where each would otherwise
 * run its JavaScript sender per packet (about 5 µs each: docs/benchmarks.md). A lane that cannot take a
 * packet (its viewer's context or socket gone, the send queue stuck) is handed back with that packet, and
 * every half second each lane's owner checks what C cannot see (werift's state: DTLS, ICE consent,
 * the selected pair).
 */
import { nativeSendBatch, nativeSrtp } from '../native/index.ts';

/** A viewer's lane as the fan-out holds it (lib/sender/native-lane.ts). */
export interface LaneBinding {
  /** The addon's lane. */
  readonly handle: object;
  /** Whether the lane refused a packet and waits to be taken back. */
  readonly refused: boolean;
  /** The lane refused `packet`: its owner takes the viewer back and sends it. */
  onRefused(packet: Buffer): void;
  /** Every LANE_CHECK_MS: the owner takes the viewer back if it should not be sent to from C any more. */
  check(nowMs: number): void;
}

/**
 * How often the owners check their lanes. What they read changes over seconds (ICE consent lasts 30 s, RFC
 * 7675); every 20 ms, as the JavaScript path reads it, was 2 % of the thread with 300 viewers. A check
 * costs ~6 µs (werift's objects for the viewer, out of the cache by then): every 100 ms it was 31 ms of
 * the JavaScript thread a second with 600 viewers, 0.18 µs per packet sent of the 720p stream.
 */
const LANE_CHECK_MS = 500;

export class NativeFanout {
  readonly #group: object;
  readonly #lanes = new Set<LaneBinding>();
  /**
   * The checks are spread over the packets, a few lanes each, so that each lane is checked once every
   * LANE_CHECK_MS: all at once they held up the packet behind them (6 ms at 1000 viewers). `#round` is the
   * lanes in the order they are checked (taken afresh at each round), `#next` the next to check, `#due` how
   * many may be checked now (fractional).
   */
  #round: LaneBinding[] = [];
  #next = 0;
  #due = 0;
  #checkedAtMs: number | undefined;

  /** `vp8`: the rendition's packets carry VP8 payload descriptors (PictureIDs numbered per viewer). */
  constructor(vp8: boolean) {
    this.#group = nativeSrtp!.fanoutGroup(vp8);
  }

  get size(): number {
    return this.#lanes.size;
  }

  has(lane: LaneBinding): boolean {
    return this.#lanes.has(lane);
  }

  add(lane: LaneBinding): void {
    nativeSrtp!.fanoutAdd(this.#group, lane.handle);
    this.#lanes.add(lane);
  }

  remove(lane: LaneBinding): void {
    if (!this.#lanes.delete(lane)) return;
    nativeSrtp!.fanoutRemove(lane.handle);
    if (this.#lanes.size === 0) this.#round = [];
  }

  clear(): void {
    for (const lane of this.#lanes) nativeSrtp!.fanoutRemove(lane.handle);
    this.#lanes.clear();
    this.#round = [];
  }

  /** One packet to every lane. */
  write(packet: Buffer): void {
    if (this.#lanes.size === 0) return;
    // What JavaScript queued for a viewer just before it went to C leaves first.
    nativeSendBatch?.flush();
    const now = performance.now();
    const refused = nativeSrtp!.fanoutWrite(this.#group, packet, now, performance.timeOrigin + now);
    if (refused > 0) {
      for (const lane of [...this.#lanes]) if (lane.refused) lane.onRefused(packet);
    }
    this.#check(now);
  }

  /** Checks the lanes due at `now`. */
  #check(now: number): void {
    const size = this.#lanes.size;
    // A round's worth per LANE_CHECK_MS gone by (a lane was checked as it entered: none is due at once).
    const elapsed = now - (this.#checkedAtMs ?? now);
    this.#due = Math.min(size, this.#due + (size * elapsed) / LANE_CHECK_MS);
    this.#checkedAtMs = now;
    while (this.#due >= 1) {
      if (this.#next >= this.#round.length) {
        this.#round = [...this.#lanes];
        this.#next = 0;
        if (this.#round.length === 0) break;
      }
      const lane = this.#round[this.#next++]!;
      this.#due -= 1;
      // One that left since the round began is not the fan-out's to check.
      if (this.#lanes.has(lane)) lane.check(now);
    }
  }
}
