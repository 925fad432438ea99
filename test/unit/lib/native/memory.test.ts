/**
 * The addon's trimMemory: freed C-heap memory goes back to the system (RSS falls), off the JavaScript thread.
 * In a child process, so that the measure is this one's alone.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { skipWithoutAddon } from './fixtures.ts';

const loader = join(import.meta.dirname, '..', '..', '..', '..', 'lib', 'native', 'index.ts');

test('trimMemory gives freed C-heap memory back: RSS falls by most of what was freed', { skip: skipWithoutAddon }, () => {
  // 150 MB in 2 KB Buffers (under malloc's mmap threshold: from its heap, which keeps them mapped once freed),
  // a small one allocated after them (so that the heap's top is not free), then all but it dropped.
  const script = `const { nativeSrtp } = await import(${JSON.stringify(loader)});
    const rss = () => process.memoryUsage().rss;
    let held = Array.from({ length: 75_000 }, () => Buffer.allocUnsafeSlow(2048).fill(1));
    const pin = Buffer.allocUnsafeSlow(64);
    const full = rss();
    held = undefined;
    for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    const freed = rss();
    const trimmed = await new Promise((resolve) => nativeSrtp.trimMemory(resolve));
    console.log(JSON.stringify({ full, freed, after: rss(), trimmed, pin: pin.length }));`;
  const output = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  const { full, freed, after, trimmed } = JSON.parse(output) as { full: number; freed: number; after: number; trimmed: boolean };
  const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;
  assert.equal(trimmed, true);
  assert.ok(freed - after >= 100 * 1048576, `RSS ${mb(full)} full, ${mb(freed)} freed, ${mb(after)} trimmed`);
});

test("reduceHeap gets V8's pooled heap pages given back while the program keeps allocating (a full collection alone does not)", { skip: skipWithoutAddon }, () => {
  // 1.5 million small objects (about 150 MB of JavaScript heap) dropped, then full collections: V8 keeps the
  // pages in its pool, resident. Garbage made every 5 ms all along, as a server receiving its stream makes
  // it: V8's own memory reducer waits for a low allocation rate, which never comes.
  const script = (ask: boolean) => `const { nativeSrtp } = await import(${JSON.stringify(loader)});
    const rss = () => process.memoryUsage().rss;
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    let sink;
    const churn = setInterval(() => { sink = Array.from({ length: 2000 }, (_, i) => ({ i, s: 'x' + i })); }, 5);
    let held = Array.from({ length: 1_500_000 }, (_, i) => ({ i, next: null, name: 'n' + i }));
    held = undefined;
    for (let i = 0; i < 3; i++) { globalThis.gc(); await sleep(50); }
    const freed = rss();
    const asked = ${ask} && nativeSrtp.reduceHeap();
    let after = rss();
    for (let i = 0; i < 30 && freed - after < 80 * 1048576; i++) { await sleep(100); after = rss(); }
    clearInterval(churn);
    console.log(JSON.stringify({ freed, after, asked, sink: sink.length }));`;
  const run = (ask: boolean) => JSON.parse(
    execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script(ask)], { encoding: 'utf8', timeout: 30_000 }),
  ) as { freed: number; after: number; asked: boolean };
  const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;
  const asked = run(true);
  assert.equal(asked.asked, true, 'the addon found V8\'s memory-pressure call');
  assert.ok(asked.freed - asked.after >= 80 * 1048576, `RSS ${mb(asked.freed)} after the collections, ${mb(asked.after)} once asked`);
  const notAsked = run(false);
  assert.ok(notAsked.freed - notAsked.after < 40 * 1048576, `without it: ${mb(notAsked.freed)}, then ${mb(notAsked.after)} 3 s later`);
});
