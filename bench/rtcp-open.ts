/**
 * What opening one viewer's SRTCP packet costs: werift's decrypt (a new AES-GCM cipher object and four
 * Buffers per packet, in JavaScript) against the addon's (lib/native/srtcp-open.c), which the RTCP tap puts in
 * front of it (lib/werift/rtcp-tap.ts). A browser sends transport-cc feedback every 50-100 ms and a receiver
 * report a second: at 600 viewers, 6 000-12 000 packets a second. Then what werift parses of one: a receiver
 * report and a transport-cc feedback as Chromium writes them (14 packets), as they came and as the tap hands
 * them on (`withoutTransportFeedback()`: werift only fed the feedback to its own, unused, estimator). Not part
 * of `npm test`.
 *
 *   node bench/rtcp-open.ts          200 000 packets each way, three rounds
 */
import { randomBytes } from 'node:crypto';
import { RtcpPacketConverter, RtcpReceiverInfo, RtcpRrPacket, SrtcpSession } from 'werift';
import { nativeSrtp, nativeSrtpProblem } from '../lib/native/index.ts';
import { withoutTransportFeedback } from '../lib/rtp/rtcp.ts';
import { useKeyObjectsForSrtp } from '../lib/werift/srtp-keys.ts';
import { encodeTwcc, receiverReport, transportFeedback } from '../test/unit/support/rtcp-builder.ts';

const PACKETS = 200_000;
if (!nativeSrtp) throw new Error(`the addon did not load: ${nativeSrtpProblem}`);
const a = { key: randomBytes(16), salt: randomBytes(12) };
const b = { key: randomBytes(16), salt: randomBytes(12) };
const viewer = new SrtcpSession({ keys: { localMasterKey: a.key, localMasterSalt: a.salt, remoteMasterKey: b.key, remoteMasterSalt: b.salt }, profile: 7 });
const server = new SrtcpSession({ keys: { localMasterKey: b.key, localMasterSalt: b.salt, remoteMasterKey: a.key, remoteMasterSalt: a.salt }, profile: 7 });
// As a viewer's connection has them: werift's keys as KeyObjects (lib/werift/srtp-keys.ts), its fastest.
useKeyObjectsForSrtp({ dtlsTransports: [{ srtcp: server }] } as unknown as Parameters<typeof useKeyObjectsForSrtp>[0]);
const cipher = (server.remoteContext as unknown as { cipher: { srtcpSessionKey: Buffer | { export(): Buffer }; srtcpSessionSalt: Buffer } }).cipher;
const key = Buffer.isBuffer(cipher.srtcpSessionKey) ? cipher.srtcpSessionKey : cipher.srtcpSessionKey.export();
const opener = nativeSrtp.rtcpOpener(key, cipher.srtcpSessionSalt);
// 80 bytes of RTCP: a receiver report with a block, and 48 bytes the size of a transport-cc feedback.
const feedback = Buffer.alloc(48);
feedback.writeUInt8(0x8f, 0);
feedback.writeUInt8(205, 1);
feedback.writeUInt16BE(11, 2);
const plain = Buffer.concat([new RtcpRrPacket({ ssrc: 1, reports: [new RtcpReceiverInfo({ ssrc: 2, fractionLost: 0, packetsLost: 0, highestSequence: 1, jitter: 0, lsr: 0, dlsr: 0 })] }).serialize(), feedback]);
const packets = Array.from({ length: 1000 }, () => viewer.encrypt(plain));
const ways: [string, (packet: Buffer) => Buffer][] = [
  ["werift's decrypt", (packet) => server.decrypt(packet)],
  ['the addon (rtcp-tap.ts)', (packet) => {
    const out = Buffer.allocUnsafe(packet.length);
    return out.subarray(0, nativeSrtp!.openRtcp(opener, packet, out));
  }],
];
for (const [name, open] of ways) {
  const rounds: string[] = [];
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < PACKETS; i++) open(packets[i % packets.length]!);
    rounds.push((Number(process.hrtime.bigint() - start) / PACKETS / 1000).toFixed(2));
  }
  console.log(`${name}: ${rounds.join(', ')} µs per ${plain.length + 20}-byte SRTCP packet`);
}

const arrivals = Array.from({ length: 14 }, (_, i) => ({ sequence: 1000 + i, arrivalUs: 1_000_000 + i * 2500 }));
const twcc = transportFeedback(1, 2, encodeTwcc(arrivals, 1)!);
const compounds: [string, Buffer][] = [['a transport-cc feedback', twcc], ['a receiver report and a transport-cc feedback', Buffer.concat([receiverReport(1, [{ ssrc: 2 }]), twcc])]];
for (const [name, compound] of compounds) {
  for (const [how, parse] of [['as it came', (packet: Buffer) => RtcpPacketConverter.deSerialize(packet)], ['through the tap', (packet: Buffer) => RtcpPacketConverter.deSerialize(withoutTransportFeedback(packet))]] as const) {
    const rounds: string[] = [];
    for (let round = 0; round < 3; round++) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < PACKETS; i++) parse(compound);
      rounds.push((Number(process.hrtime.bigint() - start) / PACKETS / 1000).toFixed(2));
    }
    console.log(`werift's parse of ${name} (${compound.length} bytes), ${how}: ${rounds.join(', ')} µs`);
  }
}
