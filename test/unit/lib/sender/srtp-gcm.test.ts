import assert from 'node:assert/strict';
import { createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { rtpHeaderLength } from '../../../../lib/rtp/rtp-packet.ts';
import { SrtpGcmEncryptor } from '../../../../lib/sender/srtp-gcm.ts';
import { rtpPacket } from '../../helpers.ts';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');

describe('SrtpGcmEncryptor', () => {
  test('RFC 7714 §16.1.1: the AEAD_AES_128_GCM test vector', () => {
    // Key, salt and packet of RFC 7714 §16.1; the SRTP packet of §16.1.1. Its header is already the
    // receiver's (PT 0x40, SSRC 0x5501a0b2), ROC 0, so the IV is 51 75 3c 65 80 c2 72 6f 20 71 84 14.
    const encryptor = new SrtpGcmEncryptor({
      key: createSecretKey(hex('000102030405060708090a0b0c0d0e0f')),
      salt: hex('517569642070726f2071756f'),
      ssrc: 0x5501a0b2,
      payloadType: 0x40,
    });
    const rtp = hex(`8040f17b 8041f8d3 5501a0b2
      47616c6c 69612065 7374206f 6d6e6973 20646976 69736120 696e2070 61727465 73207472 6573`);
    const srtp = hex(`8040f17b 8041f8d3 5501a0b2
      f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833
      899d7f27 beb16a91 52cf765e e4390cce`);
    assert.deepEqual(encryptor.encrypt(rtp, 12, 0), srtp);
  });

  /** Decrypts an SRTP packet as a receiver does (RFC 7714 §9): IV from salt, SSRC, ROC, SEQ; AAD the header. */
  function decrypt(srtp: Buffer, key: Buffer, salt: Buffer, headerLength: number, rolloverCounter: number): Buffer {
    const iv = Buffer.alloc(12);
    srtp.copy(iv, 2, 8, 12); // SSRC
    iv.writeUInt32BE(rolloverCounter, 6);
    srtp.copy(iv, 10, 2, 4); // SEQ
    for (let i = 0; i < 12; i++) iv[i]! ^= salt[i]!;
    const decipher = createDecipheriv('aes-128-gcm', key, iv);
    decipher.setAAD(srtp.subarray(0, headerLength));
    decipher.setAuthTag(srtp.subarray(srtp.length - 16));
    return Buffer.concat([decipher.update(srtp.subarray(headerLength, srtp.length - 16)), decipher.final()]);
  }

  test("the viewer's payload type and SSRC replace the source's in the header, which is authenticated", () => {
    const key = randomBytes(16);
    const salt = randomBytes(12);
    const viewer = { ssrc: 0xdead_beef, payloadType: 102 };
    const encryptor = new SrtpGcmEncryptor({ key: createSecretKey(key), salt, ...viewer });
    const payload = randomBytes(1_100);
    const packet = rtpPacket({
      sequenceNumber: 0xfff0, timestamp: 0x8765_4321, ssrc: 0x1111_2222, payloadType: 96, marker: true,
      csrcs: [0xc5c5_c5c5], extension: { profile: 0xbede, words: 2 }, payload,
    });
    const before = Buffer.from(packet);
    const headerLength = rtpHeaderLength(packet);
    const srtp = encryptor.encrypt(packet, headerLength, 7);

    assert.deepEqual(packet, before, 'the shared packet is not changed');
    assert.equal(srtp.length, packet.length + 16, 'payload plus a 16-byte tag');
    const expectedHeader = Buffer.from(packet.subarray(0, headerLength));
    expectedHeader[1] = 0x80 | viewer.payloadType; // marker kept
    expectedHeader.writeUInt32BE(viewer.ssrc, 8);
    assert.deepEqual(srtp.subarray(0, headerLength), expectedHeader, 'CSRCs and extension kept as they were');
    assert.deepEqual(decrypt(srtp, key, salt, headerLength, 7), payload);
    assert.throws(() => decrypt(srtp, key, salt, headerLength, 6), /authenticate/, 'the ROC is part of the IV');
    const tampered = Buffer.from(srtp);
    tampered[1] = 96; // the source's payload type: the tag covers the header
    assert.throws(() => decrypt(tampered, key, salt, headerLength, 7), /authenticate/);
  });

  test('one encryptor, many packets: each IV from its own SEQ and ROC (nothing left over from the last)', () => {
    const key = randomBytes(16);
    const salt = randomBytes(12);
    const encryptor = new SrtpGcmEncryptor({ key: createSecretKey(key), salt, ssrc: 0x0102_0304, payloadType: 96 });
    const cases: [seq: number, roc: number][] = [[65_534, 0], [65_535, 0], [0, 1], [65_535, 0], [1, 1], [7, 0xffff_ffff], [7, 0]];
    for (const [seq, roc] of cases) {
      const payload = randomBytes(50 + seq % 200);
      const packet = rtpPacket({ sequenceNumber: seq, timestamp: seq * 3_000, payload });
      assert.deepEqual(decrypt(encryptor.encrypt(packet, 12, roc), key, salt, 12, roc), payload, `seq ${seq}, ROC ${roc}`);
    }
  });

  test('the same packet with another ROC encrypts differently; an empty payload still gets a tag', () => {
    const key = randomBytes(16);
    const salt = randomBytes(12);
    const encryptor = new SrtpGcmEncryptor({ key: createSecretKey(key), salt, ssrc: 5, payloadType: 111 });
    const packet = rtpPacket({ sequenceNumber: 9, payload: randomBytes(32) });
    assert.notDeepEqual(encryptor.encrypt(packet, 12, 0), encryptor.encrypt(packet, 12, 1));
    const empty = encryptor.encrypt(rtpPacket({ sequenceNumber: 10, payload: [] }), 12, 0);
    assert.equal(empty.length, 12 + 16);
    assert.deepEqual(decrypt(empty, key, salt, 12, 0), Buffer.alloc(0));
  });
});
