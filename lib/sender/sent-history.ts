/**
 * What a viewer's sender sent from JavaScript, by sequence number (mod `size`): the packet, its timestamp,
 * its payload patch (the viewer's VP8 PictureID) and when it left, for repairs. A viewer in its lane is sent
 * from C, whose own history answers for what it sent; so the sender makes one of these only when it sends
 * from JavaScript and drops it once the lane has taken over (lib/sender/direct-sender.ts's releaseHistory()):
 * 28 kB a viewer at the default size, 8 kB of them slots the garbage collector scans at every full collection.
 */

/** The fields of one packet in the history (one object reused by `find()`: read it before the next call). */
export interface SentEntry {
  packet: Buffer;
  seq: number;
  timestamp: number;
  patch: number;
  /** When it was last sent, ms since 1970. */
  sentAtMs: number;
}

export class SentHistory {
  readonly #packets: (Buffer | undefined)[];
  readonly #seq: Int32Array;
  readonly #timestamp: Uint32Array;
  readonly #patch: Uint32Array;
  readonly #sentAt: Float64Array;
  readonly #mask: number;
  readonly #found: SentEntry = { packet: Buffer.alloc(0), seq: 0, timestamp: 0, patch: 0, sentAtMs: 0 };

  /** `size`: how many packets it keeps, a power of two. */
  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1 || (size & (size - 1)) !== 0) throw new RangeError(`size must be a power of two, got ${size}`);
    this.#packets = new Array<Buffer | undefined>(size).fill(undefined);
    this.#seq = new Int32Array(size).fill(-1);
    this.#timestamp = new Uint32Array(size);
    this.#patch = new Uint32Array(size);
    this.#sentAt = new Float64Array(size);
    this.#mask = size - 1;
  }

  /** Keeps `packet`, sent as `seq` with `timestamp` and `patch` at `sentAtMs` (ms since 1970), in its slot. */
  remember(packet: Buffer, seq: number, timestamp: number, patch: number, sentAtMs: number): void {
    const slot = seq & this.#mask;
    this.#packets[slot] = packet;
    this.#seq[slot] = seq;
    this.#timestamp[slot] = timestamp;
    this.#patch[slot] = patch;
    this.#sentAt[slot] = sentAtMs;
  }

  /** Packet `seq`, or undefined when a later one took its slot (or none was kept). */
  find(seq: number): Readonly<SentEntry> | undefined {
    const slot = seq & this.#mask;
    const packet = this.#packets[slot];
    if (!packet || this.#seq[slot] !== seq) return undefined;
    const found = this.#found;
    found.packet = packet;
    found.seq = seq;
    found.timestamp = this.#timestamp[slot]!;
    found.patch = this.#patch[slot]!;
    found.sentAtMs = this.#sentAt[slot]!;
    return found;
  }

  /** Packet `seq` (found) was sent again at `sentAtMs`. */
  resent(seq: number, sentAtMs: number): void {
    const slot = seq & this.#mask;
    if (this.#seq[slot] === seq) this.#sentAt[slot] = sentAtMs;
  }

  /** The bytes its slots take (not the packets, which the stream's other viewers share). */
  get bytes(): number {
    return this.#packets.length * 8 + this.#seq.byteLength + this.#timestamp.byteLength + this.#patch.byteLength + this.#sentAt.byteLength;
  }
}
