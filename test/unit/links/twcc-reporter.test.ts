/**
 * The werift viewers' transport-cc feedback (test/support/links/twcc-reporter.ts), read back with the
 * server's own parsers: every packet since the last feedback, lost ones as lost, arrival times on the
 * 250 µs grid, across the 16-bit wrap, each RTCP packet whole (32-bit aligned).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readRtcp } from '../../../lib/rtp/rtcp.ts';
import { parseTwccFeedback, twccSequenceAt } from '../../../lib/sender/bwe/twcc-feedback.ts';
import { TwccReporter } from '../../support/links/twcc-reporter.ts';

/** What the server reads of the reporter's packets: per sequence number, its arrival (µs) or null (lost). */
function read(packets: Buffer[]): Array<Map<number, number | null>> {
  return packets.map((packet) => {
    const summary = readRtcp(packet);
    assert.equal(summary.malformed, 0, 'a whole RTCP packet');
    assert.equal(summary.transportFeedback.length, 1);
    assert.deepEqual([summary.transportFeedback[0]!.senderSsrc, summary.transportFeedback[0]!.mediaSsrc], [11, 22]);
    const feedback = parseTwccFeedback(summary.transportFeedback[0]!.fci);
    assert.ok(feedback, 'parses');
    const reported = new Map<number, number | null>();
    feedback.arrivalTimesUs.forEach((time, index) => reported.set(twccSequenceAt(feedback, index), Number.isNaN(time) ? null : time));
    return reported;
  });
}

test('every packet since the last feedback: arrivals on the 250 µs grid, gaps as lost', () => {
  const reporter = new TwccReporter();
  const lost = new Set([10, 11, 30]);
  const at = (seq: number) => 5_000_000_000 + seq * 2_100 + 37; // off the grid
  for (let seq = 0; seq < 50; seq++) if (!lost.has(seq)) reporter.record(seq, at(seq));
  const [first, ...more] = read(reporter.take(11, 22));
  assert.equal(more.length, 0);
  assert.deepEqual([...first!.keys()], Array.from({ length: 50 }, (_, seq) => seq));
  for (const [seq, arrival] of first!) {
    if (lost.has(seq)) assert.equal(arrival, null, `${seq} lost`);
    // The grid is anchored at the reference time (a multiple of 64 ms): within half a step, no drift.
    else assert.ok(Math.abs(arrival! - at(seq)) <= 125, `${seq}: ${arrival} for ${at(seq)}`);
  }
  assert.deepEqual(reporter.take(11, 22), [], 'nothing new, no feedback');
});

test('the next feedback starts where the last ended; a late packet is not reported again', () => {
  const reporter = new TwccReporter();
  for (const seq of [0, 1, 3]) reporter.record(seq, 1_000_000 + seq * 1000);
  read(reporter.take(11, 22));
  reporter.record(2, 1_010_000); // late: reported lost already
  reporter.record(4, 1_011_000);
  const [second] = read(reporter.take(11, 22));
  assert.deepEqual([...second!.keys()], [4]);
});

test('across the 16-bit wrap, and reordered arrivals', () => {
  const reporter = new TwccReporter();
  const order = [65533, 65535, 65534, 0, 2, 1, 3];
  order.forEach((seq, index) => reporter.record(seq, 9_000_000 + index * 500));
  const [feedback] = read(reporter.take(11, 22));
  assert.deepEqual([...feedback!.keys()], [65533, 65534, 65535, 0, 1, 2, 3]);
  assert.ok([...feedback!.values()].every((arrival) => arrival !== null));
  // 65534 arrived after 65535: a negative delta, read back as such.
  assert.ok(feedback!.get(65534)! > feedback!.get(65535)!);
});
