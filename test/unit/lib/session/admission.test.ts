/** lib/session/admission.ts: the connecting sessions' own cap, and the per-address one. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignalingError } from '../../../../lib/errors.ts';
import { Admission } from '../../../../lib/session/admission.ts';

const refusal = (status: number, retryAfter: string) => (error: unknown) => {
  assert.ok(error instanceof SignalingError);
  assert.equal(error.status, status);
  assert.equal(error.headers['Retry-After'], retryAfter);
  return true;
};

test('one address may have only so many sessions connecting: 429 beyond, others unaffected', () => {
  const admission = new Admission({ maxConnecting: 100, maxConnectingPerAddress: 2 });
  const a1 = admission.enter('10.0.0.1');
  admission.enter('10.0.0.1');
  assert.throws(() => admission.enter('10.0.0.1'), refusal(429, '5'));
  assert.doesNotThrow(() => admission.enter('10.0.0.2'), 'another address');
  a1.release();
  a1.release(); // twice: still one place given back
  assert.doesNotThrow(() => admission.enter('10.0.0.1'), 'a place freed');
  assert.throws(() => admission.enter('10.0.0.1'), refusal(429, '5'));
  assert.equal(admission.connecting, 3);
});

test('all addresses together have a cap: 503 with Retry-After beyond it; an unknown address counts there only', () => {
  const admission = new Admission({ maxConnecting: 3, maxConnectingPerAddress: 10 });
  const tickets = [admission.enter('a'), admission.enter('b'), admission.enter(undefined)];
  assert.throws(() => admission.enter('c'), refusal(503, '2'));
  tickets[2]!.release();
  assert.doesNotThrow(() => admission.enter(undefined));
  for (const ticket of tickets) ticket.release();
  assert.equal(admission.connecting, 1);
});
