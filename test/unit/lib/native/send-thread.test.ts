/**
 * lib/native/send-thread.c through the addon: packets queued to the send thread arrive sealed exactly as the
 * synchronous path seals them, in order per viewer, batched (UDP GSO or sendmmsg: the same datagrams); nothing
 * sent after `settle` overtakes them; a context or socket released with packets queued stays until they are
 * sent (from the same socket, whatever reuses its number); a full queue waits, or sends a viewer with nothing
 * queued at once; the thread never holds up the end of a process or a worker.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { udpSocketFd, udpSocketHandle, type SendThreadStats } from '../../../../lib/native/index.ts';
import { addon, boundSocket, closeAll, skipWithoutAddon, unprotectInJs, type Stream } from './fixtures.ts';
import type { Socket } from 'node:dgram';

const child = join(import.meta.dirname, 'send-thread-child.ts');

/** What send-thread-child.ts prints for `scenario`, in a process with `env`. */
function runChild<T>(scenario: string, env: Record<string, string> = {}): T {
  const output = execFileSync(process.execPath, [child, scenario], {
    env: { ...process.env, WEBGEAR_NATIVE: '', WEBGEAR_SEND_THREAD: '', WEBGEAR_SEND_GSO: '', WEBGEAR_SEND_LINGER_US: '', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return JSON.parse(output.trim().split('\n').at(-1)!) as T;
}

/** An RTP header as the viewer's: its SSRC and payload type, sequence number `seq`. */
function headerOf(stream: Stream, seq: number): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = stream.payloadType;
  header.writeUInt16BE(seq, 2);
  header.writeUInt32BE(90_000 + seq, 4);
  header.writeUInt32BE(stream.ssrc >>> 0, 8);
  return header;
}

/** Collects what `socket` receives; `until(n)` waits for n datagrams. */
function collect(socket: Socket): { datagrams: Buffer[]; until: (count: number, timeoutMs?: number) => Promise<Buffer[]> } {
  const datagrams: Buffer[] = [];
  socket.on('message', (data: Buffer) => datagrams.push(data));
  return {
    datagrams,
    async until(count, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (datagrams.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      return datagrams;
    },
  };
}

const delta = (after: SendThreadStats, before: SendThreadStats, key: keyof SendThreadStats): number => after[key] - before[key];

test('queued packets arrive sealed as the synchronous path seals them, in order per viewer, several viewers on one socket and on others', { skip: skipWithoutAddon, timeout: 20_000 }, async () => {
  const native = addon();
  const [shared, other, toA, toB, toC] = await Promise.all([boundSocket(), boundSocket(), boundSocket(), boundSocket(), boundSocket()]);
  try {
    const streams: Stream[] = [0, 1, 2].map((index) => ({ key: randomBytes(16), salt: randomBytes(12), ssrc: 0x1000 + index, payloadType: 96 + index }));
    const contexts = streams.map((stream) => native.context(stream.key, stream.salt, stream.ssrc, stream.payloadType));
    const receivers = [toA, toB, toC].map(collect);
    const routes = [
      { socket: udpSocketHandle(shared)!, target: native.target('127.0.0.1', toA.address().port) },
      { socket: udpSocketHandle(shared)!, target: native.target('127.0.0.1', toB.address().port) },
      { socket: udpSocketHandle(other)!, target: native.target('127.0.0.1', toC.address().port) },
    ];
    assert.equal(routes[0]!.socket, routes[1]!.socket, 'one duplicate per socket');
    // Per viewer: frames of equal-size packets, each ending with a shorter one (what GSO sends at once), and
    // sizes that end a run; interleaved across viewers, as the fan-out writes them.
    const sizes = [1100, 1100, 1100, 1100, 700, 1100, 1100, 1100, 1100, 1100, 1100, 1100, 1100, 300, 40, 1200, 40, 1100, 1100, 90];
    // The thread running and asleep: the first packet below wakes it into its linger, and the rest gather.
    native.queue(contexts[2]!, routes[2]!.socket, native.target('127.0.0.1', 9), headerOf(streams[2]!, 1), 12, Buffer.alloc(10), 0, 0);
    native.settle(contexts[2]!);
    const before = native.sendThreadStats();
    for (const [seq, size] of sizes.entries()) {
      streams.forEach((stream, index) => {
        const queued = native.queue(contexts[index]!, routes[index]!.socket, routes[index]!.target, headerOf(stream, 65530 + seq & 0xffff), 12, Buffer.alloc(size, seq), 0, seq < 6 ? 0 : 1);
        assert.equal(queued, 12 + size + 16, 'the datagram\'s length');
      });
    }
    for (const context of contexts) assert.equal(native.settle(context), true);
    for (const [index, stream] of streams.entries()) {
      const received = await receivers[index]!.until(sizes.length);
      assert.equal(received.length, sizes.length, `viewer ${index}: every packet`);
      received.forEach((datagram, seq) => {
        const rtp = unprotectInJs(stream, datagram, 12, seq < 6 ? 0 : 1); // throws unless it authenticates
        assert.equal(rtp.readUInt16BE(2), (65530 + seq) & 0xffff, `viewer ${index}: in order`);
        assert.deepEqual(rtp.subarray(12), Buffer.alloc(sizes[seq]!, seq));
      });
    }
    const after = native.sendThreadStats();
    assert.equal(delta(after, before, 'sent'), 3 * sizes.length);
    assert.equal(delta(after, before, 'dropped'), 0);
    assert.ok(delta(after, before, 'sendCalls') < 3 * sizes.length, 'batched: fewer send calls than datagrams');
    if (after.gso) assert.ok(delta(after, before, 'gsoDatagrams') > 0, 'runs went as GSO sends');

    // The same packet through the synchronous path: the same bytes (it waits for the queued ones first).
    // Queued as the direct sender does: its header buffer (room for extensions) and the source packet whole.
    const arriving = receivers[0]!.until(sizes.length + 2);
    const headerBuffer = Buffer.concat([headerOf(streams[0]!, 7), Buffer.alloc(8, 0xee)]);
    const sourcePacket = Buffer.concat([Buffer.alloc(12, 0xdd), Buffer.alloc(500, 1)]);
    assert.throws(() => native.queue(contexts[0]!, routes[0]!.socket, routes[0]!.target, headerBuffer, 21, sourcePacket, 12, 3), { name: 'TypeError' });
    assert.throws(() => native.queue(contexts[0]!, routes[0]!.socket, routes[0]!.target, headerBuffer, 12, sourcePacket, 513, 3), { name: 'TypeError' });
    native.queue(contexts[0]!, routes[0]!.socket, routes[0]!.target, headerBuffer, 12, sourcePacket, 12, 3);
    native.sendWithHeader(contexts[0]!, udpSocketFd(shared)!, routes[0]!.target, headerOf(streams[0]!, 7), Buffer.alloc(500, 1), 3);
    const [queued, synchronous] = (await arriving).slice(sizes.length);
    assert.ok(queued && synchronous);
    assert.deepEqual(queued, synchronous);
  } finally {
    await closeAll(shared, other, toA, toB, toC);
  }
});

test('a payload patch (a viewer\'s PictureID) is written into each viewer\'s copy, queued or sent at once, never into the shared packet', { skip: skipWithoutAddon, timeout: 20_000 }, async () => {
  const native = addon();
  const from = await boundSocket();
  const to = await boundSocket();
  try {
    const stream: Stream = { key: randomBytes(16), salt: randomBytes(12), ssrc: 7, payloadType: 96 };
    const context = native.context(stream.key, stream.salt, stream.ssrc, stream.payloadType);
    const receiver = collect(to);
    const target = native.target('127.0.0.1', to.address().port);
    // A shared packet: a 12-byte header, then a VP8 descriptor with PictureID 0x8005 and the frame.
    const shared = Buffer.concat([Buffer.alloc(12, 0xdd), Buffer.from([0x90, 0x80, 0x80, 0x05]), Buffer.alloc(300, 9)]);
    const copy = Buffer.from(shared);
    const patch = (2 << 24) | (2 << 16) | 0x8123; // PictureID 0x123, 15 bits
    assert.ok(native.queue(context, udpSocketHandle(from)!, target, headerOf(stream, 1), 12, shared, 12, 0, patch) > 0);
    assert.ok(native.sendWithHeader(context, udpSocketFd(from)!, target, headerOf(stream, 2), shared.subarray(12), 0, (1 << 24) | (2 << 16) | 0x44) > 0);
    assert.ok(native.queue(context, udpSocketHandle(from)!, target, headerOf(stream, 3), 12, shared, 12, 0) > 0, 'no patch');
    assert.throws(() => native.queue(context, udpSocketHandle(from)!, target, headerOf(stream, 4), 12, shared, 12, 0, (2 << 24) | (303 << 16)), { name: 'TypeError' }, 'past the payload');
    const payloads = (await receiver.until(3)).map((datagram) => unprotectInJs(stream, datagram, 12, 0).subarray(12));
    assert.deepEqual([...payloads[0]!.subarray(0, 4)], [0x90, 0x80, 0x81, 0x23], 'queued: patched');
    assert.deepEqual([...payloads[1]!.subarray(0, 4)], [0x90, 0x80, 0x44, 0x05], 'at once: patched (one byte)');
    assert.deepEqual([...payloads[2]!.subarray(0, 4)], [0x90, 0x80, 0x80, 0x05], 'no patch: as it was');
    assert.ok(payloads.every((payload) => payload.subarray(4).equals(shared.subarray(16))), 'the rest as it was');
    assert.ok(shared.equals(copy), 'the shared packet is untouched');
  } finally {
    await closeAll(from, to);
  }
});

test('nothing sent after settle() overtakes the queued packets', { skip: skipWithoutAddon, timeout: 20_000 }, async () => {
  const native = addon();
  const from = await boundSocket();
  const to = await boundSocket();
  try {
    const stream: Stream = { key: randomBytes(16), salt: randomBytes(12), ssrc: 42, payloadType: 100 };
    const context = native.context(stream.key, stream.salt, stream.ssrc, stream.payloadType);
    const receiver = collect(to);
    const target = native.target('127.0.0.1', to.address().port);
    for (let seq = 0; seq < 50; seq++) native.queue(context, udpSocketHandle(from)!, target, headerOf(stream, seq), 12, Buffer.alloc(900, seq), 0, 0);
    // What the direct sender does before a packet goes through werift's (Node's) socket.
    assert.equal(native.settle(context), true);
    from.send(Buffer.from('after'), to.address().port, '127.0.0.1');
    const received = await receiver.until(51);
    assert.equal(received.length, 51);
    assert.equal(received.at(-1)!.toString(), 'after', 'Node\'s datagram last');
    received.slice(0, 50).forEach((datagram, seq) => assert.equal(unprotectInJs(stream, datagram, 12, 0).readUInt16BE(2), seq));
  } finally {
    await closeAll(from, to);
  }
});

test('a context and a socket released with packets queued: the packets still go, from that socket, then both are freed', { skip: skipWithoutAddon, timeout: 20_000 }, async () => {
  const native = addon();
  const from = await boundSocket();
  const to = await boundSocket();
  const sockets: Socket[] = [];
  try {
    const stream: Stream = { key: randomBytes(16), salt: randomBytes(12), ssrc: 7, payloadType: 96 };
    const before = native.sendThreadStats();
    const context = native.context(stream.key, stream.salt, stream.ssrc, stream.payloadType);
    const handle = native.socket(udpSocketFd(from)!);
    assert.equal(native.sendThreadStats().contexts, before.contexts + 1);
    const received: { data: Buffer; port: number }[] = [];
    to.on('message', (data: Buffer, from) => received.push({ data, port: from.port }));
    const port = from.address().port;
    const target = native.target('127.0.0.1', to.address().port);
    for (let seq = 0; seq < 100; seq++) native.queue(context, handle, target, headerOf(stream, seq), 12, Buffer.alloc(200, seq), 0, 0);
    // The viewer goes: its context and socket are given back, werift closes its socket, and its number is
    // soon another socket's. None of that may lose, or misdirect, what is queued.
    native.release(context);
    native.release(handle);
    native.release(handle); // twice is fine
    await closeAll(from);
    for (let index = 0; index < 4; index++) sockets.push(await boundSocket());
    assert.equal(native.queue(context, handle, target, headerOf(stream, 100), 12, Buffer.alloc(10), 0, 0), -9, 'released: EBADF');
    assert.equal(native.sendWithHeader(context, 0, target, headerOf(stream, 100), Buffer.alloc(10), 0), -9);
    const deadline = Date.now() + 5_000;
    while (received.length < 100 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(received.length, 100);
    received.forEach(({ data, port: source }, seq) => {
      assert.equal(source, port, 'from the viewer\'s socket');
      assert.equal(unprotectInJs(stream, data, 12, 0).readUInt16BE(2), seq);
    });
    while ((native.sendThreadStats().contexts > before.contexts || native.sendThreadStats().sockets > before.sockets) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(native.sendThreadStats().contexts <= before.contexts, 'the context is freed');
    assert.ok(native.sendThreadStats().sockets <= before.sockets, 'the duplicate is closed');
    assert.throws(() => native.release({}), { name: 'TypeError' });
  } finally {
    await closeAll(to, ...sockets);
  }
});

test('UDP GSO and sendmmsg send the same datagrams', { skip: skipWithoutAddon, timeout: 60_000 }, () => {
  type Result = { received: string[]; stats: SendThreadStats };
  const gso = runChild<Result>('datagrams');
  const plain = runChild<Result>('datagrams', { WEBGEAR_SEND_GSO: '0' });
  assert.equal(plain.stats.gso, 0);
  assert.equal(plain.stats.gsoSends, 0);
  assert.equal(plain.received.length, 14);
  assert.deepEqual(gso.received, plain.received, 'byte for byte, in the same order');
  if (gso.stats.gso) assert.ok(gso.stats.gsoSends >= 2, `GSO sends: ${gso.stats.gsoSends}`);
});

test('a frame for 1000 viewers fits the queue: each viewer\'s packets of it go as one GSO send', { skip: skipWithoutAddon, timeout: 60_000 }, () => {
  type Result = { before: SendThreadStats; after: SendThreadStats };
  const { before, after } = runChild<Result>('frame', { WEBGEAR_SEND_LINGER_US: '300000' });
  const delta = (key: keyof SendThreadStats) => after[key] - before[key];
  assert.equal(delta('sent'), 9000, 'all sent');
  assert.equal(delta('fullWaits'), 0, 'the queue never filled');
  assert.equal(after.slotsUsed, 9000, 'the frame took the first 9000 slots (the queue was empty when it began)');
  if (!after.gso) return; // a kernel without UDP GSO: nothing to group
  assert.equal(delta('gsoSends'), 1000, 'one GSO send per viewer');
  assert.equal(delta('gsoDatagrams'), 9000);
});

test('an empty queue starts again at its first slot: the slots used are the most that waited at once, not all of them in turn', { skip: skipWithoutAddon, timeout: 60_000 }, () => {
  const { received, inOrder, stats } = runChild<{ received: number; inOrder: boolean; stats: SendThreadStats }>('rewind');
  assert.equal(stats.sent, 20_000, 'all sent');
  assert.equal(stats.dropped, 0);
  assert.equal(received, 20_000, 'all arrived');
  assert.ok(inOrder, 'in the order queued, across every start again');
  // Bursts of at most 40, most waited out: far below the 16 384 slots a ring used in turn touches by now.
  assert.ok(stats.slotsUsed >= 40 && stats.slotsUsed <= 1_000, `slots used: ${stats.slotsUsed} of ${stats.capacity}`);
});

test('the slots a burst made resident are given back by a trim, at once with the queue empty, else at its next packet', { skip: skipWithoutAddon, timeout: 60_000 }, () => {
  type Result = Record<'filled' | 'asked' | 'sent' | 'next' | 'refilled' | 'direct', SendThreadStats>;
  const result = runChild<Result>('trim', { WEBGEAR_SEND_LINGER_US: '1000000' });
  const resident = `ring bytes: ${JSON.stringify(Object.fromEntries(Object.entries(result).map(([key, stats]) => [key, stats.ringBytes])))}`;
  // A slot is 208 bytes: 30 000 of them, 6.2 MB.
  const burst = 30_000 * 208;
  assert.equal(result.filled.slotsUsed, 30_000, 'the burst waited in 30 000 slots (from the first: the queue was empty)');
  assert.ok(result.filled.ringBytes >= burst * 0.99, `they are resident: ${resident}`);
  assert.equal(result.asked.trims, 0, 'not while packets wait');
  assert.equal(result.asked.slotsUsed, 30_000);
  assert.ok(result.sent.ringBytes >= burst * 0.99, `still resident once sent: ${resident}`);
  assert.equal(result.next.trims, 1, 'the next packet, to the empty queue, trimmed it');
  assert.equal(result.next.slotsUsed, 1);
  assert.ok(result.next.ringBytes <= 4096, `given back but the first slot's page: ${resident}`);
  assert.ok(result.refilled.ringBytes >= burst * 0.99, resident);
  assert.equal(result.direct.trims, 2);
  assert.equal(result.direct.slotsUsed, 0);
  assert.equal(result.direct.ringBytes, 0, `given back at once: ${resident}`);
  assert.equal(result.direct.queued, 60_002, 'every packet was queued (none sent at once)');
  assert.equal(result.direct.sentAtOnce, 0);
  assert.equal(result.direct.sent + result.direct.dropped, 60_002, 'and the thread was done with each');
});

test('a full queue: a viewer with packets queued waits for room, one with none is sent at once', { skip: skipWithoutAddon, timeout: 60_000 }, () => {
  const result = runChild<{ filled: SendThreadStats; atOnce: number; afterIdle: SendThreadStats; waited: number; waitedMs: number; arrived: number; end: SendThreadStats }>(
    'full', { WEBGEAR_SEND_LINGER_US: '1000000' },
  );
  assert.equal(result.filled.queued - result.filled.sent, result.filled.capacity, 'the ring is full');
  assert.equal(result.atOnce, 12 + 100 + 16);
  assert.equal(result.afterIdle.sentAtOnce, 1, 'the idle viewer was sent at once');
  assert.equal(result.arrived, 128);
  assert.equal(result.waited, 12 + 8 + 16, 'the busy viewer\'s packet was queued once there was room');
  assert.equal(result.end.fullWaits, 1);
  assert.ok(result.waitedMs > 10, `it waited for the thread: ${result.waitedMs} ms`);
  assert.equal(result.end.sent, result.end.queued, 'all sent');
  assert.equal(result.end.dropped, 0);
});

test('the thread holds up no end: process.exit() with packets queued, the event loop ending, a worker terminated', { skip: skipWithoutAddon, timeout: 60_000 }, () => {
  for (const scenario of ['exit', 'end']) {
    const started = Date.now();
    assert.deepEqual(runChild(scenario), { running: 1 });
    assert.ok(Date.now() - started < 15_000, `${scenario}: the process ended`);
  }
  const worker = runChild<{ queued: number; main: SendThreadStats }>('worker');
  assert.equal(worker.queued, 3000);
  assert.equal(worker.main.queued, 0, 'the worker had a send thread of its own');
});
