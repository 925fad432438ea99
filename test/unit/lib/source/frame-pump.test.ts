import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, test, type TestContext } from 'node:test';
import { FramePump } from '../../../../lib/source/frame-pump.ts';
import type { CustomStream, VideoFrame } from '../../../../lib/source/frames.ts';
import { recordingLogger } from '../../helpers.ts';

const goodFrame = (): VideoFrame => ({ data: new Uint8Array(4 * 4 * 3), width: 4, height: 4, format: 'rgb24' });

/**
 * A custom stream whose read() runs `duration(n)` ms of (fake or real) time for the n-th call (0: returns at
 * once), then yields `result(n)`. It records when each read started and ended and how many overlapped.
 */
function syntheticStream(options: { duration?: (n: number) => number; result?: (n: number) => VideoFrame | null | undefined } = {}) {
  const duration = options.duration ?? (() => 0);
  const result = options.result ?? goodFrame;
  const record = { starts: [] as number[], ends: [] as number[], running: 0, maxRunning: 0, stops: 0 };
  const stream: CustomStream = {
    read() {
      const n = record.starts.length;
      record.starts.push(Date.now());
      const ms = duration(n);
      if (ms === 0) {
        record.ends.push(Date.now());
        return result(n);
      }
      record.running++;
      record.maxRunning = Math.max(record.maxRunning, record.running);
      return new Promise((resolve) =>
        setTimeout(() => {
          record.running--;
          record.ends.push(Date.now());
          resolve(result(n));
        }, ms),
      );
    },
    stop() {
      record.stops++;
    },
  };
  return { stream, record };
}

/** Fake time: setInterval, setTimeout and Date follow `advance()`, 1 ms at a time with promises settled in between. */
function fakeTime(t: TestContext) {
  t.mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 0 });
  return async (ms: number) => {
    for (let i = 0; i < ms; i++) {
      t.mock.timers.tick(1);
      await nextTurn();
    }
  };
}

/** A started pump with its emitted frames and 'end's counted. */
function started(stream: CustomStream, framerate: number) {
  const logger = recordingLogger();
  const pump = new FramePump(stream, framerate, logger);
  const seen = { frames: 0, ends: 0 };
  pump.on('frame', () => seen.frames++);
  pump.on('end', () => seen.ends++);
  pump.start();
  return { pump, logger, seen };
}

describe('FramePump (fake time)', () => {
  test('reads framerate times a second; quick reads skip nothing', async (t) => {
    const advance = fakeTime(t);
    const { stream, record } = syntheticStream();
    const { pump, seen } = started(stream, 200);
    await advance(1_000);
    // The first read at start(), then one per 5 ms tick.
    assert.deepEqual(pump.stats(), { framesRead: 201, skippedTicks: 0, readErrors: 0, badFrames: 0 });
    assert.equal(seen.frames, 201);
    assert.equal(record.starts[1], 5);
    await pump.stop();
  });

  test('a slow read skips the ticks it overlaps, counts them, and never runs two reads at once', async (t) => {
    const advance = fakeTime(t);
    const { stream, record } = syntheticStream({ duration: () => 23 });
    const { pump, seen } = started(stream, 200);
    await advance(1_000);
    const stats = pump.stats();
    assert.equal(record.maxRunning, 1);
    // Reads run back to back (each end pays the tick it owes): 1000 / 23 of them, not 200.
    assert.ok(stats.framesRead >= 42 && stats.framesRead <= 44, `framesRead ${stats.framesRead}`);
    assert.ok(stats.skippedTicks >= 150 && stats.skippedTicks <= 200, `skippedTicks ${stats.skippedTicks}`);
    assert.equal(seen.frames, stats.framesRead);
    await pump.stop();
  });

  test('skipped ticks are never queued: after a 300 ms read, reading goes on at the frame rate', async (t) => {
    const advance = fakeTime(t);
    // Then 1 ms reads: a queue of the skipped ticks would run them back to back (about 100 in 100 ms).
    const { stream, record } = syntheticStream({ duration: (n) => (n === 0 ? 300 : 1) });
    const { pump } = started(stream, 200);
    await advance(300);
    assert.ok(pump.stats().skippedTicks >= 59, `skippedTicks ${pump.stats().skippedTicks}`);
    await advance(100);
    // The slow read, the one tick it owed, then one read per 5 ms: about 22 reads, not 60 more.
    const reads = record.starts.length;
    assert.ok(reads >= 20 && reads <= 23, `${reads} reads by 400 ms`);
    assert.equal(record.starts.filter((at) => at === 300).length, 1, 'one owed read when the slow one ended');
    await pump.stop();
  });

  test('one owed tick: a read slower than the frame interval is followed at once by the next', async (t) => {
    const advance = fakeTime(t);
    // 10 fps (100 ms ticks), reads of 130 ms: a capture paced by its own clock.
    const { stream, record } = syntheticStream({ duration: () => 130 });
    const { pump } = started(stream, 10);
    await advance(500);
    assert.deepEqual(record.starts, [0, 130, 260, 390], 'without the owed tick: 0, 200, 400');
    assert.equal(pump.stats().framesRead, 3);
    await pump.stop();
  });

  test('ends when read() returns null (or undefined): one "end", no more reads', async (t) => {
    for (const last of [null, undefined]) {
      const advance = fakeTime(t);
      const { stream, record } = syntheticStream({ result: (n) => (n < 3 ? goodFrame() : last) });
      const { pump, logger, seen } = started(stream, 200);
      await advance(100);
      assert.deepEqual(seen, { frames: 3, ends: 1 });
      assert.equal(record.starts.length, 4);
      assert.ok(logger.lines.some((line) => line.level === 'info' && /custom stream has ended/.test(line.message)));
      pump.start(); // a finished pump does not start again
      await advance(50);
      assert.equal(record.starts.length, 4);
      await pump.stop();
      t.mock.timers.reset();
    }
  });

  test('an async read() that resolves null ends the stream too', async (t) => {
    const advance = fakeTime(t);
    const { stream } = syntheticStream({ duration: () => 7, result: (n) => (n < 2 ? goodFrame() : null) });
    const { pump, seen } = started(stream, 200);
    await advance(100);
    assert.deepEqual(seen, { frames: 2, ends: 1 });
    await pump.stop();
  });

  test('bad frames are counted and skipped; the good ones still go out', async (t) => {
    const advance = fakeTime(t);
    const bad = { data: new Uint8Array(10), width: 4, height: 4, format: 'rgb24' } as VideoFrame;
    const { stream } = syntheticStream({ result: (n) => (n % 2 ? bad : goodFrame()) });
    const { pump, logger, seen } = started(stream, 200);
    await advance(95); // 20 reads
    assert.deepEqual(pump.stats(), { framesRead: 10, skippedTicks: 0, readErrors: 0, badFrames: 10 });
    assert.equal(seen.frames, 10);
    const complaints = logger.lines.filter((line) => line.level === 'error');
    assert.equal(complaints.length, 1, 'said once (rate-limited)');
    assert.match(complaints[0]!.message, /customStream frame skipped: frame\.data holds 10 bytes; a 4x4 rgb24 frame takes 48/);
    await pump.stop();
  });

  test('read() errors (thrown or rejected) are counted and logged at most every 5 s, with how many were kept quiet', async (t) => {
    const advance = fakeTime(t);
    let n = 0;
    const stream: CustomStream = {
      read() {
        n++;
        if (n % 2) throw new Error(`camera unplugged #${n}`);
        return Promise.reject(new Error(`camera unplugged #${n}`));
      },
      stop() {},
    };
    const { pump, logger } = started(stream, 200);
    await advance(12_000);
    const stats = pump.stats();
    assert.equal(stats.readErrors, 2_401, 'every tick a read, every read an error');
    assert.equal(stats.framesRead, 0);
    const errors = logger.lines.filter((line) => line.level === 'error').map((line) => line.message);
    assert.equal(errors.length, 3, `at 0, 5 and 10 s: ${errors.length} lines`);
    assert.match(errors[0]!, /^customStream\.read\(\) failed: Error: camera unplugged #1\n/);
    assert.match(errors[1]!, /camera unplugged #1001\n[\s\S]* \(and 999 more since the last report\)$/);
    assert.match(errors[2]!, / \(and 999 more since the last report\)$/);
    await pump.stop();
  });

  test('stop() stops reading, drops a frame still being read, and calls stream.stop() once', async (t) => {
    const advance = fakeTime(t);
    const { stream, record } = syntheticStream({ duration: () => 20 });
    const { pump, seen } = started(stream, 200);
    await advance(30); // the second read is running
    const stopping = pump.stop();
    assert.equal(pump.stop(), stopping, 'the same promise');
    await stopping;
    await advance(100);
    assert.equal(seen.frames, 1);
    assert.equal(record.starts.length, 2);
    assert.equal(record.stops, 1);
  });

  test('a stop() that throws is logged, not thrown', async () => {
    const logger = recordingLogger();
    const pump = new FramePump({ read: () => null, stop: () => Promise.reject(new Error('device busy')) }, 30, logger);
    await pump.stop();
    assert.deepEqual(logger.lines, [{ level: 'warn', message: 'customStream.stop() failed: device busy' }]);
    pump.start(); // stopped for good
    await nextTurn();
    assert.equal(pump.stats().framesRead, 0);
  });
});

describe('FramePump (real time, 200 fps)', () => {
  // Loose bounds: the machine may be loaded. What matters is the shape, not the exact counts.
  test('quick reads keep up; 12 ms reads skip ticks without piling up or overlapping', async () => {
    const quick = syntheticStream();
    const slow = syntheticStream({ duration: () => 12 });
    const a = started(quick.stream, 200);
    const b = started(slow.stream, 200);
    const began = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await Promise.all([a.pump.stop(), b.pump.stop()]);
    const elapsed = performance.now() - began;
    const quickStats = a.pump.stats();
    const slowStats = b.pump.stats();
    assert.ok(quickStats.framesRead >= 10 && quickStats.framesRead <= elapsed / 5 + 2, `quick: ${JSON.stringify(quickStats)} in ${elapsed} ms`);
    assert.equal(quickStats.skippedTicks, 0, 'a read that returns at once never overlaps a tick');
    assert.equal(slow.record.maxRunning, 1);
    assert.ok(slowStats.framesRead >= 3 && slowStats.framesRead <= elapsed / 12 + 2, `slow: ${JSON.stringify(slowStats)} in ${elapsed} ms`);
    assert.ok(slowStats.skippedTicks >= 1, `slow: ${JSON.stringify(slowStats)}`);
  });
});
