/**
 * lib/native/udp.c through the addon: werift's socket found from its public address (Node's handle only as
 * a checked hint), nothing for a closed or unknown one, and a datagram that a receiver on loopback decrypts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { nativeSrtp, socketLookups, udpSocketFd } from '../../../../lib/native/index.ts';
import { addon, boundSocket, closeAll, nextDatagram, skipWithoutAddon, unprotectInJs, type Stream } from './fixtures.ts';

/** Whether this machine has IPv6 on loopback. */
async function hasIpv6Loopback(): Promise<boolean> {
  try {
    await closeAll(await boundSocket('udp6', '::1'));
    return true;
  } catch {
    return false;
  }
}

test('findSocket finds a bound dgram socket\'s descriptor from its address, the one it sends from', { skip: skipWithoutAddon, timeout: 10_000 }, async () => {
  const native = addon();
  const sockets = [await boundSocket(), await boundSocket('udp4', '0.0.0.0'), await boundSocket()];
  const receiver = await boundSocket();
  try {
    const fds = sockets.map((socket) => native.findSocket(socket.address().address, socket.address().port));
    for (const fd of fds) assert.ok(fd > 2, `a descriptor: ${fd}`);
    assert.equal(new Set(fds).size, sockets.length, 'one descriptor per socket');
    // Each descriptor is its socket: what is sent from it arrives from that socket's port.
    const context = native.context(randomBytes(16), randomBytes(12), 1, 96);
    const target = native.target('127.0.0.1', receiver.address().port);
    const packet = Buffer.alloc(100);
    packet[0] = 0x80;
    for (const [index, socket] of sockets.entries()) {
      const arriving = nextDatagram(receiver);
      assert.ok(native.send(context, fds[index]!, target, packet, 12, 0) > 0);
      assert.equal((await arriving).from.port, socket.address().port);
    }
    assert.equal(udpSocketFd(sockets[0]!), fds[0], 'udpSocketFd: the same, from the socket');
  } finally {
    await closeAll(...sockets, receiver);
  }
});

test('findSocket takes a hint only when it is the socket bound there; udpSocketFd gets the hint from Node, no search', { skip: skipWithoutAddon, timeout: 10_000 }, async () => {
  const native = addon();
  const [a, b] = [await boundSocket(), await boundSocket()];
  try {
    const fdA = native.findSocket(a.address().address, a.address().port);
    const fdB = native.findSocket(b.address().address, b.address().port);
    assert.equal(native.findSocket(a.address().address, a.address().port, fdA), fdA, 'the right hint');
    assert.equal(native.findSocket(a.address().address, a.address().port, fdB), fdA, 'a wrong hint (another socket): searched');
    assert.equal(native.findSocket(a.address().address, a.address().port, 0), fdA, 'a wrong hint (not a socket): searched');
    assert.equal(native.findSocket(a.address().address, a.address().port, 1 << 30), fdA, 'a hint no descriptor has: searched');
    const before = { ...socketLookups };
    assert.equal(udpSocketFd(b), fdB);
    assert.deepEqual(socketLookups, { hinted: before.hinted + 1, searched: before.searched }, 'found from Node\'s handle, not by a search');
  } finally {
    await closeAll(a, b);
  }
});

test('findSocket tells an IPv6 socket from the IPv4 one on the same port', { skip: skipWithoutAddon, timeout: 10_000 }, async (t) => {
  if (!(await hasIpv6Loopback())) return t.skip('no IPv6 on loopback');
  const native = addon();
  const v6 = await boundSocket('udp6', '::1');
  const { port } = v6.address();
  const v4 = createSocket('udp4');
  try {
    v4.bind(port, '127.0.0.1');
    await once(v4, 'listening');
    const fd6 = native.findSocket('::1', port);
    const fd4 = native.findSocket('127.0.0.1', port);
    assert.ok(fd6 >= 0 && fd4 >= 0);
    assert.notEqual(fd6, fd4);
    assert.equal(udpSocketFd(v6), fd6);
    assert.equal(udpSocketFd(v4), fd4);
  } finally {
    await closeAll(v6, v4);
  }
});

test('findSocket finds nothing for a closed socket, an unknown port, or a TCP socket on the address', { skip: skipWithoutAddon, timeout: 10_000 }, async () => {
  const native = addon();
  const socket = await boundSocket();
  const { port } = socket.address();
  const fd = udpSocketFd(socket);
  assert.ok(fd !== undefined && fd >= 0);
  await closeAll(socket);
  assert.equal(native.findSocket('127.0.0.1', port), -1, 'closed');
  assert.equal(udpSocketFd(socket), undefined, 'udpSocketFd of a closed socket');

  const tcp = createServer();
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  try {
    const tcpPort = (tcp.address() as { port: number }).port;
    assert.equal(native.findSocket('127.0.0.1', tcpPort), -1, 'a TCP socket is not a UDP one');
  } finally {
    tcp.close();
  }
  assert.equal(native.findSocket('127.0.0.2', 9), -1, 'an address nothing here is bound to');
  assert.throws(() => native.findSocket('localhost', 9), { name: 'TypeError', message: /findSocket\(address, port\[, hint\]\)/ });
  assert.throws(() => native.target('not an address', 9), { name: 'TypeError', message: /target\(address, port\)/ });
  assert.throws(() => native.target('127.0.0.1', 65536), { name: 'TypeError' });
  assert.throws(() => native.target(`::1%${'x'.repeat(80)}`, 9), { name: 'TypeError' }, 'too long to be an address');
});

test('udpSocketFd says nothing for a socket that is not bound', { skip: skipWithoutAddon }, async () => {
  const socket = createSocket('udp4');
  try {
    assert.equal(udpSocketFd(socket), undefined);
  } finally {
    socket.close();
  }
});

test('send delivers a datagram that a receiver on loopback decrypts', { skip: skipWithoutAddon, timeout: 10_000 }, async () => {
  const native = addon();
  const stream: Stream = { key: randomBytes(16), salt: randomBytes(12), ssrc: 0x01020304, payloadType: 111 };
  const from = await boundSocket();
  const to = await boundSocket();
  try {
    const context = native.context(stream.key, stream.salt, stream.ssrc, stream.payloadType);
    const target = native.target('127.0.0.1', to.address().port);
    const rtp = randomBytes(12 + 1000);
    rtp[0] = 0x80;
    rtp[1] = 0x80 | 100;
    rtp.writeUInt16BE(4242, 2);
    const arriving = nextDatagram(to);
    assert.equal(native.send(context, udpSocketFd(from)!, target, rtp, 12, 5), rtp.length + 16);
    const { data, from: sender } = await arriving;
    assert.equal(sender.port, from.address().port);
    const decrypted = unprotectInJs(stream, data, 12, 5);
    assert.deepEqual(decrypted.subarray(12), rtp.subarray(12), 'the payload');
    assert.equal(decrypted[1], 0x80 | 111, 'marker and the viewer\'s payload type');
    assert.equal(decrypted.readUInt32BE(8), stream.ssrc);
    assert.equal(decrypted.readUInt16BE(2), 4242);
  } finally {
    await closeAll(from, to);
  }
});

test('the addon is there where it must be (WEBGEAR_NATIVE_REQUIRED=1, as in CI)', { skip: process.env.WEBGEAR_NATIVE_REQUIRED === '1' ? false : 'WEBGEAR_NATIVE_REQUIRED is not set' }, () => {
  assert.ok(nativeSrtp, 'the native SRTP sender must load');
});
