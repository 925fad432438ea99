/** lib/session/join-queue.ts: joins start one at a time, in order, only while the event loop is on time; bounded waits. */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { SignalingError } from '../../../../lib/errors.ts';
import { JoinQueue } from '../../../../lib/session/join-queue.ts';

const refusal = (pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof SignalingError);
  assert.equal(error.status, 503);
  assert.match(error.message, pattern);
  return true;
};

/** Keeps the event loop busy for `ms` (what a burst of handshakes does). */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('a join starts at once when none waits; joins offered together start in order, one per interval', async () => {
  const queue = new JoinQueue({ intervalMs: 20, maxLateMs: 15, maxWaitMs: 5_000, maxWaiting: 100 });
  const started: Array<[number, number]> = [];
  const t0 = performance.now();
  await Promise.all([0, 1, 2, 3].map((index) => queue.turn().then(() => started.push([index, performance.now() - t0]))));
  assert.deepEqual(started.map(([index]) => index), [0, 1, 2, 3], 'first come, first served');
  // Margins for a busy test process (a collection between a start and its callback); unpaced, both are ~0.
  assert.ok(started[0]![1] < 10, `the first at once (${started[0]![1].toFixed(1)} ms)`);
  for (let i = 1; i < started.length; i++) {
    const gap = started[i]![1] - started[i - 1]![1];
    assert.ok(gap >= 15, `one per interval: ${gap.toFixed(1)} ms between joins ${i - 1} and ${i}`);
  }
  assert.equal(queue.waiting, 0);
});

test('while the event loop runs late no join starts: the next one waits for a timer that came on time', async () => {
  const queue = new JoinQueue({ intervalMs: 20, maxLateMs: 10, maxWaitMs: 5_000, maxWaiting: 100 });
  await queue.turn();
  let startedAt = 0;
  const waiting = queue.turn().then(() => {
    startedAt = performance.now();
  });
  block(120); // the timer due in 20 ms fires 100 ms late
  const blockEnd = performance.now();
  await waiting;
  // Without the check it would start on the late timer, at once; with it, one interval later.
  assert.ok(startedAt - blockEnd >= 15, `started ${(startedAt - blockEnd).toFixed(1)} ms after the loop was free again`);
});

test('a join that waits longer than maxWaitMs, or finds maxWaiting waiting, gets a 503 with Retry-After; the others go on', async () => {
  const queue = new JoinQueue({ intervalMs: 200, maxLateMs: 50, maxWaitMs: 250, maxWaiting: 2 });
  await queue.turn();
  const second = queue.turn(); // due in 200 ms
  const third = queue.turn(); // due in 400 ms: past its 250 ms
  await assert.rejects(queue.turn(), (error: unknown) => refusal(/2 viewers are waiting to join/)(error) && (error as SignalingError).headers['Retry-After'] === '2');
  await second;
  await assert.rejects(third, refusal(/no turn to join within 250 ms/));
  assert.equal(queue.waiting, 0);
});

test('close() refuses the joins still waiting and any later one', async () => {
  const queue = new JoinQueue({ intervalMs: 1_000, maxLateMs: 50, maxWaitMs: 5_000, maxWaiting: 10 });
  await queue.turn();
  const waiting = queue.turn();
  queue.close();
  await assert.rejects(waiting, refusal(/the stream is closed/));
  await assert.rejects(queue.turn(), refusal(/the stream is closed/));
});

test('options must be positive numbers, named in the error', () => {
  assert.throws(() => new JoinQueue({ intervalMs: 0, maxLateMs: 1, maxWaitMs: 1, maxWaiting: 1 }), /intervalMs must be a positive number \(got 0\)/);
  assert.throws(() => new JoinQueue({ intervalMs: 1, maxLateMs: 1, maxWaitMs: Number.NaN, maxWaiting: 1 }), /maxWaitMs must be a positive number/);
});

test('while hold() says so no join starts, not even the first; they start in order once it lets go', async () => {
  let held = true;
  const queue = new JoinQueue({ intervalMs: 5, maxLateMs: 50, maxWaitMs: 5_000, maxWaiting: 10, hold: () => held });
  const started: number[] = [];
  const turns = [0, 1, 2].map((index) => queue.turn().then(() => started.push(index)));
  await new Promise((resolve) => setTimeout(resolve, 100)); // twenty intervals, all of them on time
  assert.deepEqual(started, [], 'none started while held');
  assert.equal(queue.waiting, 3);
  held = false;
  await Promise.all(turns);
  assert.deepEqual(started, [0, 1, 2]);
});
