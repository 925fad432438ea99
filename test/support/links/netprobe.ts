/**
 * The viewer's half of the link measurements (measure.ts runs the server's half in the test process).
 * Run inside the viewer namespace: `node netprobe.ts <mode> <args…>`; prints one JSON line at the end.
 *
 *   echo <host> <port> <count> <intervalMs>  UDP echo round trips, ms each (lost ones left out)
 *   sink <port> <idleMs>                    counts UDP datagrams until none came for idleMs; prints
 *                                           "ready" first, then {packets, bytes, arrivals: [ms…]}
 *   download <host> <port>                  reads a TCP stream to its end: {bytes, marks: [[ms, bytes]…]}
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

const [mode, ...args] = process.argv.slice(2);
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

if (mode === 'echo') {
  const [host, port, count, intervalMs] = [args[0]!, Number(args[1]), Number(args[2]), Number(args[3])];
  const socket = createSocket('udp4');
  const sentAt = new Map<number, number>();
  const rtts: number[] = [];
  socket.on('message', (message) => {
    const sent = sentAt.get(message.readUInt32BE(0));
    if (sent !== undefined) rtts.push(performance.now() - sent);
  });
  for (let i = 0; i < count; i++) {
    const probe = Buffer.alloc(200);
    probe.writeUInt32BE(i, 0);
    sentAt.set(i, performance.now());
    socket.send(probe, port, host);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000)); // the last answers
  print({ rtts });
  socket.close();
} else if (mode === 'sink') {
  const [port, idleMs] = [Number(args[0]), Number(args[1])];
  const socket = createSocket('udp4');
  let packets = 0;
  let bytes = 0;
  const arrivals: number[] = [];
  let idle: NodeJS.Timeout | undefined;
  const finish = () => {
    print({ packets, bytes, arrivals });
    socket.close();
  };
  socket.on('message', (message) => {
    packets++;
    bytes += message.length;
    arrivals.push(performance.now());
    clearTimeout(idle);
    idle = setTimeout(finish, idleMs);
  });
  socket.bind(port, () => {
    process.stdout.write('ready\n');
    idle = setTimeout(finish, 10_000); // nothing came at all
  });
} else if (mode === 'download') {
  const [host, port] = [args[0]!, Number(args[1])];
  const start = performance.now();
  let bytes = 0;
  const marks: Array<[number, number]> = [];
  const socket = connect(port, host);
  socket.on('data', (chunk) => {
    bytes += chunk.length;
    const last = marks.at(-1);
    if (!last || performance.now() - start - last[0] >= 100) marks.push([performance.now() - start, bytes]);
  });
  socket.on('end', () => {
    marks.push([performance.now() - start, bytes]);
    print({ bytes, marks });
  });
  socket.on('error', (error) => {
    process.stderr.write(`download: ${error.message}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write(`netprobe: unknown mode ${mode}\n`);
  process.exit(2);
}
