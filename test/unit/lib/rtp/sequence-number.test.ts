import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sequenceDelta } from '../../../../lib/rtp/sequence-number.ts';

test('sequenceDelta: ahead and behind the shorter way round, across the wrap', () => {
  assert.equal(sequenceDelta(10, 5), 5);
  assert.equal(sequenceDelta(5, 10), -5);
  assert.equal(sequenceDelta(2, 0xfffe), 4, 'past the wrap is ahead');
  assert.equal(sequenceDelta(0xfffe, 2), -4);
  assert.equal(sequenceDelta(7, 7), 0);
  assert.equal(sequenceDelta(0x7fff, 0), 0x7fff, 'just under half the circle is ahead');
  assert.equal(sequenceDelta(0x8000, 0), -0x8000, 'half the circle away counts as behind');
  assert.equal(sequenceDelta(0x10005, 0x10000), 5, 'an unwrapped reference reads the same');
  assert.equal(sequenceDelta(0xffff, -1), 0, 'and a negative one');
});
