import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_RETRANSMIT_AGE_MS, NackResponder, RETRANSMIT_SHARE } from '../../../../lib/sender/nack-responder.ts';

/** A send history: sequence number → when it was last sent (ms). */
function history(entries: Record<number, number> = {}) {
  const sentAt = new Map(Object.entries(entries).map(([seq, at]) => [Number(seq), at]));
  return { sentAt, responder: new NackResponder({ sentAt: (seq) => sentAt.get(seq) }) };
}

const MBIT = 1_000_000;
/** Packets of 1250 bytes the budget holds when full: the share of the estimate over 200 ms. */
const fullBudget = (estimate: number) => Math.floor((estimate * RETRANSMIT_SHARE * 0.2) / 8 / 1250);

describe('NackResponder', () => {
  test('answers a packet still in the history, sent longer than a round trip ago and under a second ago', () => {
    const { responder } = history({ 10: 1000, 11: 1000 });
    assert.deepEqual(responder.answer([10, 11], 1100, 2 * MBIT, 40), [10, 11]);
    assert.deepEqual(responder.counts, { requested: 2, answered: 2, refused: 0 });
  });

  test('a packet answered and still waiting in the pacer (its send time not yet new) is not answered twice', () => {
    const { responder } = history({ 7: 1000 });
    assert.deepEqual(responder.answer([7, 7], 1100, 2 * MBIT, 40), [7], 'once, even named twice in one NACK');
    assert.deepEqual(responder.answer([7], 1110, 2 * MBIT, 40), [], 'NACKed again before the copy left');
    assert.deepEqual(responder.answer([7], 1150, 2 * MBIT, 40), [7], 'a round trip after the answer');
  });

  test('after a restart on a keyframe (a switch, a replay), packets sent before it are refused: their budget is the keyframe\'s', () => {
    const sent = Object.fromEntries([65530, 65531, 65535, 0, 1, 2, 3].map((seq) => [seq, 1000]));
    const { responder } = history(sent);
    responder.restartedAt(1, 1000); // across the wrap: 65530…0 came before it
    assert.deepEqual(responder.answer([65530, 65531, 65535, 0, 1, 2, 3], 1100, 2 * MBIT, 40), [1, 2, 3]);
    assert.deepEqual(responder.counts, { requested: 7, answered: 3, refused: 4 });
    // Long after the restart, the numbers have come round: 2^15 + 10 packets on looks "before" it, but is not.
    const later = (1 + 0x8000 + 10) & 0xffff;
    const { responder: long } = history({ [later]: 200_000 });
    long.restartedAt(1, 1000);
    assert.deepEqual(long.answer([later], 200_100, 2 * MBIT, 40), [later]);
    // On a thin link the budget holds a few packets: the old rung's NACKs, asked first, no longer take them.
    const thin = history(Object.fromEntries(Array.from({ length: 40 }, (_, seq) => [seq, 1000])));
    thin.responder.restartedAt(30, 1000);
    const asked = Array.from({ length: 40 }, (_, seq) => seq);
    assert.deepEqual(thin.responder.answer(asked, 1100, 600_000, 40), asked.slice(30, 30 + fullBudget(600_000)));
  });

  test('refuses a packet that is gone from the history', () => {
    const { responder } = history({ 10: 1000 });
    assert.deepEqual(responder.answer([9, 10, 12], 1100, 2 * MBIT, 40), [10]);
    assert.deepEqual(responder.counts, { requested: 3, answered: 1, refused: 2 });
  });

  test(`refuses a packet sent more than ${MAX_RETRANSMIT_AGE_MS} ms ago: the browser has given up on it`, () => {
    const { responder } = history({ 1: 0, 2: 1, 3: 100 });
    assert.deepEqual(responder.answer([1, 2, 3], 1000.5, 2 * MBIT, 40), [2, 3]);
    assert.deepEqual(responder.answer([1, 2, 3], 1050.5, 2 * MBIT, 40), [3], 'a round trip later, 2 is too old');
    assert.deepEqual(responder.counts, { requested: 6, answered: 3, refused: 3 });
  });

  test('refuses a packet sent again within the last round trip (its copy may still be on its way); 80 % of the RTT, at least 5 ms', () => {
    const { sentAt, responder } = history({ 1: 1000 });
    assert.deepEqual(responder.answer([1], 1000 + 0.8 * 100 - 1, 2 * MBIT, 100), [], 'too soon');
    assert.deepEqual(responder.answer([1], 1000 + 0.8 * 100, 2 * MBIT, 100), [1]);
    sentAt.set(1, 1080); // the retransmission left
    assert.deepEqual(responder.answer([1], 1120, 2 * MBIT, 100), [], 'NACKed again before the resent copy could arrive');
    assert.deepEqual(responder.answer([1], 1180, 2 * MBIT, 100), [1], 'a round trip later it is lost again');
    // On a link with almost no RTT, still not twice within 5 ms.
    sentAt.set(1, 2000);
    assert.deepEqual(responder.answer([1], 2004.9, 2 * MBIT, 0.5), []);
    assert.deepEqual(responder.answer([1], 2005, 2 * MBIT, 0.5), [1]);
  });

  test(`the budget: ${RETRANSMIT_SHARE * 100} % of the estimate saved over 200 ms, one full packet per answer`, () => {
    const lost = Array.from({ length: 100 }, (_, i) => i);
    const { responder } = history(Object.fromEntries(lost.map((seq) => [seq, 0])));
    const first = responder.answer(lost, 500, MBIT, 40);
    assert.equal(fullBudget(MBIT), 6);
    assert.deepEqual(first, lost.slice(0, 6), 'the first six, in the order asked');
    assert.deepEqual(responder.counts, { requested: 100, answered: 6, refused: 94 });
    // Spent: nothing more at once.
    assert.deepEqual(responder.answer([50], 500, MBIT, 40), []);
  });

  test('the budget refills with time at the share of the estimate, up to 200 ms worth', () => {
    const lost = Array.from({ length: 100 }, (_, i) => i);
    const { responder } = history(Object.fromEntries(lost.map((seq) => [seq, 0])));
    responder.answer(lost, 100, MBIT, 40); // spent (6 answered)
    // 1 Mbit/s × 30 % = 37.5 bytes/ms: a 1250-byte packet every 33.3 ms.
    assert.deepEqual(responder.answer([10], 133, MBIT, 40), [], '33 ms: not quite one packet');
    assert.deepEqual(responder.answer([10], 134, MBIT, 40), [10]);
    assert.equal(responder.answer(lost.slice(20), 134 + 600, MBIT, 40).length, 6, 'a long pause (600 ms) saves no more than 200 ms worth');
    // A higher estimate refills faster and holds more.
    assert.equal(responder.answer(lost.slice(40), 134 + 600 + 200, 4 * MBIT, 40).length, fullBudget(4 * MBIT));
  });

  test('an unlimited estimate (no transport-cc: the pacer does not hold back) answers everything that may help', () => {
    const lost = Array.from({ length: 500 }, (_, i) => i);
    const { responder } = history(Object.fromEntries(lost.map((seq) => [seq, 0])));
    assert.equal(responder.answer(lost, 100, 1e9, 50).length, 500);
  });

  test('refusals are counted whatever the reason; an empty NACK changes nothing', () => {
    const { responder } = history({ 1: 0, 2: 990, 3: 900 });
    responder.answer([], 1000, MBIT, 40);
    assert.deepEqual(responder.counts, { requested: 0, answered: 0, refused: 0 });
    // 0: gone; 1: too old; 2: too soon; 3: answered.
    assert.deepEqual(responder.answer([0, 1, 2, 3], 1001, MBIT, 40), [3]);
    assert.deepEqual(responder.counts, { requested: 4, answered: 1, refused: 3 });
  });
});
