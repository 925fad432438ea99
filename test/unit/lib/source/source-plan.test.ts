import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodingNeeds, SourcePlan, type EncodingOptions, type SourcePlanSettings } from '../../../../lib/source/source-plan.ts';
import type { SourceSpec } from '../../../../lib/types.ts';
import { recordingLogger } from '../../helpers.ts';

const noEncodingOptions: EncodingOptions = { frameSizeReduction: 0, filters: undefined, stabilize: false, colorspace: undefined };
const file: SourceSpec = { kind: 'file', path: '/media/h264.mp4' };
const url: SourceSpec = { kind: 'url', url: 'rtsp://cam/1' };
const frames: SourceSpec = { kind: 'frames', stream: { read: () => null, stop: () => {} } };

describe('encodingNeeds', () => {
  test('an H.264 file or URL with nothing asked of the picture can be sent as is (the probe decides)', () => {
    assert.equal(encodingNeeds(file, 'h264', noEncodingOptions), undefined);
    assert.equal(encodingNeeds(url, 'h264', noEncodingOptions), undefined);
  });

  test('the reason, in the order they are checked', () => {
    const cases: [SourceSpec, 'vp8' | 'h264', Partial<EncodingOptions>, string][] = [
      [file, 'vp8', {}, 'codec "vp8" (only H.264 is sent as is)'],
      [frames, 'h264', {}, 'a customStream (raw frames)'],
      [{ kind: 'testsrc' }, 'h264', {}, 'the test pattern'],
      [{ kind: 'device', path: '/dev/video0' }, 'h264', {}, 'a camera'],
      [file, 'h264', { frameSizeReduction: 20 }, 'frameSizeReduction 20 (the default is 20: set 0)'],
      [url, 'h264', { frameSizeReduction: 0.5 }, 'frameSizeReduction 0.5 (the default is 20: set 0)'],
      [file, 'h264', { filters: 'hflip' }, 'the filters option'],
      [file, 'h264', { stabilize: true }, 'stabilize'],
      [file, 'h264', { colorspace: 'COLOR_BGR2GRAY' }, 'colorspace'],
      [frames, 'vp8', { stabilize: true }, 'codec "vp8" (only H.264 is sent as is)'],
      [file, 'h264', { filters: 'hflip', stabilize: true, colorspace: 'COLOR_BGR2GRAY' }, 'the filters option'],
    ];
    for (const [source, codec, options, reason] of cases) {
      assert.equal(encodingNeeds(source, codec, { ...noEncodingOptions, ...options }), reason);
    }
  });
});

describe('SourcePlan: decisions that need no probe', () => {
  /** A plan whose probe, if it were tried, could not find ffprobe (PATH emptied): it would log why. */
  async function decide(settings: Partial<SourcePlanSettings>) {
    const logger = recordingLogger();
    const plan = new SourcePlan({
      source: file, codec: 'h264', transcode: 'auto', audio: { kind: 'none' }, ffmpegPath: '/nonexistent/ffmpeg',
      ...noEncodingOptions, ...settings,
    }, logger);
    const path = process.env.PATH;
    process.env.PATH = '';
    try {
      const [video, audio] = [await plan.video(), await plan.hasAudio()];
      return { video, audio, logged: logger.lines, plan };
    } finally {
      process.env.PATH = path;
    }
  }

  test("transcode 'always' encodes without looking at the source", async () => {
    const { video, logged } = await decide({ transcode: 'always' });
    assert.deepEqual(video, { copy: false });
    assert.deepEqual(logged, []);
  });

  test('testsrc and custom frames are encoded, with no audio of their own', async () => {
    for (const source of [{ kind: 'testsrc' } as const, frames]) {
      const { video, audio, logged } = await decide({ source, audio: { kind: 'source' } });
      assert.deepEqual(video, { copy: false }, source.kind);
      assert.equal(audio, false, source.kind);
      assert.deepEqual(logged, [], source.kind);
    }
  });

  test('VP8, or options that need encoding, encode without probing', async () => {
    for (const settings of [{ codec: 'vp8' as const }, { frameSizeReduction: 20 }, { filters: 'hflip' }, { stabilize: true }, { colorspace: 'COLOR_BGR2GRAY' }]) {
      const { video, logged } = await decide(settings);
      assert.deepEqual(video, { copy: false }, JSON.stringify(settings));
      assert.deepEqual(logged, [], JSON.stringify(settings));
    }
  });

  test('a camera is encoded (encodingNeeds), never probed for passthrough', async () => {
    const { video, logged } = await decide({ source: { kind: 'device', path: '/dev/video0' } });
    assert.deepEqual(video, { copy: false });
    assert.deepEqual(logged, []);
  });

  test('an extra audio input means audio; none means none; neither probes', async () => {
    assert.equal((await decide({ transcode: 'always', audio: { kind: 'input', from: 'lavfi', input: 'sine' } })).audio, true);
    const none = await decide({ transcode: 'always', audio: { kind: 'none' } });
    assert.equal(none.audio, false);
    assert.deepEqual(none.logged, []);
  });

  test('each decision is made once', async () => {
    const { plan } = await decide({ transcode: 'always' });
    assert.equal(plan.video(), plan.video());
    assert.equal(plan.hasAudio(), plan.hasAudio());
  });
});

describe('SourcePlan: when the source cannot be probed (no ffprobe anywhere)', () => {
  async function unprobed(transcode: SourcePlanSettings['transcode'], audio: SourcePlanSettings['audio']) {
    const logger = recordingLogger();
    const path = process.env.PATH;
    process.env.PATH = '';
    try {
      const plan = new SourcePlan({ source: url, codec: 'h264', transcode, audio, ffmpegPath: '/nonexistent/ffmpeg', ...noEncodingOptions }, logger);
      return { video: await plan.video(), audio: await plan.hasAudio(), logged: logger.lines };
    } finally {
      process.env.PATH = path;
    }
  }

  test("'auto' encodes; 'never' copies as asked (ffmpeg will say what is wrong); audio is taken as absent", async () => {
    const auto = await unprobed('auto', { kind: 'source' });
    assert.deepEqual(auto.video, { copy: false });
    assert.equal(auto.audio, false);
    assert.ok(auto.logged.every((line) => line.level === 'debug'));
    assert.match(auto.logged[0]!.message, /could not probe the source: .*ffprobe not found/);
    assert.match(auto.logged[1]!.message, /could not probe the source for audio; sending none/);
    assert.deepEqual((await unprobed('never', { kind: 'none' })).video, { copy: true });
  });
});
