/**
 * The viewer's SRTCP opened by the addon (lib/native/srtcp-open.h) in front of werift's decrypt
 * (lib/werift/rtcp-tap.ts): what werift's own SRTCP session seals comes out as werift would open it; a packet
 * that does not authenticate is refused (-1), and werift's decrypt then rejects it as before.
 */
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { GenericNack, RtcpReceiverInfo, RtcpRrPacket, RtcpTransportLayerFeedback } from 'werift';
import { tapRtcp } from '../../../../lib/werift/rtcp-tap.ts';
import { transportFeedback, twccFci } from '../../support/rtcp-builder.ts';
import { addon, skipWithoutAddon, srtcpPair } from './fixtures.ts';

/** The viewer's SRTCP session and the server's, and the key and salt the server opens the viewer's with. */
function sessions() {
  const { sealer: viewer, opener: server, key, salt } = srtcpPair();
  return { viewer, server, key, salt };
}

test('the addon opens what werift seals, to the bytes werift\'s own decrypt gives; what does not authenticate is refused', { skip: skipWithoutAddon }, () => {
  const native = addon();
  const { viewer, server, key, salt } = sessions();
  const opener = native.rtcpOpener(key, salt);
  const compounds = [
    new RtcpRrPacket({ ssrc: 1, reports: [new RtcpReceiverInfo({ ssrc: 0x1234, fractionLost: 3, packetsLost: 7, highestSequence: 70_000, jitter: 12, lsr: 0xabcd_0123, dlsr: 6553 })] }).serialize(),
    Buffer.concat([
      new RtcpRrPacket({ ssrc: 1, reports: [] }).serialize(),
      new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: 0x1234, lost: [5, 9, 300] }) }).serialize(),
    ]),
  ];
  for (let round = 0; round < 50; round++) {
    const plain = compounds[round % compounds.length]!;
    const sealed = viewer.encrypt(plain);
    const out = Buffer.alloc(sealed.length);
    const length = native.openRtcp(opener, sealed, out);
    assert.equal(length, plain.length, `round ${round}`);
    assert.deepEqual(out.subarray(0, length), plain);
    assert.deepEqual(out.subarray(0, length), server.decrypt(sealed), 'what werift\'s own decrypt gives');
    // One bit flipped anywhere (header, body, tag, index): refused.
    const at = round % sealed.length;
    const tampered = Buffer.from(sealed);
    tampered[at]! ^= 0x01;
    assert.equal(native.openRtcp(opener, tampered, Buffer.alloc(sealed.length)), -1, `bit flipped at ${at}`);
    assert.throws(() => server.decrypt(tampered), 'and werift\'s decrypt, which the tap hands it to, rejects it too');
  }
  // Too short to be SRTCP, and a packet sealed under another key.
  assert.equal(native.openRtcp(opener, Buffer.alloc(27), Buffer.alloc(27)), -1);
  assert.equal(native.openRtcp(opener, sessions().viewer.encrypt(compounds[0]!), Buffer.alloc(200)), -1);
  assert.throws(() => native.openRtcp(opener, Buffer.alloc(40), Buffer.alloc(39)), /at least as long/);
  assert.throws(() => native.rtcpOpener(key.subarray(0, 8), salt), /rtcpOpener\(key, salt\)/);
});

test('an SRTCP packet sent unencrypted (E flag 0, RFC 7714 §9.2: all of it authenticated) is opened as it is', { skip: skipWithoutAddon }, () => {
  const native = addon();
  const { key, salt } = sessions();
  const plain = new RtcpRrPacket({ ssrc: 0x0a0b_0c0d, reports: [] }).serialize();
  const index = 77;
  const iv = Buffer.alloc(12);
  plain.copy(iv, 2, 4, 8);
  iv.writeUInt32BE(index, 8);
  for (let i = 0; i < 12; i++) iv[i]! ^= salt[i]!;
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32BE(index); // E flag 0
  const cipher = createCipheriv('aes-128-gcm', key, iv);
  cipher.setAAD(Buffer.concat([plain, trailer]));
  cipher.final();
  const sealed = Buffer.concat([plain, cipher.getAuthTag(), trailer]);
  const opener = native.rtcpOpener(key, salt);
  const out = Buffer.alloc(sealed.length);
  assert.equal(native.openRtcp(opener, sealed, out), plain.length);
  assert.deepEqual(out.subarray(0, plain.length), plain);
  sealed[10]! ^= 0x80;
  assert.equal(native.openRtcp(opener, sealed, out), -1, 'its body is authenticated too');
});

test('the RTCP tap opens a viewer\'s SRTCP with the addon and hands werift only what the addon cannot open; werift gets no transport-cc feedback', { skip: skipWithoutAddon }, () => {
  const { viewer, server } = sessions();
  // werift's own decrypt, counted: the tap keeps it for what the addon refuses.
  const original = server.decrypt;
  let weriftDecrypts = 0;
  server.decrypt = (data: Buffer) => {
    weriftDecrypts++;
    return original(data);
  };
  const sender = { dtlsTransport: { srtcp: server } } as unknown as Parameters<typeof tapRtcp>[0];
  const seen: Buffer[] = [];
  assert.equal(tapRtcp(sender, (rtcp) => seen.push(Buffer.from(rtcp))), true);
  const plain = new RtcpRrPacket({ ssrc: 9, reports: [] }).serialize();
  for (let i = 0; i < 5; i++) assert.deepEqual(server.decrypt(viewer.encrypt(plain)), plain, 'werift gets the packet opened');
  assert.equal(weriftDecrypts, 0, 'opened by the addon');
  assert.deepEqual(seen, Array(5).fill(plain), 'and the handler saw each');
  const tampered = viewer.encrypt(plain);
  tampered[12]! ^= 1;
  assert.throws(() => server.decrypt(tampered), 'a packet that does not authenticate is still rejected');
  assert.equal(weriftDecrypts, 1, 'by werift\'s decrypt');
  assert.equal(seen.length, 5);
  // Transport-cc feedback reaches the handler, not werift (which fed it only to its unused estimator).
  const feedback = transportFeedback(9, 0x1234, twccFci(100, 3, 1000, 7, [0x2003], [4, 4, 4]));
  assert.equal(server.decrypt(viewer.encrypt(feedback)).length, 0, 'werift parses nothing');
  assert.deepEqual(server.decrypt(viewer.encrypt(Buffer.concat([plain, feedback]))), plain, 'werift gets the rest');
  assert.deepEqual(seen.slice(5), [feedback, Buffer.concat([plain, feedback])], 'the handler sees all of it');
});
