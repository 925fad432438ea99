import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { WebGearRtcOptionError } from '../../../lib/errors.ts';
import { resolveOptions } from '../../../options/resolve-options.ts';

const dir = mkdtempSync(join(tmpdir(), 'webgear-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'h264.mp4');
writeFileSync(file, '');

const resolveLoose = (options: unknown) => resolveOptions(options as never);

/** Expects a WebGearRtcOptionError for `option` with exactly `message` after the option's name. */
function refused(options: unknown, option: string, message: string) {
  assert.throws(() => resolveLoose(options), (error: unknown) => {
    assert.ok(error instanceof WebGearRtcOptionError, String(error));
    assert.equal(error.option, option);
    assert.equal(error.message, `webgear-rtc: option "${option}" ${message}`);
    return true;
  });
}

describe('resolveOptions', () => {
  test('options must be an object', () => {
    refused(undefined, 'options', 'must be an object (got undefined)');
    refused(null, 'options', 'must be an object (got null)');
    refused('testsrc', 'options', 'must be an object (got "testsrc")');
    refused(['testsrc'], 'options', 'must be an object (got an array)');
  });

  test('unknown names are refused; a snake_case name gets the camelCase hint', () => {
    refused({ source: 'testsrc', frame_size_reduction: 0 }, 'frame_size_reduction', 'is not a webgear-rtc option (did you mean "frameSizeReduction"?)');
    refused({ source: 'testsrc', custom_data_location: dir }, 'custom_data_location', 'is not a webgear-rtc option (did you mean "customDataLocation"?)');
    refused({ source: 'testsrc', enable_infinite_frames: true }, 'enable_infinite_frames', 'is not a webgear-rtc option (did you mean "enableInfiniteFrames"?)');
    refused({ source: 'testsrc', time_delay: 1 }, 'time_delay', 'is not a webgear-rtc option (did you mean "timeDelay"?)');
    refused({ source: 'testsrc', no_such_thing: 1 }, 'no_such_thing', 'is not a webgear-rtc option');
    refused({ source: 'testsrc', Codec: 'vp8' }, 'Codec', 'is not a webgear-rtc option');
  });

  test('an unknown name is reported before a bad value', () => {
    refused({ source: 42.5, colour: 'red' }, 'colour', 'is not a webgear-rtc option');
  });

  test('source and customStream exclude each other; one is required', () => {
    const customStream = { read: () => null, stop: () => {} };
    refused({ source: 'testsrc', customStream }, 'customStream', 'and "source" exclude each other: give one');
    refused({}, 'source', 'is required: give a file, URL, camera index or "testsrc" (or a customStream)');
    const resolved = resolveLoose({ customStream });
    assert.deepEqual(resolved.source, { kind: 'frames', stream: customStream });
    assert.equal(resolved.customStream, customStream);
  });

  test("transcode 'never' refuses what needs encoding, naming it", () => {
    const never = { transcode: 'never', frameSizeReduction: 0 };
    refused({ source: file, ...never }, 'transcode', 'is "never", but codec "vp8" (only H.264 is sent as is) needs encoding');
    refused({ source: file, transcode: 'never', codec: 'h264' }, 'transcode', 'is "never", but frameSizeReduction 20 (the default is 20: set 0) needs encoding');
    refused({ source: 'testsrc', ...never, codec: 'h264' }, 'transcode', 'is "never", but the test pattern needs encoding');
    refused({ source: 0, ...never, codec: 'h264' }, 'transcode', 'is "never", but a camera needs encoding');
    refused({ customStream: { read: () => null, stop: () => {} }, ...never, codec: 'h264' }, 'transcode', 'is "never", but a customStream (raw frames) needs encoding');
    refused({ source: file, ...never, codec: 'h264', filters: 'hflip' }, 'transcode', 'is "never", but the filters option needs encoding');
    refused({ source: 'rtsp://cam/1', ...never, codec: 'h264', stabilize: true }, 'transcode', 'is "never", but stabilize needs encoding');
    refused({ source: file, ...never, codec: 'h264', colorspace: 'COLOR_BGR2GRAY' }, 'transcode', 'is "never", but colorspace needs encoding');
  });

  test("transcode 'never' with an H.264 file or URL and nothing to encode for is accepted", () => {
    assert.equal(resolveLoose({ source: file, transcode: 'never', codec: 'h264', frameSizeReduction: 0 }).transcode, 'never');
    assert.equal(resolveLoose({ source: 'rtsp://cam/1', transcode: 'never', codec: 'h264', frameSizeReduction: 0 }).transcode, 'never');
    // 'auto' and 'always' accept anything
    assert.equal(resolveLoose({ source: 'testsrc', transcode: 'always', codec: 'h264' }).transcode, 'always');
  });

  test('values come out resolved: the source parsed, audio decided, lists copied, prefixes trimmed, folders absolute', () => {
    const inputOptions = ['-ss', '5'];
    const iceServers = [{ urls: 'stun:stun.example.com:3478' }];
    const resolved = resolveLoose({
      source: file, inputOptions, iceServers, prefix: '/cam/', basePath: '/proxy///', templates: dir, static: [dir, '.'],
      corsOrigins: 'https://tv.example.com', audio: 'lavfi:sine=frequency=440', stats: false,
    });
    assert.deepEqual(resolved.source, { kind: 'file', path: file });
    assert.deepEqual(resolved.audio, { kind: 'input', from: 'lavfi', input: 'sine=frequency=440' });
    assert.deepEqual(resolved.inputOptions, inputOptions);
    assert.notEqual(resolved.inputOptions, inputOptions, 'a copy: the caller may change theirs');
    assert.deepEqual(resolved.iceServers, iceServers);
    assert.notEqual(resolved.iceServers[0], iceServers[0]);
    assert.equal(resolved.prefix, '/cam');
    assert.equal(resolved.basePath, '/proxy');
    assert.deepEqual(resolved.templates, [dir]);
    assert.deepEqual(resolved.static, [dir, process.cwd()]);
    assert.deepEqual(resolved.corsOrigins, ['https://tv.example.com']);
    assert.equal(resolved.stats, false);
  });

  test("the source's own audio by default for a file or URL, none for testsrc", () => {
    assert.deepEqual(resolveLoose({ source: file }).audio, { kind: 'source' });
    assert.deepEqual(resolveLoose({ source: 'http://host/live.m3u8' }).audio, { kind: 'source' });
    assert.deepEqual(resolveLoose({ source: 'testsrc' }).audio, { kind: 'none' });
    assert.deepEqual(resolveLoose({ source: file, audio: false }).audio, { kind: 'none' });
  });

  test('a WebRTC source refuses what would change its picture or how ffmpeg reads it; whipToken needs whip', () => {
    const asIs = 'cannot be used with a WebRTC source (whip, whep+…): its picture is sent as is';
    refused({ source: 'whip', filters: 'hflip' }, 'filters', asIs);
    refused({ source: 'whep+http://o/whep', stabilize: true }, 'stabilize', asIs);
    refused({ source: 'whip', resolution: [640, 360] }, 'resolution', asIs);
    refused({ source: 'whip', inputOptions: ['-re'] }, 'inputOptions', asIs);
    refused({ source: 'whip', frameSizeReduction: 20 }, 'frameSizeReduction', `${asIs} (leave it out or set 0)`);
    refused({ source: 'whip', transcode: 'always' }, 'transcode', `is "always", but ${asIs}`);
    refused({ source: 'whip', audio: 'lavfi:sine' }, 'audio', 'cannot add an audio input to a WebRTC source: true (its own Opus) or false');
    refused({ source: 'testsrc', whipToken: 'secret' }, 'whipToken', `must be used with source: 'whip' (the source is not a WHIP ingest) (got "secret")`);
    const whip = resolveLoose({ source: 'whip', whipToken: 's3cret', frameSizeReduction: 0, transcode: 'never', audio: false });
    assert.deepEqual([whip.source, whip.whipToken, whip.audio], [{ kind: 'whip' }, 's3cret', { kind: 'none' }]);
    assert.deepEqual(resolveLoose({ source: 'whip' }).audio, { kind: 'source' });
  });

  test('explicitly undefined is the same as left out', () => {
    assert.deepEqual(resolveLoose({ source: 'testsrc', codec: undefined, gop: undefined }), resolveLoose({ source: 'testsrc' }));
  });
});
