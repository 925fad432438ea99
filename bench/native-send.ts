/**
 * `node bench/native-send.ts [addon.node]`: the native sender's `send` alone (lib/native/: header, AES-GCM,
 * sendto), in µs of this process's CPU per call, as the server calls it: bursts of a 720p frame's 4
 * packets × 40 viewers (each viewer its own socket and key), one burst per 1/32 s. The receivers are in
 * another process, paused, as the server's viewers are while bench/run.ts's fan-out reads its CPU.
 * Prints the median of 5 runs. An addon file given instead of the built one compares builds (same API).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { nativeSrtp, nativeSrtpProblem, udpSocketFd, type NativeSrtp } from '../lib/native/index.ts';

const addon: NativeSrtp | undefined = process.argv[2] ? createRequire(import.meta.url)(process.argv[2]) : nativeSrtp;
if (!addon || !nativeSrtp) throw new Error(`the native SRTP sender did not load: ${nativeSrtpProblem}`);
const viewers = 40;
const packetsPerFrame = 4;
const bursts = 150;
const gapMs = 1000 / 32;
const runs = 5;

const sink = spawn(process.execPath, ['-e', `const dgram = require('node:dgram'); const ports = [];
  for (let i = 0; i < ${viewers}; i++) {
    const s = dgram.createSocket('udp4'); s.on('message', () => {});
    s.bind(0, '127.0.0.1', () => { ports.push(s.address().port); if (ports.length === ${viewers}) console.log(ports.join(',')); });
  }`], { stdio: ['ignore', 'pipe', 'inherit'] });
const sockets: Socket[] = [];
try {
  const [line] = await once(sink.stdout!, 'data');
  const ports = String(line).trim().split(',').map(Number);
  for (let i = 0; i < viewers; i++) {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    sockets.push(socket);
  }
  const routes = ports.map((port, viewer) => ({
    context: addon.context(randomBytes(16), randomBytes(12), 0x1000 + viewer, 96),
    fd: udpSocketFd(sockets[viewer]!)!,
    target: addon.target('127.0.0.1', port),
  }));
  const packet = randomBytes(1200);
  packet[0] = 0x80;
  const cpu = () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };
  sink.kill('SIGSTOP');
  const results: number[] = [];
  for (let run = 0; run < runs; run++) {
    const timersStart = cpu();
    for (let burst = 0; burst < bursts; burst++) await sleep(gapMs);
    const timers = cpu() - timersStart;
    const start = cpu();
    for (let burst = 0; burst < bursts; burst++) {
      packet.writeUInt16BE(burst, 2);
      for (let index = 0; index < packetsPerFrame * viewers; index++) {
        const route = routes[index % viewers]!;
        addon.send(route.context, route.fd, route.target, packet, 12, 0);
      }
      await sleep(gapMs);
    }
    results.push((cpu() - start - timers) / (bursts * packetsPerFrame * viewers));
  }
  const sorted = results.toSorted((a, b) => a - b);
  console.log(`native send: ${sorted[Math.floor(runs / 2)]!.toFixed(2)} µs per call (CPU; runs ${sorted.map((value) => value.toFixed(2)).join(', ')})`);
} finally {
  for (const socket of sockets) socket.close();
  sink.kill('SIGKILL');
}
