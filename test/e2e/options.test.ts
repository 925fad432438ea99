/** Construction-time validation of `webgearRtc()` options: bad values throw, good ones start nothing. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, describe, test } from 'node:test';
import { webgearRtc, WebGearRtcOptionError, type WebGearRtc, type WebGearRtcOptions } from 'webgear-rtc';
import { ffmpegChildrenOf, tempDir, testOptions } from './helpers.ts';

const data = tempDir();
after(() => data.cleanup());

/** Options as a user could pass them from plain JavaScript: wrong types included. */
type LooseOptions = object;

/** Expects `webgearRtc(options)` to throw a WebGearRtcOptionError naming `option`; returns the error. */
function expectOptionError(options: LooseOptions, option: string): WebGearRtcOptionError {
  let caught: unknown;
  let rtc: WebGearRtc | undefined;
  try {
    rtc = webgearRtc(options as WebGearRtcOptions);
  } catch (error) {
    caught = error;
  }
  if (rtc) {
    void rtc.close();
    assert.fail(`webgearRtc() accepted ${JSON.stringify(options, replacer)}`);
  }
  assert.ok(caught instanceof WebGearRtcOptionError, `expected a WebGearRtcOptionError, got ${String(caught)}`);
  assert.ok(caught instanceof TypeError, 'WebGearRtcOptionError is a TypeError');
  assert.equal(caught.name, 'WebGearRtcOptionError');
  assert.equal(caught.option, option);
  assert.ok(caught.message.includes(option), `message ${JSON.stringify(caught.message)} should name "${option}"`);
  return caught;
}

const replacer = (_key: string, value: unknown) => (value === undefined ? '<undefined>' : value);

/** A stable test name for a value: the temp folder's random name is left out. */
const label = (value: unknown): string => inspect(value, { breakLength: Infinity }).replaceAll(data.path, '<tmp>');

describe('webgearRtc() rejects bad option values with a WebGearRtcOptionError naming the option', () => {
  const notADirectory = join(data.path, 'a-file.txt');
  writeFileSync(notADirectory, 'not a directory');

  const cases: Array<[option: string, value: unknown]> = [
    ['frameSizeReduction', -1],
    ['frameSizeReduction', 91],
    ['frameSizeReduction', '20'],
    ['frameSizeReduction', Number.NaN],
    ['codec', 'vp9'],
    ['codec', 'VP8'],
    ['bitrate', 'fast'],
    ['bitrate', 0],
    ['bitrate', 1_000],
    ['bitrate', 2_500_000.5],
    ['gop', 0],
    ['gop', 1.5],
    ['maxViewers', 0],
    ['maxViewers', -3],
    ['framerate', 0],
    ['resolution', [1280]],
    ['resolution', 'x'],
    ['resolution', [1280, 720, 3]],
    ['resolution', ['1280', '720']],
    ['icePortRange', [5000, 4000]],
    ['icePortRange', [5000, 5000]],
    ['icePortRange', [0, 70_000]],
    ['iceServers', [{ urls: 'http://x' }]],
    ['iceServers', { urls: 'stun:stun.example.org' }],
    ['iceServers', [{ urls: [] }]],
    ['iceServers', [{ urls: 'stun:stun.example.org', credential: 5 }]],
    ['iceAdditionalHostAddresses', '127.0.0.1'],
    ['logging', 'yes'],
    ['loop', 1],
    ['overwriteDefaultFiles', 'true'],
    ['prefix', 'cam'],
    ['prefix', ''],
    ['prefix', '/cam?x=1'],
    ['basePath', 'proxy'],
    ['logger', {}],
    ['logger', { info() {} }],
    ['logger', null],
    ['customDataLocation', join(data.path, 'does-not-exist')],
    ['customDataLocation', notADirectory],
    ['customDataLocation', ''],
    ['ffmpegPath', ''],
    ['source', join(data.path, 'missing.mp4')],
    ['source', data.path],
    ['source', -1],
    ['source', 1.5],
    ['source', ''],
    ['source', '   '],
    ['source', true],
    ['corsOrigins', 'example.com'],
    ['corsOrigins', 'https://example.com/path'],
    ['corsOrigins', []],
    ['corsOrigins', ['https://ok.example', 5]],
    ['stats', 'yes'],
    ['stats', 1],
    ['jitterBufferTarget', -1],
    ['jitterBufferTarget', 5_000],
    ['jitterBufferTarget', '100'],
  ];

  for (const [option, value] of cases) {
    test(`${option}: ${label(value)}`, () => {
      expectOptionError(testOptions(data.path, { [option]: value } as WebGearRtcOptions), option);
    });
  }

  test('a missing source file is reported with its path', () => {
    const missing = join(data.path, 'missing.mp4');
    const error = expectOptionError(testOptions(data.path, { source: missing }), 'source');
    assert.ok(error.message.includes(missing), error.message);
  });

  test('a customDataLocation that is a file, not a directory, says so', () => {
    const error = expectOptionError(testOptions(data.path, { customDataLocation: notADirectory }), 'customDataLocation');
    assert.match(error.message, /not a directory/);
  });

  test('no source at all: the message says source is required', () => {
    const { source: _, ...withoutSource } = testOptions(data.path);
    const error = expectOptionError(withoutSource, 'source');
    assert.match(error.message, /required/);
  });

  test('an explicit source: undefined is the same as none', () => {
    const error = expectOptionError(testOptions(data.path, { source: undefined }), 'source');
    assert.match(error.message, /required/);
  });

  test('an unknown snake_case option suggests its camelCase name', () => {
    const error = expectOptionError({ ...testOptions(data.path), frame_size_reduction: 10 }, 'frame_size_reduction');
    assert.match(error.message, /not a webgear-rtc option/);
    assert.ok(error.message.includes('"frameSizeReduction"'), error.message);
  });

  test('an unknown option with no close match is rejected without a suggestion', () => {
    const error = expectOptionError({ ...testOptions(data.path), colour: 'red' }, 'colour');
    assert.doesNotMatch(error.message, /did you mean/);
  });

  test('customStream must have callable read() and stop() (vidgear: ValueError)', () => {
    for (const customStream of [{ read: () => null }, { stop: () => {} }, { read: 1, stop: () => {} }, 'camera']) {
      const error = expectOptionError(testOptions(data.path, { customStream: customStream as never }), 'customStream');
      assert.match(error.message, /read\(\) and stop\(\)/);
    }
  });

  test('customStream and source exclude each other', () => {
    const customStream = { read: () => null, stop: () => {} };
    const error = expectOptionError({ ...testOptions(data.path, { customStream }), source: 'testsrc' }, 'customStream');
    assert.match(error.message, /exclude each other/);
  });

  test('a valid customStream is accepted in place of source, and nothing is read before a viewer comes', () => {
    let reads = 0;
    const rtc = webgearRtc(testOptions(data.path, { customStream: { read: () => (reads++, null), stop: () => {} } }));
    assert.equal(rtc.stats().source.state, 'idle');
    assert.equal(reads, 0);
    void rtc.close();
  });

  test('timeDelay, inputOptions and filters are checked', () => {
    expectOptionError(testOptions(data.path, { timeDelay: -1 }), 'timeDelay');
    expectOptionError(testOptions(data.path, { inputOptions: '-re' as never }), 'inputOptions');
    expectOptionError(testOptions(data.path, { inputOptions: [1] as never }), 'inputOptions');
    expectOptionError(testOptions(data.path, { filters: '' }), 'filters');
    expectOptionError(testOptions(data.path, { stabilize: 'yes' as never }), 'stabilize');
    const error = expectOptionError(testOptions(data.path, { colorspace: 'COLOR_BGR2HSV' }), 'colorspace');
    assert.match(error.message, /COLOR_BGR2GRAY/, 'the error lists the supported names');
  });

  test('transcode is one of auto, always, never; "never" with options that need encoding names them', () => {
    expectOptionError(testOptions(data.path, { transcode: 'sometimes' as never }), 'transcode');
    const file = join(data.path, 'clip.mp4');
    writeFileSync(file, 'only has to exist');
    const cases: Array<[WebGearRtcOptions, RegExp]> = [
      [{ source: file, transcode: 'never' }, /codec "vp8"/],
      [{ source: file, codec: 'h264', transcode: 'never', frameSizeReduction: 20 }, /frameSizeReduction 20/],
      [{ source: file, codec: 'h264', transcode: 'never', filters: 'hflip' }, /filters/],
      [{ source: 'testsrc', codec: 'h264', transcode: 'never' }, /test pattern/],
      [{ customStream: { read: () => null, stop: () => {} }, codec: 'h264', transcode: 'never' }, /customStream/],
    ];
    for (const [options, reason] of cases) {
      const error = expectOptionError(testOptions(data.path, options), 'transcode');
      assert.match(error.message, reason);
    }
    void webgearRtc(testOptions(data.path, { source: file, codec: 'h264', transcode: 'never' })).close();
    expectOptionError(testOptions(data.path, { enableInfiniteFrames: 1 as never }), 'enableInfiniteFrames');
  });

  test('options that are not an object are refused', () => {
    for (const value of [null, 'testsrc', ['testsrc']]) {
      assert.throws(
        () => webgearRtc(value as unknown as WebGearRtcOptions),
        (error: unknown) => error instanceof WebGearRtcOptionError && error.option === 'options',
      );
    }
  });
});

describe('valid sources are accepted without starting ffmpeg', () => {
  const existingFile = join(data.path, 'clip.mp4');
  writeFileSync(existingFile, 'not really a video: the file only has to exist at construction');

  const sources: Array<string | number> = [
    'testsrc',
    0,
    '0',
    '/dev/video2',
    '/dev/v4l/by-id/usb-camera-video-index0',
    'rtsp://127.0.0.1:8554/stream',
    'http://127.0.0.1:8080/live.m3u8',
    existingFile,
    `file://${existingFile}`,
  ];

  for (const source of sources) {
    test(`source ${label(source)}`, async () => {
      const rtc = webgearRtc(testOptions(data.path, { source }));
      try {
        const stats = rtc.stats();
        assert.equal(stats.source.state, 'idle');
        assert.equal(stats.source.pid, undefined);
        assert.deepEqual(stats.viewers, []);
        assert.equal(rtc.closed, false);
        assert.deepEqual(ffmpegChildrenOf(), []);
      } finally {
        await rtc.close();
      }
      assert.deepEqual(ffmpegChildrenOf(), []);
    });
  }

  test('every option at a valid edge value is accepted', async () => {
    const rtc = webgearRtc(
      testOptions(data.path, {
        codec: 'h264',
        bitrate: 50_000,
        gop: 600,
        frameSizeReduction: 90,
        resolution: [16, 16],
        framerate: 240,
        loop: true,
        enableLiveBroadcast: true,
        enableInfiniteFrames: false,
        logging: false,
        logger: { debug() {}, info() {}, warn() {}, error() {} },
        overwriteDefaultFiles: false,
        prefix: '/cam/',
        basePath: '/proxy',
        maxViewers: 10_000,
        iceServers: [{ urls: ['stun:stun.example.org', 'turns:turn.example.org'], username: 'u', credential: 'p' }],
        icePortRange: [40_000, 40_100],
      }),
    );
    try {
      assert.equal(rtc.stats().source.state, 'idle');
      assert.deepEqual(ffmpegChildrenOf(), []);
    } finally {
      await rtc.close();
    }
  });
});
