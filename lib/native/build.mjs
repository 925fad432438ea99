#!/usr/bin/env node
/**
 * Builds lib/native/srtp-send.c into build/srtp-send.node (npm runs this on install). Optional: without a
 * C compiler, or on Windows, it says so and the server sends from JavaScript instead (lib/rtp-sender.ts),
 * at about twice the CPU per packet (docs/benchmarks.md). `WEBGEAR_NATIVE_REQUIRED=1` makes a failed
 * build an error (CI); `WEBGEAR_NATIVE=0` skips it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const output = join(root, 'build', 'srtp-send.node');
const required = process.env.WEBGEAR_NATIVE_REQUIRED === '1';

function skip(reason) {
  const message = `webgear-rtc: native SRTP sender not built (${reason}); sending from JavaScript instead.`;
  if (required) {
    console.error(`${message}\nWEBGEAR_NATIVE_REQUIRED=1: failing.`);
    process.exit(1);
  }
  console.warn(message);
  process.exit(0);
}

if (process.env.WEBGEAR_NATIVE === '0') skip('WEBGEAR_NATIVE=0');
if (process.platform === 'win32') skip('not supported on Windows');
let include;
try {
  include = createRequire(import.meta.url)('node-api-headers').include_dir;
} catch {
  skip('the node-api-headers package is missing');
}
const compiler = process.env.CC || 'cc';
// OpenSSL's symbols come from the Node binary at load time: left undefined here (macOS must be told).
const args = [
  '-O2', '-fPIC', '-shared', '-Wall', '-Werror', `-I${include}`,
  ...(process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : []),
  join(root, 'lib', 'native', 'srtp-send.c'), '-o', output,
];
mkdirSync(dirname(output), { recursive: true });
const result = spawnSync(compiler, args, { stdio: ['ignore', 'inherit', 'inherit'] });
if (result.error) skip(`${compiler}: ${result.error.message}`);
if (result.status !== 0) skip(`${compiler} exited with ${result.status}`);
