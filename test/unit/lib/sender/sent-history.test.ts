import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SentHistory } from '../../../../lib/sender/sent-history.ts';

const packet = (fill: number) => Buffer.alloc(20, fill);

test('a packet is found by its sequence number with what it was sent with, until a later one takes its slot', () => {
  const history = new SentHistory(8);
  history.remember(packet(1), 65534, 90_000, 0x01_02_0003, 1_000);
  history.remember(packet(2), 65535, 93_000, 0, 1_033);
  history.remember(packet(3), 0, 96_000, 0, 1_066); // across the wrap
  assert.deepEqual({ ...history.find(65534)! }, { packet: packet(1), seq: 65534, timestamp: 90_000, patch: 0x01_02_0003, sentAtMs: 1_000 });
  assert.equal(history.find(0)!.timestamp, 96_000);
  assert.equal(history.find(8), undefined, 'seq 8 shares seq 0\'s slot but was never sent');
  assert.equal(history.find(1), undefined, 'an empty slot');
  history.remember(packet(4), 65542, 120_000, 0, 2_000); // 65542 & 7 === 65534 & 7
  assert.equal(history.find(65534), undefined, 'a later packet took its slot');
  assert.equal(history.find(65542)!.packet[0], 4);
});

test('a repair moves its send time; one for a packet no longer kept changes nothing', () => {
  const history = new SentHistory(4);
  history.remember(packet(1), 10, 0, 0, 1_000);
  history.resent(10, 1_500);
  assert.equal(history.find(10)!.sentAtMs, 1_500);
  history.resent(14, 9_999); // slot 2's seq is 10, not 14
  assert.equal(history.find(10)!.sentAtMs, 1_500);
});

test('its slots\' bytes: 28 per packet kept (a pointer and four numbers); the size must be a power of two', () => {
  assert.equal(new SentHistory(1024).bytes, 1024 * 28);
  for (const size of [0, 3, 1000, 1.5, -4]) assert.throws(() => new SentHistory(size), /size must be a power of two/);
});
