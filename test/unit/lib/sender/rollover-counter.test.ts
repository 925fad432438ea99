import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RolloverCounter } from '../../../../lib/sender/rollover-counter.ts';

/** The counter's answers for `sequenceNumbers`, in order. */
const rollovers = (sequenceNumbers: number[]) => {
  const counter = new RolloverCounter();
  return sequenceNumbers.map((seq) => counter.of(seq));
};

describe('RolloverCounter', () => {
  test('0 until the sequence number wraps, then 1, 2, …', () => {
    assert.deepEqual(rollovers([65_533, 65_534, 65_535, 0, 1, 2]), [0, 0, 0, 1, 1, 1]);
    const counter = new RolloverCounter();
    let roc = 0;
    for (let index = 100; index < 4 * 65_536 + 100; index += 7) roc = counter.of(index & 0xffff);
    assert.equal(roc, 4);
  });

  test('starts from whatever the first sequence number is', () => {
    assert.deepEqual(rollovers([0, 1]), [0, 0]);
    assert.deepEqual(rollovers([65_535, 0]), [0, 1]);
    assert.deepEqual(rollovers([40_000, 40_001]), [0, 0]);
  });

  test('a late packet from before the wrap keeps the rollover counter it was sent with', () => {
    assert.deepEqual(rollovers([65_534, 0, 65_535, 1, 65_500, 2]), [0, 1, 0, 1, 0, 1]);
  });

  test('a late packet after the wrap, and a repeat of the newest, keep the current counter', () => {
    assert.deepEqual(rollovers([65_535, 0, 5, 3, 5, 5]), [0, 1, 1, 1, 1, 1]);
  });

  test('a late packet from before the first one cannot go below 0', () => {
    assert.deepEqual(rollovers([10, 65_530]), [0, 0]);
  });

  test('a jump ahead of less than half the space is not a wrap; more than half back is one (RFC 3711 §3.3.1)', () => {
    assert.deepEqual(rollovers([0, 0x7fff, 0xfffe]), [0, 0, 0]);
    assert.deepEqual(rollovers([40_000, 100]), [0, 1], '100 is 25 636 ahead of 40 000 modulo 2^16');
  });

  test('matches the true packet index over a long stream with reordering and retransmissions', () => {
    // A seeded generator: the stream is the same at every run.
    let seed = 0x2545_f491;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) >>> 0) / 2 ** 32);
    const counter = new RolloverCounter();
    let newest = 1_000;
    assert.equal(counter.of(newest), 0);
    for (let step = 0; step < 300_000; step++) {
      // Mostly the next packet; now and then a jump, a late one (up to 256 back: the retransmission window).
      const roll = random();
      let index: number;
      if (roll < 0.9) index = ++newest;
      else if (roll < 0.95) index = newest += 1 + Math.floor(random() * 50);
      else index = Math.max(1_000, newest - Math.floor(random() * 256));
      assert.equal(counter.of(index & 0xffff), Math.floor(index / 65_536), `index ${index} (newest ${newest})`);
    }
    assert.ok(newest > 5 * 65_536, 'several wraps covered');
  });
});
