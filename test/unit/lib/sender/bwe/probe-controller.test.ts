import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProbeController } from '../../../../../lib/sender/bwe/probe-controller.ts';

test('a cluster: at most 2× the estimate, at least 5 packets, padding tops the media up', () => {
  const p = new ProbeController();
  const c = p.request(2_500_000, 800_000, 250_000, 5_000_000, 0);
  assert.ok(c);
  assert.equal(c.bitrate, 1_600_000);
  assert.ok(c.packets >= 5);
  assert.equal(c.durationMs, 30);
  assert.ok(Math.abs(c.paddingBitrate - 1_350_000) / 1_350_000 < 0.1, String(c.paddingBitrate));
  assert.ok(c.packetSize >= 100 && c.packetSize <= 1200);
  assert.equal(p.request(2_500_000, 800_000, 250_000, 5_000_000, 1), undefined, 'one at a time');
});

test('nothing to learn when the estimate covers the target; the max caps the probe', () => {
  const p = new ProbeController();
  assert.equal(p.request(700_000, 800_000, 250_000, 5_000_000, 0), undefined);
  assert.equal(p.request(9_000_000, 4_000_000, 2_500_000, 5_000_000, 0)?.bitrate, 5_000_000);
});

test('failures back off 3 s, 6 s, 12 s … up to 60 s; a success resets', () => {
  const p = new ProbeController();
  let now = 0;
  const pauses: number[] = [];
  for (let i = 0; i < 7; i++) {
    assert.ok(p.request(2_000_000, 1_000_000, 1_000_000, 5_000_000, now));
    p.settle(false, now);
    pauses.push(p.notBeforeMs - now);
    assert.equal(p.request(2_000_000, 1_000_000, 1_000_000, 5_000_000, p.notBeforeMs - 1), undefined);
    now = p.notBeforeMs;
  }
  assert.deepEqual(pauses, [3000, 6000, 12_000, 24_000, 48_000, 60_000, 60_000]);
  assert.ok(p.request(2_000_000, 1_000_000, 1_000_000, 5_000_000, now));
  p.settle(true, now);
  assert.equal(p.failures, 0);
  assert.ok(p.request(2_000_000, 1_000_000, 1_000_000, 5_000_000, now));
});
