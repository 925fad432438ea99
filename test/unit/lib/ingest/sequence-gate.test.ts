import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SequenceGate } from '../../../../lib/ingest/sequence-gate.ts';
import { buildRtpPacket, sequenceNumberOf } from '../../../../lib/rtp/rtp-packet.ts';

/** A one-packet VP8 frame (payload descriptor S=1, then a keyframe's or an interframe's tag). */
const frame = (seq: number, keyframe = false) =>
  buildRtpPacket({ marker: true, payloadType: 96, sequenceNumber: seq & 0xffff, timestamp: seq * 3000, ssrc: 7 },
    Buffer.from(keyframe ? [0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00] : [0x10, 0x01, 0x00, 0x00]));

function gate(holeWaitMs = 20) {
  const released: number[] = [];
  let requests = 0;
  const sequenceGate = new SequenceGate({
    codec: 'vp8',
    release: (packet) => released.push(sequenceNumberOf(packet)),
    requestKeyframe: () => requests++,
    holeWaitMs,
  });
  return { sequenceGate, released, requests: () => requests };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SequenceGate', () => {
  test('in order: each packet goes through at once; duplicates do not', () => {
    const { sequenceGate, released } = gate();
    for (const seq of [10, 11, 12, 12, 13]) sequenceGate.push(frame(seq), 0);
    assert.deepEqual(released, [10, 11, 12, 13]);
    assert.equal(sequenceGate.counts.dropped, 1);
  });

  test('a hole filled by its retransmission: what was held goes through after it, in order', () => {
    const { sequenceGate, released } = gate(1_000);
    for (const seq of [1, 2, 4, 5, 3, 6]) sequenceGate.push(frame(seq), 0);
    assert.deepEqual(released, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(sequenceGate.counts, { recovered: 1, givenUp: 0, dropped: 0 });
    sequenceGate.reset();
  });

  test('a hole not filled in time: held deltas dropped, a keyframe asked for, then from the keyframe on', async () => {
    const { sequenceGate, released, requests } = gate();
    for (const seq of [1, 2, 4, 5]) sequenceGate.push(frame(seq), 0);
    await wait(40);
    assert.deepEqual(released, [1, 2]);
    assert.equal(requests(), 1);
    sequenceGate.push(frame(3), 0); // its retransmission, too late
    sequenceGate.push(frame(6), 0); // a delta: nothing to decode it from
    sequenceGate.push(frame(7, true), 0);
    sequenceGate.push(frame(8), 0);
    assert.deepEqual(released, [1, 2, 7, 8]);
    assert.deepEqual(sequenceGate.counts, { recovered: 0, givenUp: 1, dropped: 4 });
  });

  test('a keyframe among what was held: from it on at once, no request', async () => {
    const { sequenceGate, released, requests } = gate();
    for (const seq of [1, 3, 4]) sequenceGate.push(frame(seq), 0);
    sequenceGate.push(frame(5, true), 0);
    sequenceGate.push(frame(6), 0);
    await wait(40);
    assert.deepEqual(released, [1, 5, 6]);
    assert.equal(requests(), 0);
  });

  test('padding (a bandwidth probe) fills its place in the sequence: no hole, nothing let through for it', () => {
    const { sequenceGate, released, requests } = gate(1_000);
    sequenceGate.push(frame(1), 0);
    sequenceGate.pushPadding(2, 0);
    sequenceGate.push(frame(3), 0);
    sequenceGate.push(frame(5), 0); // held: 4 is a hole
    sequenceGate.pushPadding(4, 0); // …filled by padding
    assert.deepEqual(released, [1, 3, 5]);
    assert.equal(requests(), 0);
    assert.deepEqual(sequenceGate.counts, { recovered: 1, givenUp: 0, dropped: 0 });
  });

  test('sequence numbers wrap; reset() starts a new sequence space', () => {
    const { sequenceGate, released } = gate(1_000);
    for (const seq of [0xfffe, 0xffff, 1, 0, 2]) sequenceGate.push(frame(seq), 0);
    assert.deepEqual(released, [0xfffe, 0xffff, 0, 1, 2]);
    sequenceGate.reset();
    sequenceGate.push(frame(500), 0);
    assert.deepEqual(released.at(-1), 500);
  });
});
