import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readRtcp } from '../../../../lib/rtp/rtcp.ts';
import { writeTwccFeedback, type ArrivalUs } from '../../../../lib/rtp/twcc-writer.ts';
import { parseTwccFeedback } from '../../../../lib/sender/bwe/twcc-feedback.ts';
import { encodeTwcc } from '../../support/rtcp-builder.ts';

const FIELDS = { senderSsrc: 0x1111, mediaSsrc: 0x2222, baseSequence: 100, feedbackCount: 7 };

/** What a receiver of our packet reads back: through the compound walk, then the exact FCI parser. */
function readBack(packet: Buffer) {
  const summary = readRtcp(packet);
  assert.equal(summary.malformed, 0, 'a well-formed RTCP packet');
  assert.equal(summary.transportFeedback.length, 1);
  const [feedback] = summary.transportFeedback;
  const parsed = parseTwccFeedback(feedback!.fci, feedback!.senderSsrc, feedback!.mediaSsrc);
  assert.ok(parsed, 'the FCI parses');
  return parsed;
}

/** Arrivals as the receiver reads them: on the 250 µs grid from the 64 ms reference. */
const onGrid = (arrivals: ArrivalUs[]) => {
  const first = arrivals.find((arrival) => arrival !== undefined)!;
  let grid = Math.floor(first / 64_000) * 64_000;
  return arrivals.map((arrival) => {
    if (arrival === undefined) return Number.NaN;
    grid += Math.round((arrival - grid) / 250) * 250;
    return grid;
  });
};

describe('writeTwccFeedback', () => {
  test('every packet received: fields, SSRCs and arrival times read back exactly (on the 250 µs grid)', () => {
    const arrivals = Array.from({ length: 40 }, (_, i) => 5_000_123 + i * 1_130);
    const packet = writeTwccFeedback(arrivals, FIELDS)!;
    assert.equal(packet.length % 4, 0, '32-bit aligned');
    assert.equal(packet[1], 205, 'RTPFB');
    assert.equal(packet[0]! & 0x1f, 15, 'FMT 15');
    const parsed = readBack(packet);
    assert.equal(parsed.senderSsrc, FIELDS.senderSsrc);
    assert.equal(parsed.mediaSsrc, FIELDS.mediaSsrc);
    assert.equal(parsed.baseSequence, 100);
    assert.equal(parsed.packetStatusCount, 40);
    assert.equal(parsed.feedbackPacketCount, 7);
    assert.equal(parsed.referenceTime, Math.floor(5_000_123 / 64_000), 'the first arrival, floored to 64 ms');
    assert.deepEqual([...parsed.arrivalTimesUs], onGrid(arrivals));
    assert.equal(parsed.receivedCount, 40);
  });

  test('the first delta is from the reference time, not from an earlier feedback (werift\'s error)', () => {
    const parsed = readBack(writeTwccFeedback([64_000 * 10 + 63_750], FIELDS)!);
    assert.equal(parsed.arrivalTimesUs[0], 64_000 * 10 + 63_750);
  });

  test('losses, a long run, a large gap and a packet that arrived before its predecessor', () => {
    const arrivals: ArrivalUs[] = [
      1_000_000, undefined, undefined, 1_002_000,
      ...Array.from({ length: 20 }, (_, i) => 1_003_000 + i * 100), // a run of small deltas
      ...Array<ArrivalUs>(9).fill(undefined), // a run of losses
      1_200_000, // 196 ms later: a 2-byte delta
      1_199_000, // reordered: negative
      1_199_250,
    ];
    const parsed = readBack(writeTwccFeedback(arrivals, { ...FIELDS, baseSequence: 0xfffe })!);
    assert.equal(parsed.baseSequence, 0xfffe, 'sequence numbers wrap after it (the receiver adds modulo 2^16)');
    const expected = onGrid(arrivals);
    assert.deepEqual([...parsed.arrivalTimesUs].map((value, i) => (Number.isNaN(value) ? 'lost' : value)),
      expected.map((value) => (Number.isNaN(value) ? 'lost' : value)));
    assert.equal(parsed.receivedCount, arrivals.filter((arrival) => arrival !== undefined).length);
  });

  test('reads back as Chromium\'s encoder does (test support encodeTwcc)', () => {
    const arrivals: ArrivalUs[] = Array.from({ length: 60 }, (_, i) => (i % 11 === 5 ? undefined : 2_000_000 + i * 833 + (i % 7) * 40));
    const ours = readBack(writeTwccFeedback(arrivals, FIELDS)!);
    const chromium = encodeTwcc(arrivals.map((arrivalUs, i) => ({ sequence: 100 + i, arrivalUs })), 7)!;
    const theirs = parseTwccFeedback(chromium)!;
    assert.deepEqual([...ours.arrivalTimesUs], [...theirs.arrivalTimesUs]);
    assert.equal(ours.referenceTime, theirs.referenceTime);
  });

  test('the 24-bit reference time wraps', () => {
    const late = 64_000 * (0x1000000 + 3) + 500;
    const parsed = readBack(writeTwccFeedback([late], FIELDS)!);
    assert.equal(parsed.referenceTimeRaw, 3);
  });

  test('padding: the P bit and the count in the last octet', () => {
    // 8 (SSRCs) + 8 (FCI head) + 2 (one chunk) + 1 (one delta) = 19 octets after the header: one of padding.
    const packet = writeTwccFeedback([1_000_000], FIELDS)!;
    assert.equal(packet[0]! & 0x20, 0x20);
    assert.equal(packet.at(-1), 1);
    assert.equal(readBack(packet).receivedCount, 1);
  });

  test('nothing received, nothing to report, or a gap past 16 bits of deltas: no packet', () => {
    assert.equal(writeTwccFeedback([], FIELDS), undefined);
    assert.equal(writeTwccFeedback([undefined, undefined], FIELDS), undefined);
    assert.equal(writeTwccFeedback([1_000_000, 1_000_000 + 9_000_000], FIELDS), undefined);
  });
});
