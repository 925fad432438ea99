/**
 * A viewer's own bytes in a payload every viewer shares (one buffer, many bindings): 1 or 2 bytes at an
 * offset, as one 32-bit number so that it costs the send path nothing to carry (lib/native/payload-patch.h
 * reads the same layout): bits 24-25 the length (0: no patch), 16-23 the offset in the payload, 0-15 the
 * bytes, big-endian. What it is for: the VP8 PictureID, numbered per viewer (lib/sender/picture-ids.ts).
 */
export type PayloadPatch = number;

export const NO_PATCH: PayloadPatch = 0;

/** A patch of `length` (1 or 2) bytes at `offset` (0–255) in the payload, holding `value`. */
export function payloadPatch(offset: number, length: 1 | 2, value: number): PayloadPatch {
  return ((length << 24) | ((offset & 0xff) << 16) | (value & (length === 2 ? 0xffff : 0xff))) >>> 0;
}

/** A copy of `payload` with `patch` written into it (the JavaScript send path; C writes into its own copy). */
export function patchedPayload(payload: Buffer, patch: PayloadPatch): Buffer {
  const length = (patch >>> 24) & 3;
  if (length === 0) return payload;
  const offset = (patch >>> 16) & 0xff;
  if (offset + length > payload.length) throw new RangeError(`payload patch at ${offset} (${length} bytes) past a ${payload.length}-byte payload`);
  const copy = Buffer.from(payload);
  if (length === 2) copy.writeUInt16BE(patch & 0xffff, offset);
  else copy[offset] = patch & 0xff;
  return copy;
}
