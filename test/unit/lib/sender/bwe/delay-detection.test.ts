import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InterArrival } from '../../../../../lib/sender/bwe/inter-arrival.ts';
import { TrendlineDetector, type BandwidthUsage } from '../../../../../lib/sender/bwe/trendline.ts';

/** Packets every `gapMs`, each arriving `growthMs` later than the one before relative to its send time. */
function run(growthPerPacketMs: number, packets = 400, gapMs = 10): BandwidthUsage[] {
  const groups = new InterArrival(5);
  const trend = new TrendlineDetector();
  const states: BandwidthUsage[] = [];
  let queue = 50;
  for (let i = 0; i < packets; i++) {
    const send = i * gapMs;
    queue = Math.max(0, queue + growthPerPacketMs);
    if (groups.add(send, send + 20 + queue)) {
      trend.update(groups.deltas.arrivalDeltaMs, groups.deltas.sendDeltaMs, groups.deltas.arrivalTimeMs);
      states.push(trend.state);
    }
  }
  return states;
}

test('packets 5 ms or less apart form one group; each later group gives deltas against the previous', () => {
  const g = new InterArrival(5);
  assert.equal(g.add(0, 100), false);
  assert.equal(g.add(3, 104), false); // same group
  assert.equal(g.add(10, 111), false); // second group starts; no previous yet
  assert.equal(g.add(20, 125), true); // third starts: second vs first
  assert.deepEqual({ ...g.deltas }, { sendDeltaMs: 7, arrivalDeltaMs: 7, arrivalTimeMs: 111 });
  assert.equal(g.add(1, 200), false, 'sent before the current group: reordered, ignored');
});

test('a burst that arrives together is one group even if sent apart', () => {
  const g = new InterArrival(5);
  g.add(0, 100);
  g.add(10, 101); // sent 10 ms later, arrived 1 ms later: queued behind the first
  g.add(20, 102);
  assert.equal(g.add(40, 150), false, 'the burst was the first group: no deltas yet');
  assert.equal(g.add(60, 170), true);
  assert.equal(g.deltas.sendDeltaMs, 20);
  assert.equal(g.deltas.arrivalDeltaMs, 48);
});

test('a steady delay is normal; a growing queue is overuse; a draining one underuse', () => {
  assert.ok(run(0).every((s) => s === 'normal'));
  const growing = run(0.5);
  assert.equal(growing.at(-1), 'overusing');
  assert.ok(growing.indexOf('overusing') < 40, `detected after ${growing.indexOf('overusing')} groups`);
  assert.equal(run(-0.5, 90).at(-1), 'underusing');
});

test('the adaptive threshold stays within 6–600 ms', () => {
  const trend = new TrendlineDetector();
  for (let i = 1; i < 3000; i++) trend.update(10 + (i % 7) * 30, 10, i * 10);
  assert.ok(trend.threshold >= 6 && trend.threshold <= 600, String(trend.threshold));
  const quiet = new TrendlineDetector();
  for (let i = 1; i < 3000; i++) quiet.update(10, 10, i * 10);
  assert.equal(quiet.threshold, 6);
});
