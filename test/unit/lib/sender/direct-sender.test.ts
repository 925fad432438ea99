import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ntpTimestampOf } from '../../../../lib/sender/direct-sender.ts';

const NTP_1970 = 2_208_988_800n;

describe('ntpTimestampOf', () => {
  test('1970-01-01T00:00:00Z is 2 208 988 800 seconds after NTP\'s epoch (1900), fraction 0', () => {
    assert.equal(ntpTimestampOf(0), NTP_1970 << 32n);
  });

  test('fractions of a second fill the low 32 bits', () => {
    assert.equal(ntpTimestampOf(500), (NTP_1970 << 32n) | 0x8000_0000n);
    assert.equal(ntpTimestampOf(1_250), ((NTP_1970 + 1n) << 32n) | 0x4000_0000n);
    assert.equal(ntpTimestampOf(0.5) & 0xffff_ffffn, 2_147_483n, 'sub-millisecond (performance.now) kept');
  });

  test('known instants', () => {
    // 2000-01-01T00:00:00Z: NTP seconds 3 155 673 600.
    assert.equal(ntpTimestampOf(Date.UTC(2000, 0, 1)), 3_155_673_600n << 32n);
    const at = Date.UTC(2025, 5, 1, 12, 0, 0, 750);
    assert.equal(ntpTimestampOf(at) >> 32n, BigInt(Math.floor(at / 1000)) + NTP_1970);
    assert.equal(ntpTimestampOf(at) & 0xffff_ffffn, 0xc000_0000n);
  });

  test('era 1 begins on 2036-02-07T06:28:16Z: the 64-bit timestamp wraps to 0 (RFC 5905 §6)', () => {
    // werift writes the value with writeBigUInt64BE: 2^64 and above would throw in every sender report.
    const eraStart = Date.UTC(2036, 1, 7, 6, 28, 16);
    assert.equal(ntpTimestampOf(eraStart - 1_000), 0xffff_ffffn << 32n);
    assert.equal(ntpTimestampOf(eraStart), 0n);
    assert.equal(ntpTimestampOf(eraStart + 500), 0x8000_0000n);
  });
});
