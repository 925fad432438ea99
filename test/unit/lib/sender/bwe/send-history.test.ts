import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REPORT_LOST, REPORT_NONE, REPORT_RECEIVED, SendHistory } from '../../../../../lib/sender/bwe/send-history.ts';

test('sequence numbers unwrap across 65535 → 0, and reported ones are found again', () => {
  const h = new SendHistory({ capacity: 1024 });
  const first = h.add(65533, 100, 0);
  const units = [first, h.add(65534, 101, 1), h.add(65535, 102, 2), h.add(0, 103, 3), h.add(1, 104, 4, 7)];
  assert.deepEqual(units.map((u) => u - first), [0, 1, 2, 3, 4]);
  assert.equal(h.newest, first + 4);
  assert.equal(h.lookup(0), first + 3);
  assert.equal(h.bytes(h.lookup(0)), 103);
  assert.equal(h.sendTimeMs(h.lookup(65534)), 1);
  assert.equal(h.probeCluster(h.lookup(1)), 7);
  assert.equal(h.lookup(2), -1, 'never sent');
  assert.equal(h.lookup(60000), -1, 'far behind: not held');
});

test('reports: lost, then received; a reused slot starts afresh', () => {
  const h = new SendHistory({ capacity: 16 });
  const u = h.add(10, 500, 0);
  assert.equal(h.report(u), REPORT_NONE);
  h.markLost(u);
  assert.equal(h.report(u), REPORT_LOST);
  h.markReceived(u, 12_345);
  assert.equal(h.report(u), REPORT_RECEIVED);
  assert.equal(h.arrivalUs(u), 12_345);
  for (let s = 11; s < 11 + 16; s++) h.add(s, 1, s);
  assert.equal(h.lookup(10), -1, 'evicted by capacity');
  const v = h.lookup(26);
  assert.equal(h.report(v), REPORT_NONE);
  assert.ok(Number.isNaN(h.arrivalUs(v)));
});

test('feedback about packets older than maxAgeMs is ignored', () => {
  const h = new SendHistory({ capacity: 64, maxAgeMs: 2000 });
  h.add(1, 1, 0);
  h.add(2, 1, 1500);
  assert.notEqual(h.lookup(1), -1);
  h.add(3, 1, 2500);
  assert.equal(h.lookup(1), -1);
  assert.notEqual(h.lookup(2), -1);
});

test('options are checked', () => {
  assert.throws(() => new SendHistory({ capacity: 1000 }), /capacity must be a power of two/);
  assert.throws(() => new SendHistory({ maxAgeMs: 0 }), /maxAgeMs/);
});

test('the estimator keeps 2 s of its top rate at 1000 bytes a packet, a power of two from 1024 to 16384 (33 bytes a packet for every viewer)', async () => {
  const { historyCapacityFor } = await import('../../../../../lib/sender/bwe/bandwidth-estimator.ts');
  // 5 Mbit/s (a 2.5 Mbit/s top rung, probing up to twice it): 1250 packets in 2 s → 2048, not 16384 (540 kB).
  assert.equal(historyCapacityFor(5_000_000), 2048);
  assert.equal(historyCapacityFor(4_000_000), 1024, '1000 packets in 2 s');
  assert.equal(historyCapacityFor(100_000), 1024, 'never below 1024');
  assert.equal(historyCapacityFor(60_000_000), 16384);
  assert.equal(historyCapacityFor(1e9), 16384, 'never above 16384');
  for (const rate of [3e5, 5e6, 2e7]) assert.ok(historyCapacityFor(rate) * 1000 * 8 >= rate * 2, `${rate} bit/s: 2 s held`);
});
