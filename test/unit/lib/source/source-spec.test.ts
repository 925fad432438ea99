import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { WebGearRtcOptionError } from '../../../../lib/errors.ts';
import { audioSpecOf, parseSource, sourceSpecOf } from '../../../../lib/source/source-spec.ts';
import type { SourceSpec } from '../../../../lib/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'webgear-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const video = join(dir, 'clip one.mp4');
writeFileSync(video, 'not really a video: only its existence is checked');
const music = join(dir, 'music.flac');
writeFileSync(music, '');
const folder = join(dir, 'folder');
mkdirSync(folder);

/** Expects `run` to throw a WebGearRtcOptionError for `option` whose message matches `message`. */
function throwsOption(run: () => unknown, option: string, message: RegExp) {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof WebGearRtcOptionError, String(error));
    assert.equal(error.option, option);
    assert.match(error.message, message);
    return true;
  });
}

describe('parseSource', () => {
  test('testsrc', () => {
    assert.deepEqual(parseSource('testsrc'), { kind: 'testsrc' });
  });

  test('cameras: an index (number or digits) or a device path', () => {
    assert.deepEqual(parseSource(0), { kind: 'device', path: '/dev/video0' });
    assert.deepEqual(parseSource(3), { kind: 'device', path: '/dev/video3' });
    assert.deepEqual(parseSource('2'), { kind: 'device', path: '/dev/video2' });
    assert.deepEqual(parseSource('/dev/video1'), { kind: 'device', path: '/dev/video1' });
    assert.deepEqual(parseSource('/dev/v4l/by-id/usb-cam-video-index0'), { kind: 'device', path: '/dev/v4l/by-id/usb-cam-video-index0' });
  });

  test('URLs of any scheme, as given', () => {
    for (const url of ['rtsp://cam.local:554/live', 'RTSPS://cam/1', 'http://host/a.m3u8', 'https://host/v.mp4', 'udp://239.0.0.1:1234', 'srt://host:9000', 'rtmp://host/live']) {
      assert.deepEqual(parseSource(url), { kind: 'url', url });
    }
  });

  test("WebRTC sources: 'whip', and a WHEP endpoint as whep+http(s)://", () => {
    assert.deepEqual(parseSource('whip'), { kind: 'whip' });
    assert.deepEqual(parseSource('whep+http://origin:8000/whep'), { kind: 'whep', url: 'http://origin:8000/whep' });
    assert.deepEqual(parseSource('WHEP+https://cdn.example/live/whep?token=1'), { kind: 'whep', url: 'https://cdn.example/live/whep?token=1' });
    throwsOption(() => parseSource('whep+ftp://origin/whep'), 'source', /must be a WHEP endpoint as "whep\+http:\/\/host\/path"/);
    throwsOption(() => parseSource('whep+http://'), 'source', /must be a WHEP endpoint/);
    throwsOption(() => parseSource('whep+http://[bad/whep'), 'source', /names no valid WHEP URL/);
    assert.deepEqual(audioSpecOf(undefined, { kind: 'whip' }), { kind: 'source' }, "the publisher's own sound");
    assert.deepEqual(audioSpecOf(true, { kind: 'whep', url: 'http://o/whep' }), { kind: 'source' });
  });

  test('an existing file, by path or file:// URL (percent-decoded)', () => {
    assert.deepEqual(parseSource(video), { kind: 'file', path: video });
    assert.deepEqual(parseSource(`file://${video.replaceAll(' ', '%20')}`), { kind: 'file', path: video });
  });

  test('a missing file, a folder, or a file:// URL to nothing is refused now', () => {
    throwsOption(() => parseSource(join(dir, 'missing.mp4')), 'source', /names no readable file: ".*missing\.mp4" does not exist/);
    throwsOption(() => parseSource(folder), 'source', /names no readable file/);
    throwsOption(() => parseSource(`file://${dir}/missing.mp4`), 'source', /names no readable file/);
    throwsOption(() => parseSource('relative/missing.mp4'), 'source', /names no readable file/);
  });

  test('values that are none of these', () => {
    throwsOption(() => parseSource(-1), 'source', /must be a camera index \(integer ≥ 0\), a path, a URL or "testsrc" \(got -1\)/);
    throwsOption(() => parseSource(1.5), 'source', /camera index/);
    throwsOption(() => parseSource(''), 'source', /must be a file path, a URL, a camera index or "testsrc" \(got ""\)/);
    throwsOption(() => parseSource('   '), 'source', /must be a file path/);
    throwsOption(() => parseSource(null), 'source', /\(got null\)/);
    throwsOption(() => parseSource({ path: video }), 'source', /\(got an object\)/);
    throwsOption(() => parseSource([video]), 'source', /\(got an array\)/);
  });
});

describe('sourceSpecOf', () => {
  const stream = { read: () => null, stop: () => {} };

  test('a customStream becomes frames; a source is parsed', () => {
    assert.deepEqual(sourceSpecOf(undefined, stream), { kind: 'frames', stream });
    assert.deepEqual(sourceSpecOf('testsrc', undefined), { kind: 'testsrc' });
  });

  test('exactly one of source and customStream', () => {
    throwsOption(() => sourceSpecOf('testsrc', stream), 'customStream', /and "source" exclude each other: give one/);
    throwsOption(() => sourceSpecOf(undefined, undefined), 'source', /is required: give a file, URL, camera index or "testsrc" \(or a customStream\)/);
  });

  test('a customStream must have callable read() and stop()', () => {
    throwsOption(() => sourceSpecOf(undefined, { read: () => null }), 'customStream', /must be an object with callable read\(\) and stop\(\) methods/);
    throwsOption(() => sourceSpecOf(undefined, null), 'customStream', /callable read\(\) and stop\(\)/);
    throwsOption(() => sourceSpecOf('testsrc', 'frames'), 'customStream', /callable read\(\) and stop\(\)/);
  });
});

describe('audioSpecOf', () => {
  const sources: Record<string, SourceSpec> = {
    file: { kind: 'file', path: video },
    url: { kind: 'url', url: 'rtsp://cam/1' },
    testsrc: { kind: 'testsrc' },
    device: { kind: 'device', path: '/dev/video0' },
    frames: { kind: 'frames', stream: { read: () => null, stop: () => {} } },
  };

  test("true (the default) is the source's own audio for a file or URL, none for the others", () => {
    for (const [kind, source] of Object.entries(sources)) {
      const expected = kind === 'file' || kind === 'url' ? { kind: 'source' } : { kind: 'none' };
      assert.deepEqual(audioSpecOf(undefined, source), expected, `${kind}, left out`);
      assert.deepEqual(audioSpecOf(true, source), expected, `${kind}, true`);
      assert.deepEqual(audioSpecOf(false, source), { kind: 'none' }, `${kind}, false`);
    }
  });

  test('"<format>:<input>" for lavfi, alsa and pulse', () => {
    assert.deepEqual(audioSpecOf('lavfi:sine=frequency=440', sources.testsrc!), { kind: 'input', from: 'lavfi', input: 'sine=frequency=440' });
    assert.deepEqual(audioSpecOf('lavfi:anoisesrc=c=pink:a=0.1', sources.frames!), { kind: 'input', from: 'lavfi', input: 'anoisesrc=c=pink:a=0.1' });
    assert.deepEqual(audioSpecOf('alsa:default', sources.device!), { kind: 'input', from: 'alsa', input: 'default' });
    assert.deepEqual(audioSpecOf('alsa:hw:1,0', sources.device!), { kind: 'input', from: 'alsa', input: 'hw:1,0' });
    assert.deepEqual(audioSpecOf('pulse:alsa_input.usb-mic', sources.file!), { kind: 'input', from: 'pulse', input: 'alsa_input.usb-mic' });
  });

  test('a URL, a file path or a file:// URL', () => {
    assert.deepEqual(audioSpecOf('http://radio.local/stream.mp3', sources.testsrc!), { kind: 'input', from: 'url', input: 'http://radio.local/stream.mp3' });
    assert.deepEqual(audioSpecOf('rtsp://mic.local/audio', sources.testsrc!), { kind: 'input', from: 'url', input: 'rtsp://mic.local/audio' });
    assert.deepEqual(audioSpecOf(music, sources.testsrc!), { kind: 'input', from: 'file', input: music });
    assert.deepEqual(audioSpecOf(`file://${video.replaceAll(' ', '%20')}`, sources.testsrc!), { kind: 'input', from: 'file', input: video });
  });

  test('missing files, unknown formats and other values are refused', () => {
    throwsOption(() => audioSpecOf(join(dir, 'missing.wav'), sources.testsrc!), 'audio', /names no readable file: ".*missing\.wav" does not exist \(a URL needs its scheme, a generator "lavfi:"\)/);
    throwsOption(() => audioSpecOf('sine=frequency=440', sources.testsrc!), 'audio', /names no readable file/);
    throwsOption(() => audioSpecOf('jack:system', sources.testsrc!), 'audio', /names no readable file/);
    throwsOption(() => audioSpecOf(folder, sources.testsrc!), 'audio', /names no readable file/);
    throwsOption(() => audioSpecOf('', sources.testsrc!), 'audio', /must be true, false, or an ffmpeg audio input: a file path, a URL, or "lavfi:sine=frequency=440" \(got ""\)/);
    throwsOption(() => audioSpecOf(1, sources.testsrc!), 'audio', /\(got 1\)/);
    throwsOption(() => audioSpecOf({ input: music }, sources.testsrc!), 'audio', /\(got an object\)/);
  });
});
