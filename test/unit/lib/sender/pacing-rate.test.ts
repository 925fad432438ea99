import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pacingRate } from '../../../../lib/sender/pacing-rate.ts';

test('measured: 1.5 × the estimate, never under 1.2 × what the rung sends', () => {
  assert.equal(pacingRate(2_000_000, 800_000, true), 3_000_000);
  assert.equal(pacingRate(500_000, 800_000, true), 960_000);
});

test('the start guess: the estimate itself, at most 1.3 × the start rung, at least the rung', () => {
  assert.equal(pacingRate(1_000_000, 800_000, false), 1_000_000);
  assert.equal(pacingRate(1_000_000, 250_000, false), 325_000, 'a thin link must not get the guess at once');
  // 1.5 × the 200k rung was a 300 kbit/s link's whole rate, its packet headers over it: a joiner's GOP replay
  // filled the link's queue for seconds, and it dropped (bench/links.ts cap300: frozen 0.7–0.9 s in 4 of 8 runs).
  assert.ok(pacingRate(1_000_000, 200_000, false) * 1.04 < 300_000, 'a 300 kbit/s link carries the start rung\'s replay, headers and all');
  assert.equal(pacingRate(100_000, 250_000, false), 250_000);
});
