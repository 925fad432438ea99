#!/usr/bin/env node
/**
 * Applies this folder's werift patches (patch-package format) to the werift that webgear-rtc itself
 * resolves, wherever the package manager put it. Run at install (`postinstall`); `--reverse` undoes them.
 *
 * patch-package alone assumes it runs in the app whose node_modules holds the patched package, and
 * applies paths relative to its working directory. That holds in this repository, not when
 * webgear-rtc is a dependency: npm runs this script inside node_modules/webgear-rtc while werift is
 * usually hoisted to the app's node_modules (or nested in node_modules/webgear-rtc/node_modules when
 * the app needs another version). So: resolve werift from here, work in the folder that holds its
 * node_modules, and point patch-package at this folder from there. A patch that does not apply fails
 * the install: running an unpatched werift is the hole these patches close.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const patchDir = dirname(fileURLToPath(import.meta.url));

/** werift's package folder: up from its entry point to the package.json that names it. */
function weriftPackageDir() {
  let dir = dirname(require.resolve('werift'));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'werift') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('webgear-rtc: werift resolves outside any werift package folder');
    dir = up;
  }
}

const weriftDir = weriftPackageDir();
if (basename(dirname(weriftDir)) !== 'node_modules') {
  console.error(`webgear-rtc: cannot patch werift at ${weriftDir}: it is not in a node_modules folder (Yarn PnP?)`);
  process.exit(1);
}
const appPath = dirname(dirname(weriftDir));
process.chdir(appPath); // patch-package applies paths relative to the working directory
const { applyPatchesForApp } = require('patch-package/dist/applyPatches');
applyPatchesForApp({
  appPath,
  patchDir: relative(appPath, patchDir),
  reverse: process.argv.includes('--reverse'),
  shouldExitWithError: true,
  shouldExitWithWarning: false,
  bestEffort: false,
}); // exits the process: 0 when every patch is applied (or already was), 1 otherwise
