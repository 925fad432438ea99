import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_RETRY_MS, retryDelayMs } from '../../../../lib/publish/publisher.ts';

describe('the publisher', () => {
  test('retryDelayMs: 1 s, doubling, at most 30 s; longer when the endpoint asks (Retry-After), up to 150 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 20].map((failures) => retryDelayMs(failures)), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    assert.equal(retryDelayMs(0), 1_000);
    assert.equal(retryDelayMs(1, 10_000), 10_000);
    assert.equal(retryDelayMs(6, 10_000), MAX_RETRY_MS);
    assert.equal(retryDelayMs(1, 3_600_000), 150_000);
  });
});
