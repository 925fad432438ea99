import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readRtcp, roundTripTimeMs, ntpMiddle32, withoutTransportFeedback } from '../../../../lib/rtp/rtcp.ts';
import { fir, nack, pli, receiverReport, remb, rtcpPacket, sdes, senderReport, transportFeedback, twccFci } from '../../support/rtcp-builder.ts';
import { createRng } from '../../support/rng.ts';

test('a compound packet: every part a sender acts on, in order', () => {
  const fci = twccFci(100, 1, 5, 0, [0x2001], [4]);
  const compound = Buffer.concat([
    receiverReport(0xaaaa, [{ ssrc: 0x1111, fractionLost: 64, cumulativeLost: -3, highestSequence: 0x1_0005, jitter: 77, lsr: 0x1234_5678, dlsr: 65536 }]),
    sdes(0xaaaa, 'browser'),
    nack(0xaaaa, 0x1111, [[65534, 0b101], [10, 0]]),
    pli(0xaaaa, 0x1111),
    fir(0xaaaa, [0x2222]),
    remb(0xaaaa, 1_500_000, [0x1111, 0x2222]),
    transportFeedback(0xaaaa, 0x1111, fci),
  ]);
  const s = readRtcp(compound);
  assert.equal(s.malformed, 0);
  assert.deepEqual(s.reports, [
    { reporterSsrc: 0xaaaa, ssrc: 0x1111, fractionLost: 0.25, cumulativeLost: -3, highestSequence: 0x1_0005, jitter: 77, lastSenderReport: 0x1234_5678, delaySinceLastSenderReport: 65536 },
  ]);
  // PID 65534 with BLP bits 0 and 2: 65535 and (wrapping) 1.
  assert.deepEqual(s.nacks, [{ senderSsrc: 0xaaaa, mediaSsrc: 0x1111, sequenceNumbers: [65534, 65535, 1, 10] }]);
  assert.deepEqual(s.keyframeRequests, [
    { kind: 'pli', senderSsrc: 0xaaaa, mediaSsrc: 0x1111 },
    { kind: 'fir', senderSsrc: 0xaaaa, mediaSsrc: 0x2222 },
  ]);
  assert.equal(s.remb.length, 1);
  assert.ok(Math.abs(s.remb[0]!.bitrate - 1_500_000) / 1_500_000 < 1e-4);
  assert.deepEqual(s.remb[0]!.ssrcs, [0x1111, 0x2222]);
  assert.equal(s.transportFeedback.length, 1);
  assert.equal(s.transportFeedback[0]!.mediaSsrc, 0x1111);
  assert.deepEqual([...s.transportFeedback[0]!.fci.subarray(0, fci.length)], [...fci]);
});

test('sender reports carry report blocks after the sender info', () => {
  const s = readRtcp(senderReport(0xbbbb, [{ ssrc: 1, fractionLost: 255 }, { ssrc: 2, cumulativeLost: 0x7fffff }]));
  assert.deepEqual(s.reports.map((b) => [b.reporterSsrc, b.ssrc, b.fractionLost, b.cumulativeLost]), [
    [0xbbbb, 1, 255 / 256, 0],
    [0xbbbb, 2, 0, 0x7fffff],
  ]);
});

test('padding is taken off the last packet; a bad padding count ends the walk', () => {
  const padded = rtcpPacket(206, 15, Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]), remb(1, 300_000, [7]).subarray(12)]), 8);
  const s = readRtcp(Buffer.concat([pli(1, 2), padded]));
  assert.equal(s.remb.length, 1);
  assert.equal(s.remb[0]!.ssrcs[0], 7);
  const bad = Buffer.from(pli(1, 2));
  bad[0]! |= 0x20; // padding bit, last octet (part of the media SSRC) says 2: fine; make it 200
  bad[bad.length - 1] = 200;
  assert.equal(readRtcp(bad).malformed, 1);
});

test('a truncated or foreign packet is counted, not thrown; what came before it is kept', () => {
  const good = pli(1, 2);
  const truncated = receiverReport(1, [{ ssrc: 5 }]).subarray(0, 20);
  const s = readRtcp(Buffer.concat([good, truncated]));
  assert.equal(s.keyframeRequests.length, 1);
  assert.equal(s.malformed, 1);
  // A report count larger than the blocks present: that packet alone is skipped.
  const lying = receiverReport(1, [{ ssrc: 5 }]);
  lying[0] = 0x80 | 3;
  const s2 = readRtcp(Buffer.concat([lying, good]));
  assert.equal(s2.reports.length, 0);
  assert.equal(s2.keyframeRequests.length, 1);
  assert.equal(s2.malformed, 1);
  assert.equal(readRtcp(Buffer.from([0x00, 0xc8, 0x00, 0x00])).malformed, 1); // version 0
  assert.equal(readRtcp(Buffer.alloc(0)).malformed, 0);
  // A NACK whose FCI is not whole 4-octet entries cannot happen (length is in words), but an empty one is fine.
  assert.deepEqual(readRtcp(nack(1, 2, [])).nacks, [{ senderSsrc: 1, mediaSsrc: 2, sequenceNumbers: [] }]);
});

test('random bytes and random corruptions of real packets never throw', () => {
  const rng = createRng(17);
  const base = Buffer.concat([receiverReport(9, [{ ssrc: 1 }]), nack(9, 1, [[5, 0xffff]]), remb(9, 1e6, [1]), transportFeedback(9, 1, twccFci(1, 3, 0, 0, [0x2003], [1, 2, 3]))]);
  for (let i = 0; i < 20_000; i++) {
    let bytes: Buffer;
    if (i % 2 === 0) {
      bytes = Buffer.alloc(Math.floor(rng() * 120));
      for (let k = 0; k < bytes.length; k++) bytes[k] = Math.floor(rng() * 256);
      if (bytes.length > 1) bytes[0] = 0x80 | (bytes[0]! & 0x3f); // mostly version 2, to get past the first check
    } else {
      bytes = Buffer.from(base.subarray(0, Math.floor(rng() * (base.length + 1))));
      for (let k = 0; k < 3 && bytes.length > 0; k++) bytes[Math.floor(rng() * bytes.length)] = Math.floor(rng() * 256);
    }
    readRtcp(bytes);
  }
});

test('round-trip time from LSR/DLSR and the sender report\'s local send time', () => {
  const [block] = readRtcp(receiverReport(1, [{ ssrc: 2, lsr: 0xabcd_0000, dlsr: 65536 / 2 }])).reports;
  assert.equal(roundTripTimeMs(block!, 1540, 1000), 40);
  assert.equal(roundTripTimeMs(block!, 1400, 1000), undefined); // negative: a stale LSR
  assert.equal(roundTripTimeMs(block!, 1540, undefined), undefined);
  assert.equal(roundTripTimeMs({ ...block!, lastSenderReport: 0 }, 1540, 1000), undefined);
  assert.equal(ntpMiddle32(0x1234_abcd, 0x5678_0000), 0xabcd_5678);
});

test('withoutTransportFeedback: what werift gets of a compound packet (transport-cc feedback taken out)', () => {
  const rr = receiverReport(1, [{ ssrc: 2, fractionLost: 5 }]);
  const feedback = transportFeedback(1, 2, twccFci(100, 3, 1000, 7, [0x2003], [4, 4, 4]));
  const missing = nack(1, 2, [[40, 0b11]]);
  const keyframe = pli(1, 2);
  const nothingToTake = Buffer.concat([rr, missing, keyframe]);
  assert.equal(withoutTransportFeedback(nothingToTake), nothingToTake, 'the same Buffer, not a copy');
  assert.deepEqual(withoutTransportFeedback(Buffer.concat([rr, feedback])), rr);
  assert.deepEqual(withoutTransportFeedback(Buffer.concat([feedback, rr, feedback, missing, feedback, keyframe])), Buffer.concat([rr, missing, keyframe]));
  assert.equal(withoutTransportFeedback(feedback).length, 0, 'nothing left: werift parses nothing');
  assert.equal(withoutTransportFeedback(Buffer.concat([feedback, feedback])).length, 0);
  // What readRtcp() finds in the original is all there, but the feedback.
  const kept = readRtcp(withoutTransportFeedback(Buffer.concat([rr, feedback, missing])));
  assert.equal(kept.reports.length, 1);
  assert.equal(kept.nacks.length, 1);
  assert.equal(kept.transportFeedback.length, 0);
  // What cannot be framed goes on as it came (werift drops it as before).
  const truncated = Buffer.concat([rr, feedback]).subarray(0, rr.length + 10);
  assert.equal(withoutTransportFeedback(truncated), truncated);
  const trailing = Buffer.concat([feedback, Buffer.from([1, 2])]);
  assert.equal(withoutTransportFeedback(trailing), trailing);
});
