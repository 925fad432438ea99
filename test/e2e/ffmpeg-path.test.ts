/** Where ffmpeg is looked for: the `ffmpegPath` option, then FFMPEG_PATH, then ffmpeg-static, then PATH. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { FfmpegNotFoundError, resolveFfmpegPath, webgearRtc } from 'webgear-rtc';
import { tempDir, testOptions } from './helpers.ts';

const data = tempDir();
after(() => data.cleanup());

/** A shell script that is executable and says who it is. */
function fakeFfmpeg(dir: string, name = 'ffmpeg'): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\necho ${JSON.stringify(file)}\n`);
  chmodSync(file, 0o755);
  return file;
}

const explicit = fakeFfmpeg(join(data.path, 'explicit'), 'my-ffmpeg');
const fromEnv = fakeFfmpeg(join(data.path, 'env'), 'env-ffmpeg');
const pathDir = join(data.path, 'bin');
const onPath = fakeFfmpeg(pathDir);
const notExecutable = join(data.path, 'not-executable');
writeFileSync(notExecutable, '#!/bin/sh\n');
chmodSync(notExecutable, 0o644);

describe('resolveFfmpegPath()', () => {
  let savedPath: string | undefined;
  let savedFfmpegPath: string | undefined;
  beforeEach(() => {
    savedPath = process.env.PATH;
    savedFfmpegPath = process.env.FFMPEG_PATH;
    delete process.env.FFMPEG_PATH;
  });
  afterEach(() => {
    process.env.PATH = savedPath;
    if (savedFfmpegPath === undefined) delete process.env.FFMPEG_PATH;
    else process.env.FFMPEG_PATH = savedFfmpegPath;
  });

  test('the fake binaries really are executables', () => {
    assert.equal(execFileSync(explicit, { encoding: 'utf8' }).trim(), explicit);
  });

  test('an explicit path wins over FFMPEG_PATH and PATH', () => {
    process.env.FFMPEG_PATH = fromEnv;
    process.env.PATH = pathDir;
    assert.equal(resolveFfmpegPath(explicit), explicit);
  });

  test('FFMPEG_PATH comes next, before PATH', () => {
    process.env.FFMPEG_PATH = fromEnv;
    process.env.PATH = pathDir;
    assert.equal(resolveFfmpegPath(), fromEnv);
    assert.equal(resolveFfmpegPath(undefined), fromEnv);
  });

  test('then `ffmpeg` on PATH, in PATH order, skipping folders without one', () => {
    const other = fakeFfmpeg(join(data.path, 'other-bin'));
    process.env.PATH = [join(data.path, 'empty'), '', pathDir, join(data.path, 'other-bin')].join(':');
    assert.equal(resolveFfmpegPath(), onPath);
    process.env.PATH = [join(data.path, 'other-bin'), pathDir].join(':');
    assert.equal(resolveFfmpegPath(), other);
  });

  test("the machine's own ffmpeg is found on the real PATH", () => {
    const found = resolveFfmpegPath();
    assert.match(found, /ffmpeg$/);
    assert.match(execFileSync(found, ['-version'], { encoding: 'utf8' }), /^ffmpeg version/);
  });

  test('a non-executable explicit path throws FfmpegNotFoundError naming it', () => {
    process.env.PATH = pathDir; // a good ffmpeg elsewhere must not be used instead
    assert.throws(
      () => resolveFfmpegPath(notExecutable),
      (error: unknown) => error instanceof FfmpegNotFoundError && error.message.includes(notExecutable),
    );
    const missing = join(data.path, 'nowhere', 'ffmpeg');
    assert.throws(
      () => resolveFfmpegPath(missing),
      (error: unknown) => error instanceof FfmpegNotFoundError && error.message.includes(missing),
    );
  });

  test(
    'a directory given as the explicit path is not an ffmpeg',
    () => {
      assert.throws(() => resolveFfmpegPath(pathDir), FfmpegNotFoundError);
    },
  );

  test('a non-executable FFMPEG_PATH throws FfmpegNotFoundError naming it', () => {
    process.env.FFMPEG_PATH = notExecutable;
    process.env.PATH = pathDir;
    assert.throws(
      () => resolveFfmpegPath(),
      (error: unknown) =>
        error instanceof FfmpegNotFoundError && error.message.includes('FFMPEG_PATH') && error.message.includes(notExecutable),
    );
  });

  test('nothing anywhere: the error says how to install ffmpeg and mentions the ffmpegPath option', () => {
    // ffmpeg-static is an optional dependency that is not installed here: the test is only meaningful without it.
    assert.throws(() => createRequire(import.meta.url).resolve('ffmpeg-static'));
    process.env.PATH = '';
    assert.throws(
      () => resolveFfmpegPath(),
      (error: unknown) =>
        error instanceof FfmpegNotFoundError &&
        error.name === 'FfmpegNotFoundError' &&
        error.message.includes('apt-get install ffmpeg') &&
        error.message.includes('ffmpegPath'),
    );
    delete process.env.PATH;
    assert.throws(() => resolveFfmpegPath(), FfmpegNotFoundError);
  });

  test('webgearRtc() resolves ffmpeg at construction: a bad ffmpegPath option throws there, an explicit one is used', async () => {
    assert.throws(() => webgearRtc(testOptions(data.path, { ffmpegPath: notExecutable })), FfmpegNotFoundError);
    process.env.PATH = '';
    assert.throws(() => webgearRtc(testOptions(data.path)), FfmpegNotFoundError);
    const rtc = webgearRtc(testOptions(data.path, { ffmpegPath: explicit }));
    await rtc.close();
    assert.ok(existsSync(join(data.path, 'webgear_rtc', 'templates', 'index.html')));
  });
});
