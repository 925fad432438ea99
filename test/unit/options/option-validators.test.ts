import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { WebGearRtcOptionError } from '../../../lib/errors.ts';
import {
  booleanOption, choiceOption, directoryListOption, functionOption, iceServersOption, integerPairOption, numberOption,
  originListOption, pathPrefixOption, stringListOption, stringOption, switchOrGuardOption,
} from '../../../options/option-validators.ts';

const dir = mkdtempSync(join(tmpdir(), 'webgear-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Expects a WebGearRtcOptionError for option "x" whose message ends with `ending`. */
function refuses(run: () => unknown, ending: string) {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof WebGearRtcOptionError, String(error));
    assert.equal(error.option, 'x');
    assert.ok(error.message.endsWith(ending), `${JSON.stringify(error.message)} should end with ${JSON.stringify(ending)}`);
    return true;
  });
}

describe('option validators', () => {
  test('every validator returns its fallback for undefined', () => {
    assert.equal(booleanOption('x', undefined, true), true);
    assert.equal(functionOption('x', undefined), undefined);
    assert.equal(numberOption('x', undefined, { min: 0, max: 1, integer: true }), undefined);
    assert.equal(stringOption('x', undefined), undefined);
    assert.equal(choiceOption('x', undefined, ['a', 'b'], 'b'), 'b');
    assert.equal(pathPrefixOption('x', undefined), undefined);
    assert.deepEqual(directoryListOption('x', undefined), []);
    assert.equal(integerPairOption('x', undefined, 0, 10), undefined);
    assert.deepEqual(stringListOption('x', undefined), []);
    assert.deepEqual(iceServersOption('x', undefined), []);
    assert.equal(originListOption('x', undefined), '*');
    assert.equal(switchOrGuardOption('x', undefined, true), true);
  });

  test('messages say what the value must be and what it was', () => {
    refuses(() => booleanOption('x', 'yes', false), 'must be true or false (got "yes")');
    refuses(() => numberOption('x', 1.5, { min: 1, max: 10, integer: true }), 'must be an integer from 1 to 10 (got 1.5)');
    refuses(() => numberOption('x', 11, { min: 1, max: 10, integer: false }), 'must be a number from 1 to 10 (got 11)');
    refuses(() => choiceOption('x', 'c', ['a', 'b', 'd'], 'a'), 'must be "a", "b" or "d" (got "c")');
    refuses(() => choiceOption('x', 'c', ['a', 'b'], 'a'), 'must be "a" or "b" (got "c")');
    refuses(() => stringOption('x', ''), 'must be a non-empty string (got "")');
    refuses(() => pathPrefixOption('x', 'cam'), 'must be a path starting with "/" (got "cam")');
    refuses(() => integerPairOption('x', [1, 2, 3], 0, 10), 'must be a pair of integers from 0 to 10 (got an array)');
    refuses(() => directoryListOption('x', join(dir, 'nope')), `names no existing directory: ${JSON.stringify(join(dir, 'nope'))}`);
    refuses(() => functionOption('x', {}), 'must be a function (got an object)');
    refuses(() => switchOrGuardOption('x', 'on', true), 'must be true, false or a function (ctx) => boolean (got "on")');
  });

  test('a file is not a directory', () => {
    const file = join(dir, 'file.txt');
    writeFileSync(file, '');
    refuses(() => directoryListOption('x', [dir, file]), `names no existing directory: ${JSON.stringify(file)}`);
  });

  test('numbers: bounds are inclusive; NaN and infinities are refused', () => {
    assert.equal(numberOption('x', 0, { min: 0, max: 90, integer: false }), 0);
    assert.equal(numberOption('x', 90, { min: 0, max: 90, integer: false }), 90);
    assert.equal(numberOption('x', 12.5, { min: 0, max: 90, integer: false }), 12.5);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -0.1, 90.1, '5', null]) {
      assert.throws(() => numberOption('x', bad, { min: 0, max: 90, integer: false }), WebGearRtcOptionError, String(bad));
    }
  });

  test('path prefixes lose their trailing slashes; "/" becomes the root ""', () => {
    assert.equal(pathPrefixOption('x', '/cam'), '/cam');
    assert.equal(pathPrefixOption('x', '/cam/live//'), '/cam/live');
    assert.equal(pathPrefixOption('x', '/'), '');
  });

  test('ICE servers: stun/stuns/turn/turns URLs, one or many, with optional credentials', () => {
    const servers = [
      { urls: 'stun:stun.example.com' },
      { urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349'], username: 'u', credential: 'p' },
      { urls: 'stuns:stun.example.com:5349' },
    ];
    assert.deepEqual(iceServersOption('x', servers), servers);
    for (const bad of [[{ urls: 'https://x' }], [{ urls: ['stun:x', 'ftp:y'] }], [{ urls: 'turn:x', credential: 5 }], [null], 'stun:x']) {
      assert.throws(() => iceServersOption('x', bad), WebGearRtcOptionError, JSON.stringify(bad));
    }
  });

  test('CORS origins: "*", one origin or a list, scheme://host[:port] without a path', () => {
    assert.equal(originListOption('x', '*'), '*');
    assert.deepEqual(originListOption('x', 'https://tv.example.com:8443'), ['https://tv.example.com:8443']);
    assert.deepEqual(originListOption('x', ['http://localhost:3000', 'https://a.example']), ['http://localhost:3000', 'https://a.example']);
    for (const bad of ['https://a.example/', 'https://a.example?x', 'a.example', [], ['*'], ['https://a.example', 7]]) {
      assert.throws(() => originListOption('x', bad), WebGearRtcOptionError, JSON.stringify(bad));
    }
  });

  test('integer pairs and string lists', () => {
    assert.deepEqual(integerPairOption('x', [16, 8192], 16, 8192), [16, 8192]);
    assert.throws(() => integerPairOption('x', [15, 20], 16, 8192), WebGearRtcOptionError);
    assert.deepEqual(stringListOption('x', ['127.0.0.1', '203.0.113.5']), ['127.0.0.1', '203.0.113.5']);
    assert.throws(() => stringListOption('x', ['']), WebGearRtcOptionError);
  });
});
