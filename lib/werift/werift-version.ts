/**
 * The werift release this adapter was written against (package.json pins it exactly). Everything in
 * lib/werift/ that reads or writes werift's non-public state was checked against this version; a test
 * (test/e2e/werift/layout.test.ts) checks every field on a live connection.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const WERIFT_VERSION = '0.25.2';

/** The installed werift's version. */
export function installedWeriftVersion(): string {
  // werift's exports do not include its package.json: walk up from its entry point.
  let dir = dirname(createRequire(import.meta.url).resolve('werift'));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version: string };
      if (manifest.name === 'werift') return manifest.version;
    } catch {
      // no package.json here
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('werift: package.json not found');
    dir = parent;
  }
}
