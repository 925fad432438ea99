/**
 * The send thread in a process of its own, for what depends on how the addon was loaded (its environment:
 * WEBGEAR_SEND_GSO, WEBGEAR_SEND_LINGER_US) or on how the process ends. `node send-thread-child.ts <scenario>`
 * prints one line of JSON. Used by send-thread.test.ts.
 */
import { Worker } from 'node:worker_threads';
import { nativeSrtp, udpSocketHandle } from '../../../../lib/native/index.ts';
import { boundSocket, closeAll, nextDatagram } from './fixtures.ts';

const native = nativeSrtp!;
const scenario = process.argv[2];
const header = (seq: number): Buffer => {
  const bytes = Buffer.alloc(12);
  bytes[0] = 0x80;
  bytes[1] = 96;
  bytes.writeUInt16BE(seq, 2);
  bytes.writeUInt32BE(0x0a0b0c0d, 8);
  return bytes;
};

if (scenario === 'datagrams') {
  // A fixed key, fixed packets: what arrives, byte for byte (the GSO and the sendmmsg runs compare).
  const from = await boundSocket();
  const to = await boundSocket();
  const received: string[] = [];
  to.on('message', (data) => received.push(data.toString('hex')));
  const context = native.context(Buffer.alloc(16, 7), Buffer.alloc(12, 9), 0x0a0b0c0d, 96);
  const socket = udpSocketHandle(from)!;
  const target = native.target('127.0.0.1', to.address().port);
  // Two frames of equal-size packets each ending with a shorter one, then a few of other sizes.
  const sizes = [1100, 1100, 1100, 1100, 1100, 700, 1100, 1100, 1100, 300, 50, 1200, 50, 50];
  sizes.forEach((size, seq) => native.queue(context, socket, target, header(seq), 12, Buffer.alloc(size, seq), 0, 0));
  native.settle(context);
  const deadline = Date.now() + 5_000;
  while (received.length < sizes.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  console.log(JSON.stringify({ received, stats: native.sendThreadStats() }));
  await closeAll(from, to);
} else if (scenario === 'frame') {
  // A frame of the 720p stream (9 packets of 1100 bytes) for 1000 viewers, each on its own socket, queued
  // packet by packet as the fan-out does: with WEBGEAR_SEND_LINGER_US=300000 the thread, woken by the first,
  // takes what the ring holds after the linger.
  const viewers = 1000;
  const packets = 9;
  const sink = await boundSocket(); // not read: what counts is how the thread sent
  const target = native.target('127.0.0.1', sink.address().port);
  const senders = await Promise.all(Array.from({ length: viewers }, () => boundSocket()));
  const sockets = senders.map((socket) => udpSocketHandle(socket)!);
  const contexts = senders.map((_, n) => native.context(Buffer.alloc(16, n), Buffer.alloc(12, n), 0x1000 + n, 96));
  const payload = Buffer.alloc(1100, 1);
  // The thread starts with this one, sends it, and sleeps: the frame's first packet wakes it into its linger.
  native.queue(contexts[0]!, sockets[0]!, target, header(0xffff), 12, payload, 0, 0);
  native.settle(contexts[0]!);
  const before = native.sendThreadStats();
  for (let seq = 0; seq < packets; seq++) {
    for (let n = 0; n < viewers; n++) native.queue(contexts[n]!, sockets[n]!, target, header(seq), 12, payload, 0, 0);
  }
  for (const context of contexts) native.settle(context, 5_000);
  console.log(JSON.stringify({ before, after: native.sendThreadStats() }));
  await closeAll(sink, ...senders);
} else if (scenario === 'rewind') {
  // 20 000 packets to one viewer: bursts of 1–40, each either waited out (the ring then empty: the next
  // starts again at the first slot) or not (the thread still taking the last while the next comes).
  const from = await boundSocket();
  const to = await boundSocket();
  let received = 0;
  let inOrder = true;
  let last = -1;
  to.on('message', (data) => {
    const seq = data.readUInt16BE(2);
    if (last >= 0 && seq !== ((last + 1) & 0xffff)) inOrder = false;
    last = seq;
    received++;
  });
  const context = native.context(Buffer.alloc(16, 3), Buffer.alloc(12, 4), 0x0a0b0c0d, 96);
  const socket = udpSocketHandle(from)!;
  const target = native.target('127.0.0.1', to.address().port);
  const payload = Buffer.alloc(200, 5);
  const total = 20_000;
  let seq = 0;
  let burst = 0;
  while (seq < total) {
    const size = Math.min(total - seq, 1 + ((burst * 7919) % 40));
    for (let n = 0; n < size; n++, seq++) native.queue(context, socket, target, header(seq & 0xffff), 12, payload, 0, 0);
    if (burst++ % 3 !== 0) native.settle(context);
    await new Promise((resolve) => setImmediate(resolve)); // the receiver reads (its buffer holds a few hundred)
  }
  native.settle(context);
  const deadline = Date.now() + 10_000;
  while (received < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  console.log(JSON.stringify({ received, inOrder, stats: native.sendThreadStats() }));
  await closeAll(from, to);
} else if (scenario === 'trim') {
  // WEBGEAR_SEND_LINGER_US=1000000: once woken the thread sleeps a second, and 30 000 packets wait in the
  // ring (6 MB of slots made resident). A trim asked for then waits for the ring to empty and the next
  // packet; one asked for with the ring empty gives the slots back at once.
  const from = await boundSocket();
  const sink = await boundSocket(); // not read: it drops what does not fit, the counts are the thread's
  const context = native.context(Buffer.alloc(16, 6), Buffer.alloc(12, 6), 6, 96);
  const socket = udpSocketHandle(from)!;
  const target = native.target('127.0.0.1', sink.address().port);
  const payload = Buffer.alloc(1100, 7);
  const trim = (): Promise<boolean> => new Promise((resolve) => native.trimMemory(resolve));
  let seq = 0;
  const fill = (): void => {
    for (let n = 0; n < 30_000; n++, seq++) native.queue(context, socket, target, header(seq & 0xffff), 12, payload, 0, 0);
  };
  // The thread starts with this one, sends it, and sleeps: the burst's first packet wakes it into its linger.
  native.queue(context, socket, target, header(seq++), 12, payload, 0, 0);
  native.settle(context);
  fill();
  const filled = native.sendThreadStats();
  await trim(); // the ring is not empty: the trim waits for it
  const asked = native.sendThreadStats();
  native.settle(context, 10_000);
  const sent = native.sendThreadStats();
  native.queue(context, socket, target, header(seq++ & 0xffff), 12, payload, 0, 0); // to an empty ring: the trim
  const next = native.sendThreadStats();
  native.settle(context, 10_000);
  fill();
  native.settle(context, 10_000);
  const refilled = native.sendThreadStats();
  await trim(); // the ring is empty: at once
  const direct = native.sendThreadStats();
  console.log(JSON.stringify({ filled, asked, sent, next, refilled, direct }));
  await closeAll(from, sink);
} else if (scenario === 'full') {
  // WEBGEAR_SEND_LINGER_US=1000000: once woken the thread sleeps a second, and the ring fills.
  const from = await boundSocket();
  const sink = await boundSocket(); // not read: it drops what does not fit, the counts are the thread's
  const to = await boundSocket();
  const busy = native.context(Buffer.alloc(16, 1), Buffer.alloc(12, 1), 1, 96);
  const idle = native.context(Buffer.alloc(16, 2), Buffer.alloc(12, 2), 2, 96);
  const socket = udpSocketHandle(from)!;
  const sinkTarget = native.target('127.0.0.1', sink.address().port);
  // The thread starts with this one, sends it, and sleeps: the next packet wakes it into its linger.
  native.queue(busy, socket, sinkTarget, header(0), 12, Buffer.alloc(8), 0, 0);
  native.settle(busy);
  const payload = Buffer.alloc(8);
  let seq = 1;
  // Until the ring is full (the thread lingers meanwhile).
  const { capacity } = native.sendThreadStats();
  for (let n = 0; n < capacity; n++) native.queue(busy, socket, sinkTarget, header(seq++ & 0xffff), 12, payload, 0, 0);
  const filled = native.sendThreadStats();
  // A viewer with nothing queued is sent at once; one with packets queued waits for room (its order kept).
  const arriving = nextDatagram(to);
  const atOnce = native.queue(idle, socket, native.target('127.0.0.1', to.address().port), header(1), 12, Buffer.alloc(100, 5), 0, 0);
  const afterIdle = native.sendThreadStats();
  const started = performance.now();
  const waited = native.queue(busy, socket, sinkTarget, header(seq++ & 0xffff), 12, payload, 0, 0);
  const waitedMs = performance.now() - started;
  const arrived = (await arriving).data.length;
  native.settle(busy, 5_000);
  console.log(JSON.stringify({ filled, atOnce, afterIdle, waited, waitedMs, arrived, end: native.sendThreadStats() }));
  await closeAll(from, sink, to);
} else if (scenario === 'exit' || scenario === 'end') {
  // Packets queued, then process.exit() at once ('exit'), or the event loop left to end with contexts alive ('end').
  const from = await boundSocket();
  const to = await boundSocket();
  const context = native.context(Buffer.alloc(16, 3), Buffer.alloc(12, 3), 3, 96);
  const socket = udpSocketHandle(from)!;
  const target = native.target('127.0.0.1', to.address().port);
  for (let seq = 0; seq < 2000; seq++) native.queue(context, socket, target, header(seq), 12, Buffer.alloc(1000), 0, 0);
  console.log(JSON.stringify({ running: native.sendThreadStats().running }));
  if (scenario === 'exit') process.exit(0);
  from.close();
  to.close();
} else if (scenario === 'worker') {
  // A worker has its own send thread, torn down with it, even with packets queued.
  const source = `
    const { nativeSrtp, udpSocketHandle } = await import(${JSON.stringify(new URL('../../../../lib/native/index.ts', import.meta.url).href)});
    const { createSocket } = await import('node:dgram');
    const { once } = await import('node:events');
    const from = createSocket('udp4'); from.bind(0, '127.0.0.1'); await once(from, 'listening');
    const context = nativeSrtp.context(Buffer.alloc(16), Buffer.alloc(12), 4, 96);
    const target = nativeSrtp.target('127.0.0.1', 9);
    const header = Buffer.alloc(12); header[0] = 0x80;
    for (let seq = 0; seq < 3000; seq++) nativeSrtp.queue(context, udpSocketHandle(from), target, header, header.length, Buffer.alloc(1000), 0, 0);
    const { parentPort } = await import('node:worker_threads');
    parentPort.postMessage(nativeSrtp.sendThreadStats().queued);
    await new Promise(() => {}); // terminated from outside, packets still queued
  `;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`));
  const [queued] = await Promise.all([new Promise((resolve) => worker.once('message', resolve))]);
  await worker.terminate();
  console.log(JSON.stringify({ queued, main: native.sendThreadStats() }));
}
