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
