import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { MemoryTrim } from '../../../../lib/session/memory-trim.ts';

function counted(): { calls: number[]; trim: (done: (trimmed: boolean) => void) => void } {
  const calls: number[] = [];
  return { calls, trim: (done) => (calls.push(performance.now()), setImmediate(() => done(true))) };
}

test('one trim once viewers have stopped coming and going for quietMs, not one per change', async () => {
  const { calls, trim } = counted();
  // quietMs well above the 10 ms between changes: a timer late by tens of ms (the unit lane runs its files
  // side by side on 2 cores) is not a quiet spell (at quietMs 40, one was: a trim while they still came).
  const memory = new MemoryTrim({ trim, quietMs: 200, minIntervalMs: 0, laterMs: [] });
  const start = performance.now();
  let lastChange = start;
  for (let i = 0; i < 5; i++) {
    memory.changed();
    lastChange = performance.now();
    await sleep(10);
  }
  assert.equal(calls.length, 0, 'not while they still come');
  await sleep(400);
  assert.equal(calls.length, 1);
  assert.ok(calls[0]! - lastChange >= 195, `${calls[0]! - lastChange} ms after the last change`);
  assert.deepEqual(memory.counts, { runs: 1, trimmed: 1, heapReductions: 0 });
});

test('at most one trim per minIntervalMs; none after cancel(); nothing to do without a trim', async () => {
  const { calls, trim } = counted();
  const memory = new MemoryTrim({ trim, quietMs: 10, minIntervalMs: 150, laterMs: [] });
  memory.changed();
  await sleep(40);
  memory.changed();
  await sleep(40);
  assert.equal(calls.length, 1, 'the second waits for the interval');
  await sleep(120);
  assert.equal(calls.length, 2);
  assert.ok(calls[1]! - calls[0]! >= 145, `${calls[1]! - calls[0]!} ms apart`);
  memory.changed();
  memory.cancel();
  await sleep(200);
  assert.equal(calls.length, 2);
  const none = new MemoryTrim({ trim: undefined });
  none.changed();
  assert.deepEqual(none.counts, { runs: 0, trimmed: 0, heapReductions: 0 });
});

test('then again at laterMs while nothing changes (what the garbage collector frees later); a change starts over', async () => {
  const { calls, trim } = counted();
  const memory = new MemoryTrim({ trim, quietMs: 10, minIntervalMs: 0, laterMs: [60, 120] });
  memory.changed();
  await sleep(200);
  assert.equal(calls.length, 3);
  assert.ok(calls[1]! - calls[0]! >= 55 && calls[2]! - calls[0]! >= 115, JSON.stringify(calls.map((t) => t - calls[0]!)));
  memory.changed();
  await sleep(40);
  assert.equal(calls.length, 4, 'a change: the first pass again');
  memory.changed();
  await sleep(40);
  assert.equal(calls.length, 5);
  memory.cancel();
  await sleep(150);
  assert.equal(calls.length, 5, 'cancel() stops the later passes too');
});

test('when viewers only came, the later passes give the C heap back but ask the JavaScript engine for nothing', async () => {
  const { calls, trim } = counted();
  let asked = 0;
  const memory = new MemoryTrim({ trim, reduceHeap: () => (asked++, true), quietMs: 10, minIntervalMs: 0, laterMs: [40, 80] });
  memory.changed('joined');
  memory.changed('joined');
  await sleep(250);
  assert.equal(calls.length, 3, 'every pass trims');
  assert.equal(asked, 1, 'the first pass only: the handshakes\' garbage');
  // One left: its objects die over the collections after it, so every pass asks again.
  memory.changed('joined');
  memory.changed('left');
  await sleep(250);
  assert.equal(calls.length, 6);
  assert.equal(asked, 4);
  // And the spell after it, with joins only, is back to the first pass.
  memory.changed('joined');
  await sleep(250);
  assert.equal(calls.length, 9);
  assert.equal(asked, 5);
  assert.deepEqual(memory.counts, { runs: 9, trimmed: 9, heapReductions: 5 });
  memory.cancel();
});

test('each pass asks the JavaScript engine to give its free pages back too, where it can', async () => {
  const { calls, trim } = counted();
  let asked = 0;
  const memory = new MemoryTrim({ trim, reduceHeap: () => (asked++, true), quietMs: 10, minIntervalMs: 0, laterMs: [40] });
  memory.changed();
  await sleep(120);
  assert.equal(calls.length, 2);
  assert.equal(asked, 2, 'once per pass');
  assert.deepEqual(memory.counts, { runs: 2, trimmed: 2, heapReductions: 2 });
  const cannot = new MemoryTrim({ trim, reduceHeap: () => false, quietMs: 10, minIntervalMs: 0, laterMs: [] });
  cannot.changed();
  await sleep(60);
  assert.equal(cannot.counts.heapReductions, 0);
  memory.cancel();
});
