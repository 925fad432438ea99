import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TransportFeedback } from '../../../../lib/ingest/transport-feedback.ts';
import { readRtcp } from '../../../../lib/rtp/rtcp.ts';
import { parseTwccFeedback, twccSequenceAt } from '../../../../lib/sender/bwe/twcc-feedback.ts';

/** The feedback packets a collector sent, parsed. */
function collector(intervalMs = 60_000) {
  const sent: Buffer[] = [];
  const feedback = new TransportFeedback({ send: (rtcp) => sent.push(rtcp), senderSsrc: 9, intervalMs });
  const parsed = () => sent.map((packet) => {
    const [fb] = readRtcp(packet).transportFeedback;
    return parseTwccFeedback(fb!.fci, fb!.senderSsrc, fb!.mediaSsrc)!;
  });
  return { feedback, sent, parsed };
}

const report = (fb: NonNullable<ReturnType<typeof parseTwccFeedback>>) =>
  [...fb.arrivalTimesUs].map((arrival, i) => [twccSequenceAt(fb, i), Number.isNaN(arrival) ? null : arrival]);

describe('TransportFeedback', () => {
  test('what arrived since the last feedback, losses included; each packet reported once', () => {
    const { feedback, parsed } = collector();
    feedback.mediaSsrc = 77;
    for (const [sequence, at] of [[10, 1_000_000], [11, 1_001_000], [13, 1_003_000]] as const) feedback.onPacket(sequence, at);
    feedback.flush();
    feedback.onPacket(14, 1_010_000);
    feedback.onPacket(15, 1_011_000);
    feedback.flush();
    feedback.flush(); // nothing new: nothing sent
    const [first, second] = parsed();
    assert.equal(parsed().length, 2);
    assert.deepEqual(report(first!), [[10, 1_000_000], [11, 1_001_000], [12, null], [13, 1_003_000]]);
    assert.deepEqual(report(second!), [[14, 1_010_000], [15, 1_011_000]]);
    assert.equal(first!.mediaSsrc, 77);
    assert.equal(first!.senderSsrc, 9);
    assert.deepEqual([first!.feedbackPacketCount, second!.feedbackPacketCount], [0, 1]);
  });

  test('a packet arriving after its sequence number was reported (as lost) is not reported again', () => {
    const { feedback, parsed } = collector();
    feedback.onPacket(1, 1_000_000);
    feedback.onPacket(3, 1_002_000);
    feedback.flush();
    feedback.onPacket(2, 1_005_000); // late
    feedback.onPacket(4, 1_006_000);
    feedback.flush();
    assert.deepEqual(report(parsed()[1]!), [[4, 1_006_000]]);
  });

  test('reordered within one interval: reported in sequence order', () => {
    const { feedback, parsed } = collector();
    feedback.onPacket(5, 1_000_000);
    feedback.onPacket(7, 1_001_000);
    feedback.onPacket(6, 1_001_500);
    feedback.flush();
    assert.deepEqual(report(parsed()[0]!), [[5, 1_000_000], [6, 1_001_500], [7, 1_001_000]]);
  });

  test('sequence numbers wrap at 2^16', () => {
    const { feedback, parsed } = collector();
    feedback.onPacket(0xfffe, 1_000_000);
    feedback.onPacket(0xffff, 1_001_000);
    feedback.onPacket(0, 1_002_000);
    feedback.onPacket(1, 1_003_000);
    feedback.flush();
    assert.deepEqual(report(parsed()[0]!).map(([sequence]) => sequence), [0xfffe, 0xffff, 0, 1]);
  });

  test('sent by itself once per interval while packets arrive; stop() cancels', async () => {
    const { feedback, sent } = collector(5);
    feedback.onPacket(1, 1_000_000);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(sent.length, 1);
    feedback.onPacket(2, 1_001_000);
    feedback.stop();
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(sent.length, 1);
  });
});
