/** lib/session/load-guard.ts: a process whose event loop runs late, second after second, is full. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoadGuard } from '../../../../lib/session/load-guard.ts';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Keeps the event loop busy in 120 ms slices for `ms`. */
async function hog(ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const slice = performance.now() + 120;
    while (performance.now() < slice) { /* busy */ }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

test('an event loop late for two seconds in a row is overloaded; one that recovers is not', { timeout: 15_000 }, async () => {
  const guard = new LoadGuard({ maxEventLoopDelayMs: 40, maxEventLoopUtilization: 2 });
  guard.start();
  try {
    await sleep(1_100);
    assert.equal(guard.sample.overloaded, false, JSON.stringify(guard.sample));
    await hog(3_600);
    await sleep(50);
    assert.equal(guard.sample.overloaded, true, JSON.stringify(guard.sample));
    assert.ok(guard.sample.eventLoopDelayMs > 40);
    await sleep(2_200);
    assert.equal(guard.sample.overloaded, false, JSON.stringify(guard.sample));
  } finally {
    guard.stop();
  }
});
