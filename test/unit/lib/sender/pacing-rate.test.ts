import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pacingRate } from '../../../../lib/sender/pacing-rate.ts';

test('measured: 1.5 × the estimate, never under 1.2 × what the rung sends', () => {
  assert.equal(pacingRate(2_000_000, 800_000, true), 3_000_000);
  assert.equal(pacingRate(500_000, 800_000, true), 960_000);
});

test('the start guess: the estimate itself, at most 1.5 × the start rung, at least the rung', () => {
  assert.equal(pacingRate(1_000_000, 800_000, false), 1_000_000);
  assert.equal(pacingRate(1_000_000, 250_000, false), 375_000, 'a thin link must not get the guess at once');
  assert.equal(pacingRate(100_000, 250_000, false), 250_000);
});
