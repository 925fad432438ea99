import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { frameByteLength, frameProblem, isCustomStream, PIXEL_FORMATS, type PixelFormat } from '../../../../lib/source/frames.ts';

describe('frameByteLength', () => {
  test('packed RGB, RGBA and gray', () => {
    assert.equal(frameByteLength(640, 480, 'rgb24'), 640 * 480 * 3);
    assert.equal(frameByteLength(640, 480, 'bgr24'), 640 * 480 * 3);
    assert.equal(frameByteLength(640, 480, 'rgba'), 640 * 480 * 4);
    assert.equal(frameByteLength(640, 480, 'bgra'), 640 * 480 * 4);
    assert.equal(frameByteLength(640, 480, 'gray'), 640 * 480);
  });

  test('yuv420p: full-size Y, then U and V at half size rounded up (odd sizes included)', () => {
    assert.equal(frameByteLength(640, 480, 'yuv420p'), 640 * 480 * 1.5);
    assert.equal(frameByteLength(641, 479, 'yuv420p'), 641 * 479 + 2 * 321 * 240);
    assert.equal(frameByteLength(3, 3, 'yuv420p'), 9 + 2 * 2 * 2);
  });

  test('covers every pixel format', () => {
    assert.deepEqual([...PIXEL_FORMATS].sort(), ['bgr24', 'bgra', 'gray', 'rgb24', 'rgba', 'yuv420p']);
    for (const format of PIXEL_FORMATS) assert.ok(frameByteLength(4, 4, format) > 0, format);
  });
});

describe('frameProblem', () => {
  const frame = (format: PixelFormat, width: number, height: number) =>
    ({ data: new Uint8Array(frameByteLength(width, height, format)), width, height, format });

  test('a well-formed frame has no problem, in every format, as a Buffer or a canvas array too', () => {
    for (const format of PIXEL_FORMATS) assert.equal(frameProblem(frame(format, 33, 17)), undefined, format);
    assert.equal(frameProblem({ ...frame('rgba', 4, 4), data: Buffer.alloc(64) }), undefined);
    assert.equal(frameProblem({ ...frame('rgba', 4, 4), data: new Uint8ClampedArray(64) }), undefined);
    assert.equal(frameProblem(frame('gray', 2, 2)), undefined, 'the smallest frame');
  });

  test('not an object', () => {
    assert.equal(frameProblem(42), 'read() returned number, not a frame');
    assert.equal(frameProblem('frame'), 'read() returned string, not a frame');
    assert.equal(frameProblem(undefined), 'read() returned undefined, not a frame');
  });

  test('data of the wrong kind', () => {
    const message = 'frame.data must be a Uint8Array (a Buffer is one) or a Uint8ClampedArray (canvas ImageData.data)';
    assert.equal(frameProblem({ ...frame('gray', 4, 4), data: Array.from({ length: 16 }, () => 0) }), message);
    assert.equal(frameProblem({ ...frame('gray', 4, 4), data: new Uint16Array(8) }), message);
    assert.equal(frameProblem({ ...frame('gray', 4, 4), data: new ArrayBuffer(16) }), message);
    assert.equal(frameProblem({ width: 4, height: 4, format: 'gray' }), message);
  });

  test('sizes that are not integers ≥ 2', () => {
    assert.equal(frameProblem({ ...frame('gray', 4, 4), width: 1 }), 'frame.width and frame.height must be integers ≥ 2 (got 1x4)');
    assert.equal(frameProblem({ ...frame('gray', 4, 4), height: 4.5 }), 'frame.width and frame.height must be integers ≥ 2 (got 4x4.5)');
    assert.equal(frameProblem({ ...frame('gray', 4, 4), width: '4' }), 'frame.width and frame.height must be integers ≥ 2 (got 4x4)');
    assert.equal(frameProblem({ ...frame('gray', 4, 4), height: undefined }), 'frame.width and frame.height must be integers ≥ 2 (got 4xundefined)');
  });

  test('an unknown format names the known ones', () => {
    assert.equal(
      frameProblem({ ...frame('gray', 4, 4), format: 'nv12' }),
      'frame.format must be one of rgb24, bgr24, rgba, bgra, gray, yuv420p (got "nv12")',
    );
    assert.match(frameProblem({ ...frame('gray', 4, 4), format: undefined })!, /\(got undefined\)$/);
  });

  test('data of the wrong length says how long it should be', () => {
    assert.equal(
      frameProblem({ data: new Uint8Array(640 * 480 * 3), width: 640, height: 480, format: 'rgba' }),
      'frame.data holds 921600 bytes; a 640x480 rgba frame takes 1228800',
    );
    assert.equal(
      frameProblem({ data: new Uint8Array(641 * 479 * 1.5), width: 641, height: 479, format: 'yuv420p' }),
      `frame.data holds ${new Uint8Array(641 * 479 * 1.5).byteLength} bytes; a 641x479 yuv420p frame takes ${641 * 479 + 2 * 321 * 240}`,
    );
  });
});

describe('isCustomStream', () => {
  test('an object with callable read() and stop()', () => {
    assert.equal(isCustomStream({ read: () => null, stop: () => {} }), true);
    assert.equal(isCustomStream({ read: async () => null, stop: async () => {} }), true);
    class Capture {
      read() {
        return null;
      }
      stop() {}
    }
    assert.equal(isCustomStream(new Capture()), true, 'methods on the prototype');
    assert.equal(isCustomStream({ read: () => null }), false);
    assert.equal(isCustomStream({ read: 'x', stop: () => {} }), false);
    assert.equal(isCustomStream(null), false);
    assert.equal(isCustomStream(() => null), false);
  });
});
