/**
 * A viewer's RTCP sender reports from the addon (lib/native/sender-report.h, lib/sender/sender-reports.ts):
 * sealed with SRTCP's AES-128-GCM exactly as werift seals its own (the same bytes for the same report and
 * index), read back by werift's SRTCP session; sent by a lane after one of its packets when one is due, with
 * the counts of everything the lane sent; out of the lane, after a packet JavaScript sent; and from a timer
 * for a viewer sent nothing for a while.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  RtcpPacketConverter, RtcpSenderInfo, RtcpSourceDescriptionPacket, RtcpSrPacket, SourceDescriptionChunk, SourceDescriptionItem,
  type RtcpPacket,
} from 'werift';
import { NativeFanout, type LaneBinding } from '../../../../lib/fanout/native-fanout.ts';
import { udpSocketHandle } from '../../../../lib/native/index.ts';
import { NativeLane } from '../../../../lib/sender/native-lane.ts';
import { SenderReports } from '../../../../lib/sender/sender-reports.ts';
import { addon, boundSocket, closeAll, skipWithoutAddon, srtcpPair } from './fixtures.ts';

const CNAME = 'b4c1f0a2-webgear';

/** werift's sending and receiving SRTCP sessions, and the sending one's key and salt (the addon's). */
function sessions() {
  const { sealer: sender, opener: receiver, key, salt } = srtcpPair();
  return { sender, receiver, key, salt };
}

/** The SR and SDES in a decrypted compound packet. */
function readReport(compound: Buffer): { sr: RtcpSrPacket; sdes: RtcpSourceDescriptionPacket | undefined } {
  const packets: RtcpPacket[] = RtcpPacketConverter.deSerialize(compound);
  const sr = packets.find((packet): packet is RtcpSrPacket => packet instanceof RtcpSrPacket);
  assert.ok(sr, 'the compound packet starts with a sender report');
  return { sr, sdes: packets.find((packet): packet is RtcpSourceDescriptionPacket => packet instanceof RtcpSourceDescriptionPacket) };
}

test('a sealed report is the bytes werift seals for the same report and SRTCP index, and werift reads it back', { skip: skipWithoutAddon }, () => {
  const native = addon();
  const { sender, receiver, key, salt } = sessions();
  const ssrc = 0x8a3b_0c11;
  const context = native.context(randomBytes(16), randomBytes(12), ssrc, 96);
  native.contextReports(context, key, salt, 0, CNAME);
  const out = Buffer.alloc(320);
  const fields = { ntpSeconds: 3_973_841_234, ntpFraction: 0x8000_1234, rtpTimestamp: 0xfedc_ba98, packetCount: 123_456, octetCount: 4_000_000_001 };
  for (let round = 1; round <= 3; round++) {
    const length = native.senderReport(context, out, fields.ntpSeconds, fields.ntpFraction, fields.rtpTimestamp, fields.packetCount + round, fields.octetCount);
    const ours = Buffer.from(out.subarray(0, length));
    // werift's own: SR and SDES CNAME, its index for the SSRC counted from 0 as ours was (lastIndex 0).
    const senderInfo = new RtcpSenderInfo({ ntpTimestamp: (BigInt(fields.ntpSeconds) << 32n) | BigInt(fields.ntpFraction), rtpTimestamp: fields.rtpTimestamp, packetCount: fields.packetCount + round, octetCount: fields.octetCount });
    const plain = Buffer.concat([
      new RtcpSrPacket({ ssrc, senderInfo }).serialize(),
      new RtcpSourceDescriptionPacket({ chunks: [new SourceDescriptionChunk({ source: ssrc, items: [new SourceDescriptionItem({ type: 1, text: CNAME })] })] }).serialize(),
    ]);
    assert.deepEqual(ours, sender.encrypt(plain), `report ${round}: the same bytes as werift's`);
    assert.equal(ours.readUInt32BE(ours.length - 4), (0x8000_0000 | round) >>> 0, 'encrypted, SRTCP index lastIndex + round');
    const { sr, sdes } = readReport(receiver.decrypt(ours));
    assert.equal(sr.ssrc, ssrc);
    assert.equal(sr.senderInfo.ntpTimestamp, (BigInt(fields.ntpSeconds) << 32n) | BigInt(fields.ntpFraction));
    assert.equal(sr.senderInfo.rtpTimestamp, fields.rtpTimestamp);
    assert.equal(sr.senderInfo.packetCount, fields.packetCount + round);
    assert.equal(sr.senderInfo.octetCount, fields.octetCount);
    assert.equal(sdes?.chunks[0]?.items[0]?.text, CNAME);
  }
  // Another CNAME length (the SDES padding) and no CNAME at all (no SDES), from a later index.
  for (const cname of ['x', 'ab', 'abc', 'abcd', '']) {
    native.contextReports(context, key, salt, 1000, cname);
    const length = native.senderReport(context, out, 1, 2, 3, 4, 5);
    const { sr, sdes } = readReport(receiver.decrypt(Buffer.from(out.subarray(0, length))));
    assert.equal(sr.senderInfo.packetCount, 4);
    assert.equal(sdes?.chunks[0]?.items[0]?.text, cname || undefined, `CNAME ${JSON.stringify(cname)}`);
    assert.equal(out.readUInt32BE(length - 4), (0x8000_0000 | 1001) >>> 0);
  }
  // A context without reports set seals none.
  assert.equal(native.senderReport(native.context(randomBytes(16), randomBytes(12), 1, 96), out, 1, 2, 3, 4, 5), 0);
  assert.throws(() => native.contextReports(context, key.subarray(0, 8), salt, 0, ''), /contextReports\(context, key, salt, lastIndex, cname\)/);
  assert.throws(() => native.contextReports(context, key, salt, 0, 'c'.repeat(255)), /a CNAME under 255 bytes/);
  assert.throws(() => native.senderReport(context, Buffer.alloc(100), 1, 2, 3, 4, 5), /at least 320 bytes/);
});

test('a lane sends its viewer\'s report after a packet once one is due, counting every packet sent; then every 0.5-1.5 s', { skip: skipWithoutAddon, timeout: 20_000 }, async () => {
  const native = addon();
  const { receiver, key, salt } = sessions();
  const from = await boundSocket();
  const viewerSocket = await boundSocket();
  const inbox: Buffer[] = [];
  viewerSocket.on('message', (data: Buffer) => inbox.push(data));
  try {
    const ssrc = 0x1234_5678;
    const context = native.context(randomBytes(16), randomBytes(12), ssrc, 96);
    native.contextReports(context, key, salt, 41, CNAME);
    const lane = new NativeLane(96, ssrc, native.handleId(context));
    lane.route(native.handleId(udpSocketHandle(from)!), native.target('127.0.0.1', viewerSocket.address().port));
    const heard: { ntp: bigint; sentAtMs: number }[] = [];
    const reports = new SenderReports(context, lane.state, () => assert.fail('nothing is sent from JavaScript here'), (ntp, sentAtMs) => heard.push({ ntp, sentAtMs }));
    // 7 packets of 200 bytes of payload sent from JavaScript before the lane took over (counted, not yet due).
    for (let i = 0; i < 7; i++) reports.afterPacket(200, 1000, Date.now());
    lane.enter({ nextSeq: 10, rollover: { highest: 9, rollovers: 0 }, timestampOffset: 0, lastTimestamp: 0, lastAtMs: 0, pictureIds: undefined, transportWide: undefined, frameEnded: true, pacing: { rate: 0, budget: 0, atMs: 0 } });
    const fanout = new NativeFanout(false);
    const binding: LaneBinding = { handle: lane.handle, get refused() { return lane.refused; }, onRefused: () => assert.fail('refused'), check: () => {} };
    fanout.add(binding);
    const packet = (seq: number, timestamp: number) => {
      const bytes = Buffer.concat([Buffer.from([0x80, 100, seq >> 8, seq & 0xff, 0, 0, 0, 0, 0, 0, 0, 1]), randomBytes(300)]);
      bytes.writeUInt32BE(timestamp, 4);
      return bytes;
    };
    const isRtcp = (data: Buffer) => data[1]! >= 192 && data[1]! <= 223;
    // Before the first is due (a second after the reports started): packets, no report.
    for (let seq = 1; seq <= 5; seq++) fanout.write(packet(seq, seq * 3000));
    await sleep(200);
    assert.equal(inbox.filter(isRtcp).length, 0, 'no report before one is due');
    // Every 100 ms a packet, for 3.2 s: the first report after the one that made it due, then one each 0.5-1.5 s.
    const start = Date.now();
    let seq = 6;
    while (Date.now() - start < 3_200) {
      fanout.write(packet(seq, seq * 3000));
      seq++;
      await sleep(100);
    }
    await sleep(100);
    const srtcp = inbox.filter(isRtcp);
    assert.ok(srtcp.length >= 2 && srtcp.length <= 6, `${srtcp.length} reports in 3.2 s (one each 0.5-1.5 s)`);
    let previousPackets = 0;
    srtcp.forEach((data, i) => {
      const { sr, sdes } = readReport(receiver.decrypt(data));
      assert.equal(data.readUInt32BE(data.length - 4), (0x8000_0000 | (42 + i)) >>> 0, 'the SRTCP index goes on from the last one werift used');
      assert.equal(sr.ssrc, ssrc);
      assert.equal(sdes?.chunks[0]?.items[0]?.text, CNAME);
      // The report follows the packet it was sent after: it counts it and carries its timestamp.
      const packets = sr.senderInfo.packetCount;
      assert.ok(packets > previousPackets && packets > 7, `report ${i}: ${packets} packets counted`);
      assert.equal(sr.senderInfo.octetCount, 7 * 200 + (packets - 7) * 300, 'payload bytes, JavaScript\'s and the lane\'s');
      assert.equal(sr.senderInfo.rtpTimestamp, (packets - 7) * 3000, 'the RTP time of the packet it followed');
      const ntpMs = Number(sr.senderInfo.ntpTimestamp >> 32n) * 1000 - 2_208_988_800_000 + (Number(sr.senderInfo.ntpTimestamp & 0xffff_ffffn) / 2 ** 32) * 1000;
      assert.ok(Math.abs(ntpMs - Date.now()) < 5_000, 'its NTP time is the wall clock\'s');
      previousPackets = packets;
    });
    // JavaScript hears of the last one when it asks (before it reads a receiver report).
    reports.takeLaneReports();
    assert.equal(heard.length, 1);
    assert.equal(heard[0]!.ntp, readReport(receiver.decrypt(srtcp.at(-1)!)).sr.senderInfo.ntpTimestamp);
    assert.ok(performance.now() - heard[0]!.sentAtMs < 1_700, 'when it left');
    reports.takeLaneReports();
    assert.equal(heard.length, 1, 'each one once');
    assert.equal(reports.sent, srtcp.length);
    fanout.remove(binding);
    reports.close();
  } finally {
    await closeAll(from, viewerSocket);
  }
});

test('out of the lane, a report goes after the packet that made it due, through the sender\'s own path', { skip: skipWithoutAddon }, () => {
  const native = addon();
  const { receiver, key, salt } = sessions();
  const context = native.context(randomBytes(16), randomBytes(12), 77, 111);
  native.contextReports(context, key, salt, 0, '');
  const sent: Buffer[] = [];
  const heard: bigint[] = [];
  const reports = new SenderReports(context, undefined, (srtcp) => sent.push(srtcp), (ntp) => heard.push(ntp));
  const now = Date.now();
  reports.afterPacket(160, 48_000, now);
  assert.equal(sent.length, 0, 'the first is due a second after the start');
  reports.afterPacket(160, 48_960, now + 1_100);
  assert.equal(sent.length, 1);
  const { sr } = readReport(receiver.decrypt(sent[0]!));
  assert.equal(sr.senderInfo.packetCount, 2);
  assert.equal(sr.senderInfo.octetCount, 320);
  assert.equal(sr.senderInfo.rtpTimestamp, 48_960);
  assert.deepEqual(heard, [sr.senderInfo.ntpTimestamp]);
  reports.afterPacket(160, 49_920, now + 1_500);
  assert.equal(sent.length, 1, 'the next one at least 0.5 s later');
  reports.afterPacket(160, 50_880, now + 2_700);
  assert.equal(sent.length, 2, 'and at most 1.5 s later');
  assert.equal(reports.sent, 2);
  reports.close();
});

test('a viewer sent nothing more still gets its reports, from the timer: the last packet\'s RTP time and when it left', { skip: skipWithoutAddon, timeout: 10_000 }, async () => {
  const native = addon();
  const { receiver, key, salt } = sessions();
  const context = native.context(randomBytes(16), randomBytes(12), 78, 96);
  native.contextReports(context, key, salt, 0, CNAME);
  const sent: { at: number; srtcp: Buffer }[] = [];
  let live = true;
  const reports = new SenderReports(context, undefined, (srtcp) => sent.push({ at: Date.now(), srtcp }), () => {}, () => live);
  try {
    // A burst of 20 packets, then nothing (as a source that paused): no packet is there to send a report after.
    const burstAt = Date.now();
    for (let i = 0; i < 20; i++) reports.afterPacket(600, 90_000 + i * 3000, burstAt);
    const deadline = Date.now() + 4_500;
    while (sent.length < 2 && Date.now() < deadline) await sleep(50);
    assert.ok(sent.length >= 2, `reports with nothing sent for 4.5 s: ${sent.length}`);
    assert.ok(sent[0]!.at - burstAt >= 1_000 && sent[0]!.at - burstAt <= 2_600, `the first ${sent[0]!.at - burstAt} ms after the burst (due after 1 s, sent within a second of that)`);
    for (const { srtcp } of sent) {
      const { sr } = readReport(receiver.decrypt(srtcp));
      assert.equal(sr.senderInfo.packetCount, 20);
      assert.equal(sr.senderInfo.octetCount, 20 * 600);
      assert.equal(sr.senderInfo.rtpTimestamp, 90_000 + 19 * 3000, 'the last packet\'s RTP time…');
      const ntpMs = Number(sr.senderInfo.ntpTimestamp >> 32n) * 1000 - 2_208_988_800_000 + (Number(sr.senderInfo.ntpTimestamp & 0xffff_ffffn) / 2 ** 32) * 1000;
      assert.ok(Math.abs(ntpMs - burstAt) < 2, '…with the NTP time it left at');
    }
    // Once the viewer is not sent to any more, the timer forgets it.
    live = false;
    await sleep(1_200);
    const count = sent.length;
    await sleep(2_000);
    assert.equal(sent.length, count, 'no report once the viewer is gone');
  } finally {
    reports.close();
  }
});
