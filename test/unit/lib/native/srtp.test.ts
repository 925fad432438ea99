/**
 * lib/native/srtp.c through the addon: each packet it sends is, byte for byte, what Node's crypto makes of
 * it (AES-128-GCM, RFC 7714's IV, the viewer's header as the AAD). Loopback UDP only.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { test } from 'node:test';
import { addon, boundSocket, closeAll, nextDatagram, protectInJs, skipWithoutAddon, type Stream } from './fixtures.ts';

const stream: Stream = { key: randomBytes(16), salt: randomBytes(12), ssrc: 0xdeadbeef, payloadType: 96 };

/** An RTP packet as ffmpeg sends it (its own SSRC and payload type), with `csrcs` CSRCs and an optional extension. */
function rtpPacket({ seq, marker = false, csrcs = 0, extensionWords = -1, payload = 600 }: {
  seq: number; marker?: boolean; csrcs?: number; extensionWords?: number; payload?: number;
}): { packet: Buffer; headerLength: number } {
  const extension = extensionWords >= 0 ? 4 + 4 * extensionWords : 0;
  const headerLength = 12 + 4 * csrcs + extension;
  const packet = randomBytes(headerLength + payload);
  packet[0] = 0x80 | (extension ? 0x10 : 0) | csrcs;
  packet[1] = (marker ? 0x80 : 0) | 100;
  packet.writeUInt16BE(seq, 2);
  packet.writeUInt32BE(0x11111111, 8);
  if (extension) packet.writeUInt16BE(extensionWords, 12 + 4 * csrcs + 2);
  return { packet, headerLength };
}

test('the addon encrypts each packet exactly as Node\'s crypto does (RFC 7714), as the viewer\'s SSRC and payload type', { skip: skipWithoutAddon, timeout: 10_000 }, async () => {
  const native = addon();
  const from = await boundSocket();
  const to = await boundSocket();
  try {
    const fd = native.findSocket('127.0.0.1', from.address().port);
    assert.ok(fd >= 0, 'the sending socket is found');
    const target = native.target('127.0.0.1', to.address().port);
    const context = native.context(stream.key, stream.salt, stream.ssrc, stream.payloadType);
    const cases = [
      { name: 'plain header', rtp: rtpPacket({ seq: 1 }), rolloverCounter: 0 },
      { name: 'marker bit kept', rtp: rtpPacket({ seq: 2, marker: true }), rolloverCounter: 0 },
      { name: 'CSRCs and a header extension, in the AAD', rtp: rtpPacket({ seq: 65535, csrcs: 2, extensionWords: 3 }), rolloverCounter: 0x12345678 },
      { name: 'a rollover counter', rtp: rtpPacket({ seq: 0, payload: 1200 }), rolloverCounter: 1 },
      { name: 'one payload byte', rtp: rtpPacket({ seq: 7, payload: 1 }), rolloverCounter: 3 },
      { name: 'no payload', rtp: rtpPacket({ seq: 8, payload: 0 }), rolloverCounter: 3 },
    ];
    for (const { name, rtp, rolloverCounter } of cases) {
      const arriving = nextDatagram(to);
      const sent = native.send(context, fd, target, rtp.packet, rtp.headerLength, rolloverCounter);
      const expected = protectInJs(stream, rtp.packet, rtp.headerLength, rolloverCounter);
      assert.equal(sent, expected.length, `${name}: bytes sent`);
      const { data } = await arriving;
      assert.deepEqual(data, expected, name);
      assert.equal(data[1]! & 0x7f, stream.payloadType, `${name}: payload type`);
      assert.equal(data.readUInt32BE(8), stream.ssrc, `${name}: SSRC`);
    }
  } finally {
    await closeAll(from, to);
  }
});

test('the addon refuses a packet over 2048 bytes with its tag (-EMSGSIZE) and sends nothing', { skip: skipWithoutAddon, timeout: 10_000 }, async () => {
  const native = addon();
  const from = await boundSocket();
  const to = await boundSocket();
  try {
    const context = native.context(stream.key, stream.salt, stream.ssrc, stream.payloadType);
    const fd = native.findSocket('127.0.0.1', from.address().port);
    const target = native.target('127.0.0.1', to.address().port);
    const { packet, headerLength } = rtpPacket({ seq: 1, payload: 2048 - 16 - 12 + 1 });
    assert.equal(native.send(context, fd, target, packet, headerLength, 0), -constants.errno.EMSGSIZE);
    const fits = rtpPacket({ seq: 2, payload: 2048 - 16 - 12 });
    assert.equal(native.send(context, fd, target, fits.packet, fits.headerLength, 0), 2048, 'the largest packet that fits');
    const { data } = await nextDatagram(to);
    assert.equal(data.readUInt16BE(2), 2, 'only the packet that fits arrives');
  } finally {
    await closeAll(from, to);
  }
});

test('the addon names the bad argument', { skip: skipWithoutAddon }, () => {
  const native = addon();
  assert.throws(() => native.context(randomBytes(15), stream.salt, 1, 96), { name: 'TypeError', message: /16-byte key/ });
  assert.throws(() => native.context(stream.key, randomBytes(11), 1, 96), { name: 'TypeError', message: /12-byte salt/ });
  assert.throws(() => native.context(stream.key, stream.salt, 1, 128), { name: 'TypeError', message: /payloadType/ });
  const context = native.context(stream.key, stream.salt, 1, 96);
  const target = native.target('127.0.0.1', 9);
  const { packet } = rtpPacket({ seq: 1 });
  assert.throws(() => native.send(context, 0, target, packet, 11, 0), { name: 'TypeError', message: /send\(context/ });
  assert.throws(() => native.send(context, 0, target, packet, packet.length + 1, 0), { name: 'TypeError' });
  assert.throws(() => native.send({}, 0, target, packet, 12, 0), { name: 'TypeError' });
});

test('sendWithHeader: a header the caller wrote (sequence number, timestamp, transport-cc extension) sealed as Node\'s crypto does', { skip: skipWithoutAddon, timeout: 10_000 }, async () => {
  const { writeHeader } = await import('../../../../lib/rtp/rtp-header.ts');
  const native = addon();
  const from = await boundSocket();
  const to = await boundSocket();
  try {
    const fd = native.findSocket('127.0.0.1', from.address().port);
    const target = native.target('127.0.0.1', to.address().port);
    const context = native.context(stream.key, stream.salt, stream.ssrc, stream.payloadType);
    for (const transportWide of [undefined, { id: 3, sequenceNumber: 0xabcd }]) {
      const { packet } = rtpPacket({ seq: 9, marker: true, payload: 900 });
      const header = Buffer.alloc(20);
      const length = writeHeader(header, packet, { payloadType: stream.payloadType, ssrc: stream.ssrc, sequenceNumber: 4242, timestamp: 0x01020304, transportWide });
      const viewersPacket = Buffer.concat([header.subarray(0, length), packet.subarray(12)]);
      const arriving = nextDatagram(to);
      const sent = native.sendWithHeader(context, fd, target, header.subarray(0, length), packet.subarray(12), 5);
      const expected = protectInJs(stream, viewersPacket, length, 5);
      assert.equal(sent, expected.length);
      assert.deepEqual((await arriving).data, expected, transportWide ? 'with the extension' : 'plain');
    }
  } finally {
    await closeAll(from, to);
  }
});
