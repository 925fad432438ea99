/**
 * senderCounts(): a viewer's counters from werift's sender. werift measures the round trip with a
 * millisecond clock, so on loopback its figure can fall below zero; what we report never does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RTCRtpSender, RtcpReceiverInfo, RtcpRrPacket } from 'werift';
import { senderCounts } from '../../../../lib/werift/sender-stats.ts';

/** A receiver report for `sender`'s stream, echoing sender report `lsr` after holding it `dlsrMs`. */
function receiverReport(sender: RTCRtpSender, lsr: number, dlsrMs: number): RtcpRrPacket {
  const report = new RtcpReceiverInfo({
    ssrc: sender.ssrc, fractionLost: 0, packetsLost: 2, highestSequence: 100, jitter: 0,
    lsr, dlsr: Math.round((dlsrMs * 65536) / 1000),
  });
  return new RtcpRrPacket({ ssrc: 1, reports: [report] });
}

test('a round trip werift measures below zero (its millisecond clock on loopback) is reported as 0', () => {
  const sender = new RTCRtpSender('video');
  const internals = sender as unknown as { lastSRtimestamp: number; lastSentSRTimestamp: number; rtt: number | undefined };
  internals.lastSRtimestamp = 0x1234_5678;
  // The sender report left "now" by werift's clock; the viewer says it held it 1 ms: werift gets ≈ −1 ms.
  internals.lastSentSRTimestamp = Date.now() / 1000;
  sender.handleRtcpPacket(receiverReport(sender, 0x1234_5678, 1));
  assert.ok(internals.rtt! < 0, `werift's own figure is below zero here (${internals.rtt})`);
  const counts = senderCounts(sender, Date.now());
  assert.equal(counts.roundTripTime, 0);
  assert.equal(counts.packetsLost, 2, 'the rest of the report is read as before');
});

test('a positive round trip is reported as werift measured it', () => {
  const sender = new RTCRtpSender('video');
  const internals = sender as unknown as { lastSRtimestamp: number; lastSentSRTimestamp: number };
  internals.lastSRtimestamp = 0x1234_5678;
  internals.lastSentSRTimestamp = Date.now() / 1000 - 0.05; // 50 ms ago, held 10 ms: ≈ 40 ms
  sender.handleRtcpPacket(receiverReport(sender, 0x1234_5678, 10));
  const rtt = senderCounts(sender, Date.now()).roundTripTime!;
  assert.ok(rtt > 0.035 && rtt < 0.06, `${rtt} s`);
});

test('the counts are those werift\'s stats report holds, read without building the report (and through it for a werift that keeps them elsewhere)', () => {
  const sender = new RTCRtpSender('video');
  const internals = sender as unknown as { packetCount: number; octetCount: number; nackCount: number; pliCount: number; lastSRtimestamp: number; lastSentSRTimestamp: number };
  Object.assign(internals, { packetCount: 1234, octetCount: 1_456_789, nackCount: 3, pliCount: 2 });
  internals.lastSRtimestamp = 0x1234_5678;
  internals.lastSentSRTimestamp = Date.now() / 1000 - 0.05;
  sender.handleRtcpPacket(receiverReport(sender, 0x1234_5678, 10));
  const fromReport = (() => {
    const entries = sender.collectStats(Date.now()) as unknown as Record<string, number | string>[];
    const outbound = entries.find((entry) => entry.type === 'outbound-rtp')!;
    const remote = entries.find((entry) => entry.type === 'remote-inbound-rtp')!;
    return { packetsSent: outbound.packetsSent, bytesSent: outbound.bytesSent, nackCount: outbound.nackCount, pliCount: outbound.pliCount, packetsLost: remote.packetsLost, roundTripTime: remote.roundTripTime };
  })();
  let reports = 0;
  const collectStats = sender.collectStats.bind(sender);
  sender.collectStats = ((now: number) => {
    reports++;
    return collectStats(now);
  }) as typeof sender.collectStats;
  assert.deepEqual(senderCounts(sender, Date.now()), fromReport);
  assert.equal(reports, 0, 'werift\'s report was not built');
  // A werift that keeps its counters under other names: its report is read instead.
  const other = new RTCRtpSender('video');
  delete (other as unknown as { packetCount?: number }).packetCount;
  (other as unknown as { octetCount: number }).octetCount = 99;
  assert.equal(senderCounts(other, Date.now()).bytesSent, 99);
});
