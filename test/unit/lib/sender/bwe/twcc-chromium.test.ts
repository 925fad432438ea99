/** Real transport-cc feedback from Chromium (fixtures/twcc-chromium.json: how it was captured is in its note). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readRtcp } from '../../../../../lib/rtp/rtcp.ts';
import { parseTwccFeedback, twccSequenceAt, type TwccFeedback } from '../../../../../lib/sender/bwe/twcc-feedback.ts';
import { BandwidthEstimator } from '../../../../../lib/sender/bwe/bandwidth-estimator.ts';

interface Capture {
  feedback: Array<[number, string]>;
  sent: Array<[number, number, number]>;
}
const capture = JSON.parse(readFileSync(join(import.meta.dirname, '../../../fixtures/twcc-chromium.json'), 'utf8')) as Capture;

function parsed(): Array<{ atMs: number; feedback: TwccFeedback; chunkKinds: string[] }> {
  return capture.feedback.map(([atMs, hex]) => {
    const rtcp = readRtcp(Buffer.from(hex, 'hex'));
    assert.equal(rtcp.malformed, 0);
    assert.equal(rtcp.transportFeedback.length, 1);
    const tf = rtcp.transportFeedback[0]!;
    const feedback = parseTwccFeedback(tf.fci, tf.senderSsrc, tf.mediaSsrc);
    assert.ok(feedback, hex);
    const chunkKinds: string[] = [];
    for (let at = 8, filled = 0; filled < feedback.packetStatusCount; at += 2) {
      const chunk = tf.fci.readUInt16BE(at);
      const kind = chunk & 0x8000 ? (chunk & 0x4000 ? '2-bit' : '1-bit') : 'run';
      chunkKinds.push(kind);
      filled += kind === 'run' ? chunk & 0x1fff : kind === '1-bit' ? 14 : 7;
    }
    return { atMs, feedback, chunkKinds };
  });
}

test('every Chromium feedback parses; all chunk kinds occur; padding is taken off', () => {
  const all = parsed();
  assert.equal(all.length, capture.feedback.length);
  const kinds = new Set(all.flatMap((p) => p.chunkKinds));
  assert.deepEqual([...kinds].sort(), ['1-bit', '2-bit', 'run']);
  assert.ok(capture.feedback.some(([, hex]) => (Number.parseInt(hex.slice(0, 2), 16) & 0x20) !== 0), 'Chromium pads its feedback');
  const counts = all.map((p) => p.feedback.feedbackPacketCount);
  counts.slice(1).forEach((c, i) => assert.equal(c, (counts[i]! + 1) & 0xff, 'feedback packet count steps by one'));
});

test('exactly the packets sent are reported received, and the skipped numbers lost', () => {
  const sent = new Set(capture.sent.map(([tsn]) => tsn));
  const received = new Set<number>();
  const lost = new Set<number>();
  for (const { feedback } of parsed()) {
    for (let i = 0; i < feedback.packetStatusCount; i++) {
      const seq = twccSequenceAt(feedback, i);
      if (Number.isNaN(feedback.arrivalTimesUs[i]!)) lost.add(seq);
      else received.add(seq);
    }
  }
  assert.deepEqual([...received].sort((a, b) => a - b), [...sent].sort((a, b) => a - b));
  assert.ok(lost.size > 10);
  for (const seq of lost) assert.ok(!sent.has(seq), `${seq} was sent but reported lost`);
});

test('arrival times follow send times on loopback: one-way delay steady within tens of ms, 250 µs steps', () => {
  const sendMs = new Map(capture.sent.map(([tsn, at]) => [tsn, at]));
  const offsets: number[] = [];
  for (const { feedback } of parsed()) {
    for (let i = 0; i < feedback.packetStatusCount; i++) {
      const arrival = feedback.arrivalTimesUs[i]!;
      if (Number.isNaN(arrival)) continue;
      assert.equal(arrival % 250, 0);
      offsets.push(arrival / 1000 - sendMs.get(twccSequenceAt(feedback, i))!);
    }
  }
  offsets.sort((a, b) => a - b);
  const spread = offsets[Math.floor(offsets.length * 0.99)]! - offsets[0]!;
  // Loopback on a shared 2-core machine: the send time is taken when werift was handed the packet.
  assert.ok(spread < 50, `99 % of one-way delays within ${spread.toFixed(1)} ms of the least`);
});

test('the estimator fed the capture: no overuse on loopback, the acknowledged rate matches what was sent', () => {
  const bwe = new BandwidthEstimator({ startBitrate: 1e6, minBitrate: 1e5, maxBitrate: 5e6 });
  const events = [
    ...capture.sent.map(([tsn, at, size]) => ({ at, run: () => bwe.onPacketSent(tsn, size, at) })),
    ...parsed().map(({ atMs, feedback }) => ({ at: atMs, run: () => bwe.onFeedback(feedback, atMs) })),
  ].sort((a, b) => a.at - b.at);
  const states = new Set<string>();
  let acked = 0;
  let sending = 0;
  for (const e of events) {
    e.run();
    const estimate = bwe.estimate(e.at);
    states.add(estimate.state);
    if (e.at > 3000 && e.at < 5000) {
      acked = Math.max(acked, estimate.acknowledged);
      sending = Math.max(sending, estimate.sending);
    }
  }
  assert.ok(!states.has('overusing'), [...states].join());
  assert.ok(Math.abs(acked - sending) / sending < 0.25, `acknowledged ${acked} vs sent ${sending}`);
  const end = bwe.estimate(capture.sent.at(-1)![1]);
  assert.equal(end.lossRate, 0, 'the skipped numbers were never sent: no loss');
  assert.ok(end.bitrate >= 1e6);
});
