/**
 * A file is probed ahead (SourcePlan.prefetch): its first viewer waits for ffmpeg's start alone, not for
 * ffprobe's as well. Real ffmpeg and ffprobe; the ffprobe beside the `ffmpegPath` given is a wrapper that
 * counts its runs before it runs the real one.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SourcePlan, type SourcePlanSettings } from '../../lib/source/source-plan.ts';
import { recordingLogger } from '../unit/helpers.ts';
import { tempDir, waitFor } from './helpers.ts';

const which = (name: string) => execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();

/** A 1 s clip, with a sine tone or without sound. */
function makeClip(path: string, sound: boolean): void {
  const tmp = `${path}.tmp.mkv`; // written aside, then moved in: the file is never seen half written
  execFileSync(which('ffmpeg'), [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10',
    ...(sound ? ['-f', 'lavfi', '-i', 'sine=frequency=440'] : []),
    '-t', '1', '-c:v', 'mpeg4', ...(sound ? ['-c:a', 'flac'] : []), tmp,
  ]);
  renameSync(tmp, path);
}

describe('a file source is probed ahead of its first start', { timeout: 60_000 }, () => {
  const data = tempDir();
  const probes = join(data.path, 'probes');
  const ffmpegPath = join(data.path, 'ffmpeg');
  const runs = () => (existsSync(probes) ? readFileSync(probes, 'utf8').split('\n').filter(Boolean).length : 0);
  let clip = 0;
  const nextClip = () => join(data.path, `clip-${clip++}.mkv`);

  before(() => {
    symlinkSync(which('ffmpeg'), ffmpegPath);
    const ffprobe = join(data.path, 'ffprobe');
    writeFileSync(ffprobe, `#!/bin/sh\necho run >> '${probes}'\nexec '${which('ffprobe')}' "$@"\n`);
    chmodSync(ffprobe, 0o755);
  });
  after(() => data.cleanup());

  function plan(path: string) {
    const logger = recordingLogger();
    const settings: SourcePlanSettings = {
      source: { kind: 'file', path }, codec: 'vp8', transcode: 'auto', audio: { kind: 'source' }, ffmpegPath,
      frameSizeReduction: 0, filters: undefined, stabilize: false, colorspace: undefined,
    };
    return { plan: new SourcePlan(settings, logger), logger };
  }

  test('probed once, at prefetch(); the decisions at the start take that probe', async () => {
    const path = nextClip();
    makeClip(path, true);
    const before = runs();
    const { plan: sourcePlan } = plan(path);
    sourcePlan.prefetch();
    assert.ok(await waitFor(() => runs() === before + 1, 5_000), 'ffprobe runs at prefetch(), before any start');
    assert.equal(await sourcePlan.hasAudio(), true);
    assert.equal(await sourcePlan.videoHeight(), 120);
    assert.deepEqual(await sourcePlan.video(), { copy: false });
    assert.equal(runs(), before + 1, 'no second ffprobe');
    sourcePlan.close();
  });

  test('a file changed since it was probed is probed again, and the decisions follow the new one', async () => {
    const path = nextClip();
    makeClip(path, true);
    const before = runs();
    const { plan: sourcePlan, logger } = plan(path);
    sourcePlan.prefetch();
    assert.ok(await waitFor(() => runs() === before + 1, 5_000));
    await new Promise((resolve) => setTimeout(resolve, 500)); // the first probe done (or nearly)
    makeClip(path, false); // replaced: another size and modification time
    assert.equal(await sourcePlan.hasAudio(), false);
    assert.equal(runs(), before + 2);
    assert.ok(logger.lines.some((line) => /changed since it was probed: probing it again/.test(line.message)), JSON.stringify(logger.lines));
    sourcePlan.close();
  });

  test('a file not there yet is not probed ahead; the start probes it once it is', async () => {
    const path = nextClip();
    const before = runs();
    const { plan: sourcePlan } = plan(path);
    sourcePlan.prefetch();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(runs(), before, 'nothing to probe yet');
    makeClip(path, true);
    assert.equal(await sourcePlan.hasAudio(), true);
    assert.equal(runs(), before + 1);
    sourcePlan.close();
  });

  test('a URL is not touched before the start', async () => {
    const before = runs();
    const logger = recordingLogger();
    const sourcePlan = new SourcePlan({
      source: { kind: 'url', url: 'rtsp://127.0.0.1:9/none' }, codec: 'vp8', transcode: 'auto', audio: { kind: 'source' }, ffmpegPath,
      frameSizeReduction: 0, filters: undefined, stabilize: false, colorspace: undefined,
    }, logger);
    sourcePlan.prefetch();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(runs(), before);
    sourcePlan.close();
  });
});
