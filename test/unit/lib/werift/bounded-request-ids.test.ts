/**
 * werift patch 012 (bounded-request-ids): a candidate pair tells a retransmitted STUN request from a new one
 * by remembering the last 64 transaction ids, not every id it was ever sent (a browser sends a consent
 * check every few seconds for as long as the viewer stays).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { Candidate, CandidatePair } from 'werift';

interface PairInternals {
  noteIncomingRequest(transactionId: string): boolean;
  requestTransactionIds: Set<string>;
  retransmissionsReceived: number;
}

const cjs = createRequire(import.meta.url)('werift') as { Candidate: typeof Candidate; CandidatePair: typeof CandidatePair };
for (const [build, PairClass, CandidateClass] of [['ESM bundle', CandidatePair, Candidate], ['CommonJS build', cjs.CandidatePair, cjs.Candidate]] as const) {
  test(`${build}: a day of consent checks leaves 64 ids; a retransmission of a recent one is still counted`, () => {
    const remote = new CandidateClass('f', 1, 'udp', 1, '127.0.0.1', 5000, 'host');
    const pair = new PairClass({} as never, remote, true) as unknown as PairInternals;
    const id = (n: number) => n.toString(16).padStart(24, '0');
    for (let n = 0; n < 20_000; n++) assert.equal(pair.noteIncomingRequest(id(n)), false);
    assert.equal(pair.requestTransactionIds.size, 64);
    assert.equal(pair.noteIncomingRequest(id(19_999)), true, 'the latest one, sent again');
    assert.equal(pair.noteIncomingRequest(id(19_936)), true, 'the oldest still remembered');
    assert.equal(pair.retransmissionsReceived, 2);
    assert.equal(pair.noteIncomingRequest(id(19_935)), false, 'forgotten: counted as new');
    assert.equal(pair.requestTransactionIds.size, 64);
  });
}
