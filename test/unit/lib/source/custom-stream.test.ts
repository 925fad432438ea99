import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, test, type TestContext } from 'node:test';
import { CustomStreamInput, type CustomStreamHost } from '../../../../lib/source/custom-stream.ts';
import type { RawFrameGeometry } from '../../../../lib/source/ffmpeg/ffmpeg-args.ts';
import type { FfmpegProcess } from '../../../../lib/source/ffmpeg/ffmpeg-process.ts';
import { frameByteLength, type PixelFormat, type VideoFrame } from '../../../../lib/source/frames.ts';
import { recordingLogger } from '../../helpers.ts';

const frame = (width: number, height: number, format: PixelFormat = 'rgb24', fill = 0): VideoFrame =>
  ({ data: new Uint8Array(frameByteLength(width, height, format)).fill(fill), width, height, format });

/** An ffmpeg run that keeps the frames written to it, or refuses them (a busy stdin). */
class FakeRun {
  readonly geometry: RawFrameGeometry;
  readonly written: Uint8Array[] = [];
  accepting = true;
  constructor(geometry: RawFrameGeometry) {
    this.geometry = geometry;
  }
  writeFrame(data: Uint8Array): boolean {
    if (this.accepting) this.written.push(data);
    return this.accepting;
  }
}

/** The supervisor's side: starts a fake run per geometry (or none while "backing off"). */
class FakeHost implements CustomStreamHost {
  run: FfmpegProcess | undefined;
  readonly runs: FakeRun[] = [];
  backingOff = false;
  ended = 0;
  respawnMs = 0;
  async respawn(geometry: RawFrameGeometry): Promise<FfmpegProcess | undefined> {
    if (this.respawnMs) await new Promise((resolve) => setTimeout(resolve, this.respawnMs));
    if (this.backingOff) return undefined;
    const run = new FakeRun(geometry);
    this.runs.push(run);
    this.run = run as unknown as FfmpegProcess;
    return this.run;
  }
  inputEnded(): void {
    this.ended++;
  }
  get current(): FakeRun {
    return this.run as unknown as FakeRun;
  }
}

/** Fake time, 1 ms at a time with promises settled in between. */
function fakeTime(t: TestContext) {
  t.mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 0 });
  return async (ms: number) => {
    for (let i = 0; i < ms; i++) {
      t.mock.timers.tick(1);
      await nextTurn();
    }
  };
}

/** A custom stream handing out `frames` in turn (one per read), then null. */
function streamOf(frames: VideoFrame[]) {
  let next = 0;
  return { read: () => frames[next++] ?? null, stop: () => {} };
}

describe('CustomStreamInput', () => {
  test('the first frame starts a run for its geometry and is its first frame; the next ones follow', async (t) => {
    const advance = fakeTime(t);
    const host = new FakeHost();
    const frames = [frame(4, 2, 'rgb24', 1), frame(4, 2, 'rgb24', 2), frame(4, 2, 'rgb24', 3)];
    const input = new CustomStreamInput(streamOf(frames), 100, recordingLogger(), host);
    input.start();
    await advance(25);
    assert.equal(host.runs.length, 1);
    assert.deepEqual(host.runs[0]!.geometry, { width: 4, height: 2, format: 'rgb24' });
    assert.deepEqual(input.geometry, { width: 4, height: 2, format: 'rgb24' });
    assert.deepEqual(host.current.written.map((data) => data[0]), [1, 2, 3]);
    await input.stop();
  });

  test('a frame of another size or format replaces the run; viewers see one stream', async (t) => {
    const advance = fakeTime(t);
    const host = new FakeHost();
    const frames = [frame(4, 2), frame(4, 2), frame(6, 4), frame(6, 4), frame(6, 4, 'rgba'), frame(6, 4, 'rgba')];
    const input = new CustomStreamInput(streamOf(frames), 100, recordingLogger(), host);
    input.start();
    await advance(65);
    assert.deepEqual(host.runs.map((run) => run.geometry), [
      { width: 4, height: 2, format: 'rgb24' }, { width: 6, height: 4, format: 'rgb24' }, { width: 6, height: 4, format: 'rgba' },
    ]);
    assert.deepEqual(host.runs.map((run) => run.written.length), [2, 2, 2]);
    assert.equal(input.stats().framesDropped, 0);
    await input.stop();
  });

  test('frames ffmpeg is too busy to take are counted as dropped, as are frames with no run', async (t) => {
    const advance = fakeTime(t);
    const host = new FakeHost();
    const input = new CustomStreamInput(streamOf(Array.from({ length: 6 }, () => frame(4, 2))), 100, recordingLogger(), host);
    input.start();
    await advance(15); // frames 1 and 2 written
    host.current.accepting = false;
    await advance(20); // frames 3 and 4 refused
    host.run = undefined; // the run died; the supervisor has not replaced it yet
    await advance(10); // frame 5: no run
    assert.equal(input.stats().framesDropped, 3);
    assert.equal(input.stats().framesRead, 5);
    await input.stop();
  });

  test('while a new run starts, frames are skipped (not dropped, not queued)', async (t) => {
    const advance = fakeTime(t);
    const host = new FakeHost();
    host.respawnMs = 35;
    const input = new CustomStreamInput(streamOf(Array.from({ length: 8 }, (_, i) => frame(4, 2, 'rgb24', i))), 100, recordingLogger(), host);
    input.start();
    await advance(75);
    // Frame 0 starts the run (35 ms); frames 1-3 come meanwhile and are skipped; then 4-7.
    assert.deepEqual(host.current.written.map((data) => data[0]), [0, 4, 5, 6, 7]);
    assert.equal(input.stats().framesDropped, 0);
    await input.stop();
  });

  test('no run while the supervisor backs off: the next frame asks again; runLost() forgets the geometry', async (t) => {
    const advance = fakeTime(t);
    const host = new FakeHost();
    host.backingOff = true;
    const input = new CustomStreamInput(streamOf(Array.from({ length: 6 }, () => frame(4, 2))), 100, recordingLogger(), host);
    input.start();
    await advance(15);
    assert.equal(host.runs.length, 0);
    assert.equal(input.geometry, undefined);
    host.backingOff = false;
    await advance(10);
    assert.equal(host.runs.length, 1);
    input.runLost();
    assert.equal(input.geometry, undefined);
    await advance(10);
    assert.equal(host.runs.length, 2, 'the next frame starts a new run');
    await input.stop();
  });

  test("a canvas's Uint8ClampedArray is written as bytes over the same memory", async (t) => {
    const advance = fakeTime(t);
    const host = new FakeHost();
    const clamped = new Uint8ClampedArray(frameByteLength(2, 2, 'rgba')).fill(200);
    const input = new CustomStreamInput(streamOf([{ data: clamped, width: 2, height: 2, format: 'rgba' }]), 100, recordingLogger(), host);
    input.start();
    await advance(5);
    const written = host.current.written[0]!;
    assert.ok(written instanceof Uint8Array);
    assert.equal(written.buffer, clamped.buffer);
    assert.equal(written.byteLength, 16);
    await input.stop();
  });

  test('the end of the stream reaches the host once', async (t) => {
    const advance = fakeTime(t);
    const host = new FakeHost();
    const input = new CustomStreamInput(streamOf([frame(4, 2)]), 100, recordingLogger(), host);
    input.start();
    assert.equal(input.ended, false);
    await advance(50);
    assert.equal(input.ended, true);
    assert.equal(host.ended, 1);
    await input.stop();
  });
});
