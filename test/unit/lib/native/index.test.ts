/**
 * lib/native/index.ts: the addon loaded with node-gyp-build, or the reason it is not, and the warning
 * that the server gives once. Each load runs in a child process: the addon is chosen at import.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nativeSrtp, staleAddonProblem, warnNativeSrtpUnused } from '../../../../lib/native/index.ts';
import type { Logger } from '../../../../lib/logger.ts';

/** An empty folder, removed by `cleanup()`. */
function tempDir(): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'webgear-rtc-native-'));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

const loader = join(import.meta.dirname, '..', '..', '..', '..', 'lib', 'native', 'index.ts');

/** What lib/native/index.ts says in a process with `env`. */
function load(env: Record<string, string>): { loaded: boolean; problem?: string } {
  const script = `const native = await import(${JSON.stringify(loader)});
    console.log(JSON.stringify({ loaded: native.nativeSrtp !== undefined, problem: native.nativeSrtpProblem }));`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, WEBGEAR_NATIVE: '', ...env },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return JSON.parse(output) as { loaded: boolean; problem?: string };
}

test('WEBGEAR_NATIVE=0 turns the addon off, and says so', () => {
  assert.deepEqual(load({ WEBGEAR_NATIVE: '0' }), { loaded: false, problem: 'turned off with WEBGEAR_NATIVE=0' });
});

test('without a build or a prebuild for this platform the problem is "not built"', () => {
  const empty = tempDir();
  try {
    // node-gyp-build looks in $WEBGEAR_RTC_PREBUILD instead of the package when it is set.
    const result = load({ WEBGEAR_RTC_PREBUILD: empty.path });
    assert.equal(result.loaded, false);
    assert.match(result.problem ?? '', new RegExp(`^not built: no prebuild for ${process.platform}-${process.arch}`));
  } finally {
    empty.cleanup();
  }
});

test('a build older than the code (a function missing) is refused, naming what it lacks: the JavaScript path serves', () => {
  if (nativeSrtp) {
    assert.equal(staleAddonProblem(nativeSrtp), undefined, 'this checkout\'s own build has everything');
    const { reduceHeap, ...older } = nativeSrtp;
    void reduceHeap;
    assert.equal(staleAddonProblem(older), 'the addon is older than this code (it has no reduceHeap): rebuild it with npm run build:native');
  }
  assert.match(staleAddonProblem({}) ?? '', /^the addon is older than this code \(it has no context, contextReports, senderReport, rtcpOpener, openRtcp, target, .*reduceHeap, lane, .*fanoutWrite\)/);
});

test('a build that does not load is named with the loader\'s error', () => {
  const broken = tempDir();
  try {
    mkdirSync(join(broken.path, 'build', 'Release'), { recursive: true });
    writeFileSync(join(broken.path, 'build', 'Release', 'webgear_native.node'), 'not a shared library');
    const result = load({ WEBGEAR_RTC_PREBUILD: broken.path });
    assert.equal(result.loaded, false);
    assert.match(result.problem ?? '', /^the addon does not load: .*webgear_native\.node.*(invalid ELF header|not a mach-o|too short)/i);
  } finally {
    broken.cleanup();
  }
});

test('the warning is given once per server (per logger), naming the problem', () => {
  const lines: string[][] = [[], []];
  const loggers: Logger[] = lines.map((sink) => ({ debug() {}, info() {}, warn: (line: string) => sink.push(line), error() {} }));
  warnNativeSrtpUnused(loggers[0]!, 'turned off with WEBGEAR_NATIVE=0');
  warnNativeSrtpUnused(loggers[0]!, 'turned off with WEBGEAR_NATIVE=0');
  warnNativeSrtpUnused(loggers[1]!, 'not built');
  assert.equal(lines[0]!.length, 1);
  assert.match(lines[0]![0]!, /native SRTP sender is not used \(turned off with WEBGEAR_NATIVE=0\): sending from JavaScript/);
  assert.deepEqual(lines[1]!.length, 1, 'another server says it too');
});
