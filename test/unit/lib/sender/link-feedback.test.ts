import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readRtcp } from '../../../../lib/rtp/rtcp.ts';
import { BandwidthEstimator } from '../../../../lib/sender/bwe/index.ts';
import { LinkFeedback } from '../../../../lib/sender/link-feedback.ts';
import { encodeTwcc, receiverReport, transportFeedback } from '../../support/rtcp-builder.ts';

const SSRC = 0x1234;
const BROWSER = 0x9999;

/** Feedback for packets 0–9 arriving 1 ms apart; `malformed`: its status count runs past its chunks. */
function feedback(malformed = false): Buffer {
  const fci = encodeTwcc(Array.from({ length: 10 }, (_, i) => ({ sequence: i, arrivalUs: 1_000_000 + i * 1000 })), 0)!;
  if (malformed) fci.writeUInt16BE(0xffff, 2);
  return transportFeedback(BROWSER, SSRC, fci);
}

describe('LinkFeedback', () => {
  test('feedback that parses is counted and seen; malformed feedback is counted only', () => {
    const link = new LinkFeedback(SSRC);
    link.read(readRtcp(feedback(true)), undefined, 0);
    assert.deepEqual(link.counts, { received: 0, malformed: 1 });
    assert.equal(link.seen, false);
    assert.equal(link.usable, false);
    link.read(readRtcp(feedback()), undefined, 10);
    assert.deepEqual(link.counts, { received: 1, malformed: 1 });
    assert.equal(link.seen, true);
    assert.equal(link.usable, true, 'as much parses as not');
    link.read(readRtcp(feedback(true)), undefined, 20);
    assert.equal(link.usable, false, 'mostly malformed');
  });

  test('measured a second after the first feedback that parsed, not before', () => {
    const link = new LinkFeedback(SSRC);
    const estimator = new BandwidthEstimator({ startBitrate: 1_000_000, minBitrate: 100_000, maxBitrate: 5_000_000 });
    link.read(readRtcp(feedback()), estimator, 500);
    assert.equal(link.measured(estimator, 1499), false);
    assert.equal(link.measured(estimator, 1500), true);
  });

  test('the round trip from a receiver report echoing a sender report that left (its own SSRC only)', () => {
    const link = new LinkFeedback(SSRC);
    const rtts: number[] = [];
    const estimator = new BandwidthEstimator({ startBitrate: 1_000_000, minBitrate: 100_000, maxBitrate: 5_000_000 });
    const onRtt = estimator.onRtt.bind(estimator);
    estimator.onRtt = (rtt) => {
      rtts.push(rtt);
      onRtt(rtt);
    };
    // NTP seconds 0x00010002, fraction 0x00030000: the middle 32 bits are 0x00020003.
    link.onSenderReport((0x0001_0002n << 32n) | 0x0003_0000n, 1000);
    const dlsr = 20 * 65.536; // 20 ms in 1/65536 s
    link.read(readRtcp(receiverReport(BROWSER, [{ ssrc: 0x7777, lsr: 0x00020003, dlsr }])), estimator, 1100);
    assert.deepEqual(rtts, [], 'another stream\'s block');
    link.read(readRtcp(receiverReport(BROWSER, [{ ssrc: SSRC, lsr: 0x00020003, dlsr }])), estimator, 1100);
    assert.equal(rtts.length, 1);
    assert.ok(Math.abs(rtts[0]! - 80) < 0.1, String(rtts[0]));
  });
});
