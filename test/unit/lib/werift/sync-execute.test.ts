/**
 * werift patch 011 (sync-execute): Event.execute() calls its subscribers and makes no promise unless the
 * Event has queuing subscribers, which it still awaits in order (errors to onerror), as before.
 */
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { Event } from 'werift';

/** How many promises `run` made (async_hooks sees every one V8 creates while the hook is on). */
function promisesMadeBy(run: () => void): number {
  let made = 0;
  const hook = createHook({ init: (_id, type) => void (type === 'PROMISE' && made++) }).enable();
  try {
    run();
  } finally {
    hook.disable();
  }
  return made;
}

for (const [build, EventClass] of [['ESM bundle', Event], ['CommonJS build', (createRequire(import.meta.url)('werift') as { Event: typeof Event }).Event]] as const) {
  test(`${build}: execute() with plain subscribers (or none) makes no promise and calls each in order`, () => {
    const event = new EventClass<[number]>();
    const got: string[] = [];
    event.subscribe((value) => got.push(`a${value}`));
    event.subscribe((value) => got.push(`b${value}`));
    const execute = event.execute; // bound once (patch 010), outside the measured calls
    assert.equal(promisesMadeBy(() => { for (let i = 0; i < 100; i++) execute(i); }), 0);
    assert.deepEqual(got.slice(0, 4), ['a0', 'b0', 'a1', 'b1']);
    assert.equal(got.length, 200);
    const empty = new EventClass<[number]>();
    const emptyExecute = empty.execute;
    assert.equal(promisesMadeBy(() => emptyExecute(1)), 0);
  });

  test(`${build}: queuing subscribers are still awaited one after the other, their errors go to onerror`, async () => {
    const event = new EventClass<[number]>();
    const got: string[] = [];
    event.subscribe((value) => got.push(`plain ${value}`));
    event.queuingSubscribe(async (value) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      got.push(`first ${value}`);
    });
    event.queuingSubscribe(async (value) => {
      got.push(`second ${value}`);
      if (value === 2) throw new Error('boom');
    });
    const errors: unknown[] = [];
    event.onerror = (error: unknown) => void errors.push(error);
    assert.ok(promisesMadeBy(() => event.execute(1)) > 0, 'an Event with queuing subscribers still runs them asynchronously');
    assert.deepEqual(got, ['plain 1'], 'plain ones now, queued ones later');
    event.execute(2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Each call's queued subscribers run in order, the second after the first has finished.
    assert.deepEqual(got, ['plain 1', 'plain 2', 'first 1', 'second 1', 'first 2', 'second 2']);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /boom/);
  });
}
