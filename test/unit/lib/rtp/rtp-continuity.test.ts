import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RtpContinuity } from '../../../../lib/rtp/rtp-continuity.ts';
import { sequenceNumberOf, timestampOf } from '../../../../lib/rtp/rtp-packet.ts';
import { rtpPacket } from '../../helpers.ts';

const fields = (packet: Buffer) => ({ seq: sequenceNumberOf(packet), ts: timestampOf(packet) });

/** Rewrites a packet of `ssrc` with these numbers at `now`; returns what came out. */
function rewrite(continuity: RtpContinuity, ssrc: number, seq: number, ts: number, now: number) {
  const packet = rtpPacket({ ssrc, sequenceNumber: seq, timestamp: ts, payload: [1, 2, 3] });
  continuity.rewrite(packet, now);
  return fields(packet);
}

describe('RtpContinuity', () => {
  test('the first sender passes unchanged, and in place', () => {
    const continuity = new RtpContinuity(90_000);
    const packet = rtpPacket({ ssrc: 1, sequenceNumber: 500, timestamp: 123_456, payload: [9, 9] });
    const before = Buffer.from(packet);
    continuity.rewrite(packet, 1_000);
    assert.deepEqual(packet, before);
    assert.deepEqual(rewrite(continuity, 1, 501, 126_456, 1_033), { seq: 501, ts: 126_456 });
  });

  test('a new SSRC continues at the next sequence number, its timestamp advanced by the wall-clock gap (90 kHz)', () => {
    const continuity = new RtpContinuity(90_000);
    rewrite(continuity, 1, 100, 10_000, 1_000);
    rewrite(continuity, 1, 101, 13_000, 1_033);
    // 467 ms later a new sender starts with numbers of its own.
    assert.deepEqual(rewrite(continuity, 2, 40_000, 3_000_000_000, 1_500), { seq: 102, ts: 13_000 + 467 * 90 });
    // Its later packets keep their own spacing, shifted by the same offsets.
    assert.deepEqual(rewrite(continuity, 2, 40_001, 3_000_003_000, 1_533), { seq: 103, ts: 13_000 + 467 * 90 + 3_000 });
    assert.deepEqual(rewrite(continuity, 2, 40_005, 3_000_006_000, 1_566), { seq: 107, ts: 13_000 + 467 * 90 + 6_000 }, 'a gap in seq stays a gap');
  });

  test('the gap is in the stream clock: 48 kHz for audio', () => {
    const continuity = new RtpContinuity(48_000);
    rewrite(continuity, 7, 1, 960, 0);
    assert.deepEqual(rewrite(continuity, 8, 9_000, 77, 250), { seq: 2, ts: 960 + 250 * 48 });
  });

  test('a new SSRC in the same millisecond still advances the timestamp (by 1)', () => {
    const continuity = new RtpContinuity(90_000);
    rewrite(continuity, 1, 10, 5_000, 2_000);
    assert.deepEqual(rewrite(continuity, 2, 0, 0, 2_000), { seq: 11, ts: 5_001 });
  });

  test('returning to an earlier SSRC is a new sender again', () => {
    const continuity = new RtpContinuity(90_000);
    rewrite(continuity, 1, 10, 1_000, 0);
    rewrite(continuity, 2, 900, 50, 100);
    assert.deepEqual(rewrite(continuity, 1, 11, 4_000, 200), { seq: 12, ts: 1_000 + 9_000 + 9_000 });
  });

  test('sequence numbers wrap at 16 bits, timestamps at 32 bits', () => {
    const continuity = new RtpContinuity(90_000);
    rewrite(continuity, 1, 0xfffe, 0xffff_fc00, 0);
    // The next sender continues across both wraps.
    assert.deepEqual(rewrite(continuity, 2, 100, 100, 10), { seq: 0xffff, ts: (0xffff_fc00 + 900) >>> 0 });
    assert.deepEqual(rewrite(continuity, 2, 101, 3_100, 43), { seq: 0, ts: (0xffff_fc00 + 900 + 3_000) >>> 0 });
    assert.deepEqual(rewrite(continuity, 2, 102, 6_100, 76), { seq: 1, ts: (0xffff_fc00 + 900 + 6_000) >>> 0 });
  });

  test("a sender's own wrap is carried through the offset", () => {
    const continuity = new RtpContinuity(90_000);
    rewrite(continuity, 1, 1_000, 1_000, 0);
    rewrite(continuity, 2, 0xffff, 0xffff_ffff, 100); // → seq 1001, ts 1000 + 9000
    assert.deepEqual(rewrite(continuity, 2, 0, 2_999, 133), { seq: 1_002, ts: 10_000 + 3_000 });
  });
});
