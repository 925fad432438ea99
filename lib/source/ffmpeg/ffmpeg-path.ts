import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { FfmpegNotFoundError } from '../../errors.ts';

const require = createRequire(import.meta.url);

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile(); // a directory is "executable" too
  } catch {
    return false;
  }
}

/** ffmpeg-static is an optional dependency: it may be missing, or installed without its binary. */
function ffmpegStaticBinary(): string | undefined {
  try {
    const binary = require('ffmpeg-static') as string | null;
    return binary && isExecutable(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}

function onPath(name: string): string | undefined {
  const names = process.platform === 'win32' ? [`${name}.exe`, name] : [name];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const candidate of names) {
      const file = join(dir, candidate);
      if (isExecutable(file)) return file;
    }
  }
  return undefined;
}

/**
 * Finds the ffmpeg binary: the `ffmpegPath` option, then `FFMPEG_PATH`, then ffmpeg-static's binary
 * if it was downloaded, then `ffmpeg` on PATH. Throws a FfmpegNotFoundError saying how to get one.
 */
export function resolveFfmpegPath(ffmpegPath?: string): string {
  if (ffmpegPath) {
    if (isExecutable(ffmpegPath)) return ffmpegPath;
    throw new FfmpegNotFoundError(`webgear-rtc: ffmpegPath "${ffmpegPath}" is not an executable file`);
  }
  const fromEnv = process.env.FFMPEG_PATH;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new FfmpegNotFoundError(`webgear-rtc: FFMPEG_PATH "${fromEnv}" is not an executable file`);
  }
  const found = ffmpegStaticBinary() ?? onPath('ffmpeg');
  if (found) return found;
  throw new FfmpegNotFoundError(
    'webgear-rtc: ffmpeg not found. Install one (Debian/Ubuntu: `apt-get install ffmpeg`, macOS: ' +
      '`brew install ffmpeg`), or `npm install ffmpeg-static`, or pass the `ffmpegPath` option / set FFMPEG_PATH.',
  );
}

/** ffprobe: beside the ffmpeg in use (ffmpeg packages ship both), else on PATH. */
export function resolveFfprobePath(ffmpegPath: string): string {
  const beside = join(dirname(ffmpegPath), process.platform === 'win32' ? 'ffprobe.exe' : 'ffprobe');
  if (isExecutable(beside)) return beside;
  const found = onPath('ffprobe');
  if (found) return found;
  throw new FfmpegNotFoundError(`webgear-rtc: ffprobe not found beside ${ffmpegPath} or on PATH (it comes with ffmpeg)`);
}
