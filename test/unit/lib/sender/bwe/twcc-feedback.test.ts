import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTwccFeedback, twccSequenceAt } from '../../../../../lib/sender/bwe/twcc-feedback.ts';
import { readRtcp } from '../../../../../lib/rtp/rtcp.ts';
import { encodeTwcc, transportFeedback, twccFci, type ReportedPacket } from '../../../support/rtcp-builder.ts';
import { createRng } from '../../../support/rng.ts';

const arrivals = (fci: Buffer): Array<number | null> => {
  const f = parseTwccFeedback(fci);
  assert.ok(f, 'parses');
  return [...f.arrivalTimesUs].map((t) => (Number.isNaN(t) ? null : t));
};

test('run-length chunk of small deltas: reference time × 64 ms plus deltas × 250 µs', () => {
  const f = parseTwccFeedback(twccFci(100, 5, 1000, 7, [0x2005], [4, 8, 0, 1, 255]), 11, 22);
  assert.ok(f);
  assert.equal(f.senderSsrc, 11);
  assert.equal(f.mediaSsrc, 22);
  assert.equal(f.baseSequence, 100);
  assert.equal(f.packetStatusCount, 5);
  assert.equal(f.referenceTime, 1000);
  assert.equal(f.feedbackPacketCount, 7);
  assert.equal(f.receivedCount, 5);
  const t0 = 64_000_000;
  assert.deepEqual([...f.arrivalTimesUs], [t0 + 1000, t0 + 3000, t0 + 3000, t0 + 3250, t0 + 67_000]);
});

test('2-bit status vector: lost, small, large and negative deltas', () => {
  // symbols 1, 0, 2, 2, 1, 0, 0 → 11|01 00 10 10 01 00 00
  const fci = twccFci(7, 7, 2, 0, [0b1101_0010_1001_0000], [40, 0xff, 0xfc, 0x03, 0xe8, 0]);
  const t0 = 128_000;
  assert.deepEqual(arrivals(fci), [t0 + 10_000, null, t0 + 9000, t0 + 259_000, t0 + 259_000, null, null]);
});

test('1-bit status vector across the 16-bit sequence wrap; symbols past the count ignored', () => {
  // 14 one-bit symbols 1,0,1,1,0,…,0,1 but only 12 reported.
  const fci = twccFci(65530, 12, 0, 0, [0b1010_1100_0000_0001], [4, 4, 4]);
  const f = parseTwccFeedback(fci);
  assert.ok(f);
  assert.deepEqual(arrivals(fci), [1000, null, 2000, 3000, null, null, null, null, null, null, null, null]);
  assert.deepEqual(Array.from({ length: 12 }, (_, i) => twccSequenceAt(f, i)).slice(4, 8), [65534, 65535, 0, 1]);
});

test('negative reference time and long runs across several chunks', () => {
  const f = parseTwccFeedback(twccFci(0, 9000, 0xffffff, 255, [0x1fff, 0x2000 | 809], Array(809).fill(4)));
  assert.ok(f);
  assert.equal(f.referenceTime, -1);
  assert.equal(f.referenceTimeRaw, 0xffffff);
  assert.equal(f.receivedCount, 809);
  assert.ok(Number.isNaN(f.arrivalTimesUs[8190]!));
  assert.equal(f.arrivalTimesUs[8191], -64_000 + 1000);
  assert.equal(f.arrivalTimesUs[8999], -64_000 + 809_000);
});

test('malformed feedback is refused, never thrown', () => {
  assert.equal(parseTwccFeedback(Buffer.alloc(7)), undefined);
  assert.equal(parseTwccFeedback(twccFci(0, 3, 0, 0, [0x2003], [1, 2])), undefined, 'a delta missing');
  assert.equal(parseTwccFeedback(twccFci(0, 20, 0, 0, [0x2003], [1, 2, 3])), undefined, 'chunks missing');
  assert.equal(parseTwccFeedback(twccFci(0, 3, 0, 0, [0x6003], [])), undefined, 'reserved run symbol');
  assert.equal(parseTwccFeedback(twccFci(0, 1, 0, 0, [0xf000], [])), undefined, 'reserved vector symbol');
  const empty = parseTwccFeedback(twccFci(5, 0, 0, 0, [], []));
  assert.equal(empty?.packetStatusCount, 0);
  const rng = createRng(5);
  for (let i = 0; i < 20_000; i++) {
    const bytes = Buffer.alloc(Math.floor(rng() * 64));
    for (let k = 0; k < bytes.length; k++) bytes[k] = Math.floor(rng() * 256);
    if (bytes.length > 3) bytes[2] = 0; // keep status counts small enough to reach the deltas
    const f = parseTwccFeedback(bytes);
    if (f) assert.equal(f.arrivalTimesUs.length, f.packetStatusCount);
  }
});

test('what the Chromium-style encoder writes round-trips at 250 µs, through a compound packet', () => {
  const rng = createRng(99);
  for (let round = 0; round < 200; round++) {
    const n = 1 + Math.floor(rng() * 120);
    const base = Math.floor(rng() * 65536);
    let t = 5_000_000 + Math.floor(rng() * 1e9);
    const packets: ReportedPacket[] = [];
    for (let i = 0; i < n; i++) {
      const lost = i > 0 && rng() < 0.2;
      t += rng() < 0.1 ? -Math.floor(rng() * 3000) : Math.floor(rng() * (rng() < 0.1 ? 200_000 : 3000));
      packets.push({ sequence: (base + i) & 0xffff, arrivalUs: lost ? undefined : t });
    }
    const fci = encodeTwcc(packets, round);
    assert.ok(fci);
    const [tf] = readRtcp(transportFeedback(1, 2, fci)).transportFeedback;
    const f = parseTwccFeedback(tf!.fci, tf!.senderSsrc, tf!.mediaSsrc);
    assert.ok(f);
    assert.equal(f.baseSequence, base);
    assert.equal(f.packetStatusCount, n);
    packets.forEach((p, i) => {
      if (p.arrivalUs === undefined) assert.ok(Number.isNaN(f.arrivalTimesUs[i]!));
      else assert.ok(Math.abs(f.arrivalTimesUs[i]! - p.arrivalUs) <= 125, `packet ${i}: ${f.arrivalTimesUs[i]} vs ${p.arrivalUs}`);
    });
  }
});
