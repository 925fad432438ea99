import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { publicUrlOf, resourceUrlOf, retryAfterMsOf, WhipError } from '../../../../lib/publish/whip-http.ts';

describe("resourceUrlOf (the 201's Location)", () => {
  const endpoint = 'http://10.0.0.2:7080/whip/endpoint/abc123';

  test("a relative Location (simple-whip-server's) is resolved against the URL that answered", () => {
    assert.equal(resourceUrlOf('/whip/resource/abc123', endpoint), 'http://10.0.0.2:7080/whip/resource/abc123');
    assert.equal(resourceUrlOf('resource/1', 'https://sfu.example.com/whip/endpoint'), 'https://sfu.example.com/whip/resource/1');
    assert.equal(resourceUrlOf('../x?y=1', 'https://sfu.example.com/a/b/c'), 'https://sfu.example.com/a/x?y=1');
  });

  test('an absolute one is kept, on another host too', () => {
    assert.equal(resourceUrlOf('https://edge-7.example.com/r/9f', endpoint), 'https://edge-7.example.com/r/9f');
  });

  test('none, or not an http(s) URL: a WhipError saying so', () => {
    for (const location of [null, undefined, '']) {
      assert.throws(() => resourceUrlOf(location, endpoint), (error: unknown) => error instanceof WhipError && /without a Location/.test(error.message));
    }
    assert.throws(() => resourceUrlOf('ftp://x/y', endpoint), /not an http\(s\) URL/);
    assert.throws(() => resourceUrlOf('http://[::1', endpoint), /not a URL/);
  });
});

describe('retryAfterMsOf (Retry-After)', () => {
  test('seconds, or an HTTP date from now', () => {
    assert.equal(retryAfterMsOf('5'), 5_000);
    assert.equal(retryAfterMsOf(' 120 '), 120_000);
    const now = Date.parse('Tue, 01 Dec 2026 10:00:00 GMT');
    assert.equal(retryAfterMsOf('Tue, 01 Dec 2026 10:00:30 GMT', now), 30_000);
    assert.equal(retryAfterMsOf('Tue, 01 Dec 2026 09:00:00 GMT', now), 0);
  });

  test('absent or unreadable: undefined', () => {
    assert.equal(retryAfterMsOf(null), undefined);
    assert.equal(retryAfterMsOf('soon'), undefined);
    assert.equal(retryAfterMsOf('-3'), undefined);
  });
});

describe('publicUrlOf', () => {
  test('a URL as errors, logs and stats show it: without credentials or query', () => {
    assert.equal(publicUrlOf('https://user:pass@sfu.example.com/whip/live?token=secret#x'), 'https://sfu.example.com/whip/live');
    assert.equal(publicUrlOf('http://10.0.0.2:7080/whip/endpoint/abc'), 'http://10.0.0.2:7080/whip/endpoint/abc');
  });
});
