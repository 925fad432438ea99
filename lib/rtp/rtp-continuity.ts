/**
 * Makes the RTP packets of successive senders (ffmpeg runs, the slate), each with its own SSRC, one
 * stream: at each new SSRC, sequence numbers carry on from the last packet, and timestamps from the last
 * one advanced by the time in between (in the stream's clock). Viewers see one stream across restarts.
 */
export class RtpContinuity {
  readonly #clockPerMs: number;
  #ssrc = 0;
  #seqOffset = 0;
  #timestampOffset = 0;
  #lastSeq = -1;
  #lastTimestamp = 0;
  #lastPacketAt = 0;

  /** @param clockRate the RTP clock: 90 000 for video, 48 000 for Opus */
  constructor(clockRate: number) {
    this.#clockPerMs = clockRate / 1000;
  }

  /** Rewrites the sequence number and timestamp of `packet` (a serialized RTP packet) in place. */
  rewrite(packet: Buffer, now = Date.now()): void {
    const ssrc = packet.readUInt32BE(8);
    if (this.#ssrc !== ssrc) {
      // First packet of this sender: continue where the last one stopped, advanced by the time between.
      const seq = packet.readUInt16BE(2);
      const timestamp = packet.readUInt32BE(4);
      if (this.#lastSeq < 0) {
        this.#seqOffset = 0;
        this.#timestampOffset = 0;
      } else {
        const gap = Math.max(1, Math.round((now - this.#lastPacketAt) * this.#clockPerMs));
        this.#seqOffset = (this.#lastSeq + 1 - seq) & 0xffff;
        this.#timestampOffset = (this.#lastTimestamp + gap - timestamp) >>> 0;
      }
      this.#ssrc = ssrc;
    }
    const seq = (packet.readUInt16BE(2) + this.#seqOffset) & 0xffff;
    const timestamp = (packet.readUInt32BE(4) + this.#timestampOffset) >>> 0;
    packet.writeUInt16BE(seq, 2);
    packet.writeUInt32BE(timestamp, 4);
    this.#lastSeq = seq;
    this.#lastTimestamp = timestamp;
    this.#lastPacketAt = now;
  }
}
