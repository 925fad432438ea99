import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WebGearRtcOptionError } from '../../../lib/errors.ts';
import { publishOption } from '../../../options/scale-options.ts';
import { resolveOptions } from '../../../options/resolve-options.ts';

/** Expects a WebGearRtcOptionError naming `option` whose message matches. */
function refuses(value: unknown, option: string, message: RegExp) {
  assert.throws(() => publishOption('publish', value), (error: unknown) => {
    assert.ok(error instanceof WebGearRtcOptionError, String(error));
    assert.equal(error.option, option);
    assert.match(error.message, message);
    return true;
  });
}

describe('the publish option', () => {
  test('a URL, or { url, token?, iceServers? }', () => {
    assert.equal(publishOption('publish', undefined), undefined);
    assert.deepEqual(publishOption('publish', 'https://sfu.example.com/whip/live'), { url: 'https://sfu.example.com/whip/live' });
    assert.deepEqual(publishOption('publish', {
      url: 'http://10.0.0.2:7080/whip/endpoint/abc',
      token: 'eyJhbGciOi.J9-x_y',
      iceServers: [{ urls: 'turn:turn.example.com', username: 'u', credential: 'p' }],
    }), {
      url: 'http://10.0.0.2:7080/whip/endpoint/abc',
      token: 'eyJhbGciOi.J9-x_y',
      iceServers: [{ urls: 'turn:turn.example.com', username: 'u', credential: 'p' }],
    });
  });

  test('errors name the field: publish.url, publish.token, publish.iceServers, an unknown key', () => {
    refuses({ url: 'whip.example.com/live' }, 'publish.url', /absolute URL/);
    refuses({ url: 'rtmp://cdn.example.com/live' }, 'publish.url', /http: or https: URL/);
    refuses({}, 'publish.url', /WHIP endpoint's URL/);
    refuses('/relative/path', 'publish', /absolute URL/);
    refuses({ url: 'https://x.example', token: 'two words' }, 'publish.token', /visible ASCII/);
    refuses({ url: 'https://x.example', token: 42 }, 'publish.token', /Bearer token/);
    refuses({ url: 'https://x.example', iceServers: [{ urls: 'http://x' }] }, 'publish.iceServers', /stun/);
    refuses({ url: 'https://x.example', Token: 't' }, 'publish.Token', /url, token and iceServers/);
    refuses(7, 'publish', /URL or \{ url, token\?, iceServers\? \}/);
  });

  test('through resolveOptions, with metrics', () => {
    const resolved = resolveOptions({ source: 'testsrc', publish: 'https://sfu.example.com/whip', metrics: true });
    assert.deepEqual(resolved.publish, { url: 'https://sfu.example.com/whip' });
    assert.equal(resolved.metrics, true);
    const guard = () => true;
    assert.equal(resolveOptions({ source: 'testsrc', metrics: guard }).metrics, guard);
  });
});
