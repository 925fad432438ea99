/**
 * lib/native/send-batch.ts and the addon's `sendBatch`: a packet for many viewers crosses into C once,
 * and every viewer gets what `queue` would have sent it (its header, its patch, its key), in order; a
 * record whose context or socket is gone is not sent and hurts no other; what waits is queued by the end of
 * the task, before a record of another packet, and by `flush()`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { udpSocketHandle } from '../../../../lib/native/index.ts';
import { SendBatch } from '../../../../lib/native/send-batch.ts';
import { payloadPatch } from '../../../../lib/rtp/payload-patch.ts';
import { addon, boundSocket, closeAll, skipWithoutAddon, unprotectInJs, type Stream } from './fixtures.ts';

function headerOf(stream: Stream, seq: number, extension = false): Buffer {
  const header = Buffer.alloc(extension ? 20 : 12);
  header[0] = extension ? 0x90 : 0x80;
  header[1] = stream.payloadType;
  header.writeUInt16BE(seq, 2);
  header.writeUInt32BE(3000 * seq, 4);
  header.writeUInt32BE(stream.ssrc >>> 0, 8);
  if (extension) header.set([0xbe, 0xde, 0, 1, 0x31, seq >> 8, seq & 0xff, 0], 12);
  return header;
}

test('one call into C per packet for every viewer; each viewer gets its own header, patch and key, in order', { skip: skipWithoutAddon, timeout: 20_000 }, async () => {
  const native = addon();
  const [shared, other, toA, toB, toC] = await Promise.all([boundSocket(), boundSocket(), boundSocket(), boundSocket(), boundSocket()]);
  try {
    const batch = new SendBatch(native);
    const streams: Stream[] = [0, 1, 2].map((index) => ({ key: randomBytes(16), salt: randomBytes(12), ssrc: 0x2000 + index, payloadType: 96 + index }));
    const contexts = streams.map((stream) => native.context(stream.key, stream.salt, stream.ssrc, stream.payloadType));
    const sockets = [shared, shared, other].map((socket) => udpSocketHandle(socket)!);
    const targets = [toA, toB, toC].map((socket) => native.target('127.0.0.1', socket.address().port));
    const received: Buffer[][] = [[], [], []];
    [toA, toB, toC].forEach((socket, index) => socket.on('message', (data: Buffer) => received[index]!.push(data)));
    // Shared packets as the fan-out hands them out: a 12-byte source header, a VP8 descriptor (PictureID 0x8005), the frame.
    const packets = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => Buffer.concat([Buffer.alloc(12, 0xdd), Buffer.from([0x90, 0x80, 0x80, 0x05]), Buffer.alloc(200 + 100 * n, n)]));
    const copies = packets.map((packet) => Buffer.from(packet));
    for (const [n, packet] of packets.entries()) {
      streams.forEach((stream, index) => {
        const header = headerOf(stream, 65534 + n & 0xffff, index === 1);
        const padded = Buffer.concat([header, Buffer.alloc(8, 0xee)]); // the sender's header buffer has room past the length
        const bytes = batch.add(native.handleId(contexts[index]!), native.handleId(sockets[index]!), targets[index]!, padded, header.length, packet, 12, n >= 2 ? 1 : 0, payloadPatch(2, 2, 0x8000 | (100 * index + n)));
        assert.equal(bytes, header.length + packet.length - 12 + 16, 'the datagram\'s length');
      });
      assert.equal(batch.pending, 3, 'the records of one packet wait together');
    }
    await null; // the end of the task: a microtask queued what waits
    assert.equal(batch.pending, 0);
    assert.deepEqual(batch.counts, { calls: packets.length, records: 3 * packets.length, failed: 0 }, 'one call per packet');
    for (const context of contexts) assert.equal(native.settle(context), true);
    const deadline = Date.now() + 5_000;
    while (received.some((datagrams) => datagrams.length < packets.length) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    streams.forEach((stream, index) => {
      assert.equal(received[index]!.length, packets.length, `viewer ${index}: every packet`);
      received[index]!.forEach((datagram, n) => {
        const headerLength = index === 1 ? 20 : 12;
        const rtp = unprotectInJs(stream, datagram, headerLength, n >= 2 ? 1 : 0); // throws unless it authenticates with this viewer's key
        assert.equal(rtp.readUInt16BE(2), (65534 + n) & 0xffff, `viewer ${index}: in order`);
        assert.ok(rtp.subarray(0, headerLength).equals(headerOf(stream, 65534 + n & 0xffff, index === 1)), 'its own header');
        assert.deepEqual([...rtp.subarray(headerLength, headerLength + 4)], [0x90, 0x80, 0x80 | ((100 * index + n) >> 8), (100 * index + n) & 0xff], 'its own PictureID');
        assert.ok(rtp.subarray(headerLength + 4).equals(packets[n]!.subarray(16)), 'the payload');
      });
    });
    packets.forEach((packet, n) => assert.ok(packet.equals(copies[n]!), 'the shared packets untouched'));
  } finally {
    await closeAll(shared, other, toA, toB, toC);
  }
});

test('a record whose context or socket is gone, or that names nothing, is not sent; the others are', { skip: skipWithoutAddon, timeout: 20_000 }, async () => {
  const native = addon();
  const [from, to] = await Promise.all([boundSocket(), boundSocket()]);
  try {
    const batch = new SendBatch(native);
    const stream: Stream = { key: randomBytes(16), salt: randomBytes(12), ssrc: 9, payloadType: 96 };
    const live = native.context(stream.key, stream.salt, stream.ssrc, stream.payloadType);
    const gone = native.context(stream.key, stream.salt, stream.ssrc, stream.payloadType);
    const goneId = native.handleId(gone);
    native.release(gone);
    const socket = udpSocketHandle(from)!;
    const target = native.target('127.0.0.1', to.address().port);
    const packet = Buffer.alloc(112, 3);
    const arrived: Buffer[] = [];
    to.on('message', (data: Buffer) => arrived.push(data));
    batch.add(native.handleId(live), native.handleId(socket), target, headerOf(stream, 1), 12, packet, 12, 0, 0);
    batch.add(goneId, native.handleId(socket), target, headerOf(stream, 2), 12, packet, 12, 0, 0);
    batch.add(native.handleId(live) ^ (1 << 20), native.handleId(socket), target, headerOf(stream, 3), 12, packet, 12, 0, 0);
    batch.add(native.handleId(socket), native.handleId(live), target, headerOf(stream, 4), 12, packet, 12, 0, 0);
    batch.add(native.handleId(live), native.handleId(socket), target, headerOf(stream, 5), 12, packet, 12, 0, 0);
    batch.flush();
    assert.equal(batch.counts.failed, 3);
    assert.deepEqual([0, 1, 2, 3, 4].map((index) => batch.resultOf(index)), [128, -9, -9, -9, 128], 'EBADF for the three, the datagram\'s bytes for the others');
    assert.equal(native.settle(live), true);
    const deadline = Date.now() + 5_000;
    while (arrived.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(arrived.map((datagram) => unprotectInJs(stream, datagram, 12, 0).readUInt16BE(2)), [1, 5]);
  } finally {
    await closeAll(from, to);
  }
});

test('a record of another packet, a full batch and flush() queue what waits first: each viewer\'s packets stay in order', { skip: skipWithoutAddon, timeout: 20_000 }, async () => {
  const native = addon();
  const [from, toA, toB] = await Promise.all([boundSocket(), boundSocket(), boundSocket()]);
  try {
    const calls: number[] = [];
    const batch = new SendBatch({ sendBatch: (records, count, packet) => (calls.push(count), native.sendBatch(records, count, packet)) });
    // Two viewers (a receiving socket's buffer holds about 270 small datagrams).
    const streams: Stream[] = [0, 1].map((index) => ({ key: randomBytes(16), salt: randomBytes(12), ssrc: 10 + index, payloadType: 96 }));
    const viewers = streams.map((stream, index) => {
      const context = native.context(stream.key, stream.salt, stream.ssrc, stream.payloadType);
      const to = [toA, toB][index]!;
      const arrived: Buffer[] = [];
      to.on('message', (data: Buffer) => arrived.push(data));
      return { stream, context, ids: [native.handleId(context), native.handleId(udpSocketHandle(from)!)] as const, target: native.target('127.0.0.1', to.address().port), arrived, seq: 0 };
    });
    const send = (viewer: (typeof viewers)[number], packet: Buffer) => batch.add(...viewer.ids, viewer.target, headerOf(viewer.stream, viewer.seq++), 12, packet, 12, 0, 0);
    const one = Buffer.alloc(40, 1);
    for (let i = 0; i < 300; i++) send(viewers[i % 2]!, one); // past a batch's 256 records
    send(viewers[0]!, Buffer.alloc(40, 2)); // another packet
    assert.deepEqual(calls, [256, 44]);
    send(viewers[1]!, one);
    batch.flush();
    assert.deepEqual(calls, [256, 44, 1, 1]);
    for (const viewer of viewers) assert.equal(native.settle(viewer.context), true);
    const deadline = Date.now() + 5_000;
    while (viewers.some((viewer) => viewer.arrived.length < viewer.seq) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    for (const viewer of viewers) {
      assert.deepEqual(viewer.arrived.map((datagram) => unprotectInJs(viewer.stream, datagram, 12, 0).readUInt16BE(2)), Array.from({ length: viewer.seq }, (_, n) => n));
    }
  } finally {
    await closeAll(from, toA, toB);
  }
});

test('what does not fit a record is for the caller to queue on its own', () => {
  assert.equal(SendBatch.fits(20, Buffer.alloc(16), 12), true);
  assert.equal(SendBatch.fits(20, Buffer.alloc(28), 12), true, 'an IPv6 address');
  assert.equal(SendBatch.fits(28, Buffer.alloc(16), 12), false, 'a longer header');
  assert.equal(SendBatch.fits(12, Buffer.alloc(16), 70_000), false);
});
