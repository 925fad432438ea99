import { accessSync, constants, cpSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebGearRtcOptionError } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';

/** The package's own default theme: `templates/{templates,static}` next to `dist/`. */
export const DEFAULT_THEME_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../templates');

/** The templates every theme must have; any one missing makes the defaults be written again. */
export const REQUIRED_TEMPLATES = ['index.html', '404.html', '500.html'] as const;

export interface DataFiles {
  /** `<location>/webgear_rtc` */
  root: string;
  templatesDir: string;
  staticDir: string;
}

export interface DataFilesOptions {
  /** Where `webgear_rtc/` lives. Default `~/.vidgear`, as in vidgear. */
  customDataLocation?: string | undefined;
  overwriteDefaultFiles?: boolean;
  logger: Logger;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

function checkWritableDirectory(location: string): void {
  let isDirectory = false;
  try {
    isDirectory = statSync(location).isDirectory();
  } catch {
    throw new WebGearRtcOptionError('customDataLocation', `names no existing directory: ${JSON.stringify(location)}`);
  }
  if (!isDirectory) {
    throw new WebGearRtcOptionError('customDataLocation', `is not a directory: ${JSON.stringify(location)}`);
  }
  try {
    accessSync(location, constants.W_OK);
  } catch {
    throw new WebGearRtcOptionError('customDataLocation', `is not writable: ${JSON.stringify(location)}`);
  }
}

/**
 * vidgear's data-files workflow: the theme lives in `<location>/webgear_rtc/{templates,static}` where
 * users edit it. When a required template is missing, the package's defaults are copied in without
 * touching files that exist; `overwriteDefaultFiles` rewrites the default files (and only those).
 */
export function prepareDataFiles({ customDataLocation, overwriteDefaultFiles = false, logger }: DataFilesOptions): DataFiles {
  let location: string;
  if (customDataLocation !== undefined) {
    location = resolve(customDataLocation);
    checkWritableDirectory(location);
  } else {
    location = join(homedir(), '.vidgear');
    mkdirSync(location, { recursive: true });
  }
  const root = join(location, 'webgear_rtc');
  const files: DataFiles = { root, templatesDir: join(root, 'templates'), staticDir: join(root, 'static') };
  const missing = REQUIRED_TEMPLATES.filter((name) => !existsSync(join(files.templatesDir, name)));
  if (overwriteDefaultFiles || missing.length > 0) {
    for (const file of listFiles(DEFAULT_THEME_DIR)) {
      const target = join(root, file);
      if (!overwriteDefaultFiles && existsSync(target)) continue;
      mkdirSync(dirname(target), { recursive: true });
      cpSync(join(DEFAULT_THEME_DIR, file), target);
    }
    const why = overwriteDefaultFiles ? 'overwriteDefaultFiles is on' : `missing ${missing.join(', ')}`;
    logger.info(`wrote the default theme to ${root} (${why})`);
  }
  logger.info(`data files at ${root}`);
  return files;
}
