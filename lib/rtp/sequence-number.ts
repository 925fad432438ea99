/**
 * RTP's 16-bit sequence numbers wrap (RFC 3550 §A.1; transport-cc's too): which of two is newer, and by how
 * many, is read from the shorter way round.
 */

/** How far `seq` is ahead of `reference` (negative: behind), in [−32768, 32767]; half the circle away counts as behind. */
export function sequenceDelta(seq: number, reference: number): number {
  return ((((seq - reference) & 0xffff) + 0x8000) & 0xffff) - 0x8000;
}
