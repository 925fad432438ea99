import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeyframeRequests } from '../../../../lib/ingest/keyframe-requests.ts';

describe('KeyframeRequests', () => {
  test('one request per layer per 500 ms; layers apart; counted', () => {
    const requests = new KeyframeRequests<string>();
    const at = [0, 20, 40, 499, 500, 700, 1_001].map((now) => requests.allow('h', now));
    assert.deepEqual(at, [true, false, false, false, true, false, true]);
    assert.equal(requests.allow('l', 20), true, 'another layer has its own interval');
    assert.deepEqual([requests.sent, requests.suppressed], [4, 4]);
  });

  test('due() tells without counting; forget() lets the next one through', () => {
    const requests = new KeyframeRequests<number>(100);
    assert.equal(requests.due(1, 0), true);
    requests.allow(1, 0);
    assert.equal(requests.due(1, 50), false);
    assert.equal(requests.suppressed, 0);
    requests.forget(1);
    assert.equal(requests.allow(1, 50), true);
  });
});
