/** lib/rtp/payload-patch.ts: a viewer's bytes written into its copy of a shared payload, never into the shared one. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NO_PATCH, patchedPayload, payloadPatch } from '../../../../lib/rtp/payload-patch.ts';
import { vp8PictureIdField } from '../../../../lib/rtp/rtp-payload.ts';

test('a patch is one number: length, offset and bytes; applied to a copy', () => {
  const shared = Buffer.from([0x90, 0x80, 0x80, 0x05, 0xaa, 0xbb]);
  const two = patchedPayload(shared, payloadPatch(2, 2, 0x8123));
  assert.deepEqual([...two], [0x90, 0x80, 0x81, 0x23, 0xaa, 0xbb]);
  const one = patchedPayload(shared, payloadPatch(2, 1, 0x7e));
  assert.deepEqual([...one], [0x90, 0x80, 0x7e, 0x05, 0xaa, 0xbb]);
  assert.deepEqual([...shared], [0x90, 0x80, 0x80, 0x05, 0xaa, 0xbb], 'the shared payload is untouched');
  assert.equal(patchedPayload(shared, NO_PATCH), shared, 'no patch: no copy');
  assert.equal(payloadPatch(2, 2, 0x8123), (2 << 24) | (2 << 16) | 0x8123);
  assert.throws(() => patchedPayload(shared, payloadPatch(5, 2, 1)), /past a 6-byte payload/);
});

test('vp8PictureIdField: where the RFC 7741 descriptor carries its PictureID, 7 or 15 bits, or -1', () => {
  const rtp = (payload: number[]) => Buffer.from([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, ...payload]);
  assert.equal(vp8PictureIdField(rtp([0x90, 0x80, 0x80, 0x05, 0x10]), 12), (2 << 16) | 2, 'X, I, M: 15 bits at 2 (ffmpeg\'s)');
  assert.equal(vp8PictureIdField(rtp([0x90, 0x80, 0x05, 0x10]), 12), (1 << 16) | 2, 'X, I: 7 bits at 2');
  assert.equal(vp8PictureIdField(rtp([0x10, 0x9d]), 12), -1, 'no X: no PictureID');
  assert.equal(vp8PictureIdField(rtp([0x90, 0x40, 0x01, 0x10]), 12), -1, 'X with L only');
  assert.equal(vp8PictureIdField(rtp([0x90, 0x80, 0x80]), 12), -1, 'cut short');
});
