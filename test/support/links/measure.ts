/**
 * What a link really does, measured end to end: round-trip time, UDP rate and loss, TCP throughput. The
 * server's half runs here, on the link's root-side address; the viewer's half is netprobe.ts, run
 * inside the viewer namespace.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { Link } from './link.ts';

const execFileAsync = promisify(execFile);

const NETPROBE = join(import.meta.dirname, 'netprobe.ts');
/** Bytes on the wire around a UDP payload: Ethernet 14, IPv4 20, UDP 8 (what TBF counts). */
export const UDP_OVERHEAD = 42;

export const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

async function udpSocket(address: string): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind(0, address);
  await once(socket, 'listening');
  return socket;
}

/** Runs netprobe.ts in the viewer namespace; resolves its last JSON line. */
async function netprobe<T>(link: Link, args: Array<string | number>, timeoutMs = 30_000): Promise<T> {
  const output = await link.exec(process.execPath, [NETPROBE, ...args.map(String)], { timeoutMs });
  return JSON.parse(output.trim().split('\n').at(-1)!) as T;
}

export interface RttResult {
  rtts: number[];
  median: number;
  min: number;
  max: number;
  lost: number;
}

/** UDP echo round trips from the viewer to the server and back (UDP toward the viewer may be lost). */
export async function measureRtt(link: Link, { count = 50, intervalMs = 20 } = {}): Promise<RttResult> {
  const server = await udpSocket(link.serverAddress);
  server.on('message', (message, from) => server.send(message, from.port, from.address));
  try {
    const { port } = server.address();
    const { rtts } = await netprobe<{ rtts: number[] }>(link, ['echo', link.serverAddress, port, count, intervalMs]);
    return { rtts, median: median(rtts), min: Math.min(...rtts), max: Math.max(...rtts), lost: count - rtts.length };
  } finally {
    server.close();
  }
}

/**
 * netprobe.ts's UDP sink in the viewer namespace on `port`, ready; `result()`: what it counted, once none
 * came for 500 ms.
 */
async function startSink(link: Link, port: number): Promise<{ result: () => Promise<{ packets: number; arrivals: number[] }> }> {
  const sink = link.spawn(process.execPath, [NETPROBE, 'sink', String(port), '500'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: sink.stdout! })[Symbol.asyncIterator]();
  if ((await lines.next()).value !== 'ready') throw new Error('the UDP sink in the viewer namespace did not start');
  return { result: async () => JSON.parse((await lines.next()).value as string) as { packets: number; arrivals: number[] } };
}

export interface UdpResult {
  sent: number;
  received: number;
  /** Percent of the sent datagrams that never arrived. */
  lostPercent: number;
  /** The rate datagrams arrived at, on the wire (payload + headers), after the first half second. */
  receivedKbit: number;
}

/**
 * Sends `seconds` of UDP at `sendKbit` (on the wire, `payload`-byte datagrams, paced every 2 ms) from the
 * server to the viewer and counts what arrives; `port`: the viewer's port (two at once need two).
 */
export async function measureUdp(
  link: Link,
  { sendKbit, seconds, payload = 1200, port = 40_000 + (process.pid % 1000) }: { sendKbit: number; seconds: number; payload?: number; port?: number },
): Promise<UdpResult> {
  const sink = await startSink(link, port);
  const socket = await udpSocket(link.serverAddress);
  const datagram = Buffer.alloc(payload);
  const perMs = sendKbit / 8 / (payload + UDP_OVERHEAD);
  let sent = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - start;
      const due = Math.min(elapsed, seconds * 1000) * perMs;
      while (sent < due) {
        socket.send(datagram, port, link.viewerAddress);
        sent++;
      }
      if (elapsed >= seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  socket.close();
  const { packets, arrivals } = await sink.result();
  const steady = arrivals.filter((time) => time >= arrivals[0]! + 500);
  const receivedKbit = steady.length > 1
    ? ((steady.length - 1) * (payload + UDP_OVERHEAD) * 8) / (steady.at(-1)! - steady[0]!)
    : 0;
  return { sent, received: packets, lostPercent: (100 * (sent - packets)) / sent, receivedKbit };
}

/**
 * UDP GSO sends, as the server's native send thread makes them: `sends` sends of `segments` datagrams of
 * `size` bytes each (UDP_SEGMENT, from python3: Node's dgram has no GSO), from the server's address to a
 * sink in the viewer namespace. Returns the datagrams sent and received, and how many packets the loss
 * rule saw (the router's count of server → viewer UDP).
 */
export async function measureGsoSends(
  link: Link,
  { sends, segments, size = 1000, port = 41_000 + (process.pid % 1000) }: { sends: number; segments: number; size?: number; port?: number },
): Promise<{ sent: number; received: number; seenByLossRule: number }> {
  const sink = await startSink(link, port);
  const before = await link.stats();
  const script = [
    'import socket, sys, time',
    'host, port, source, sends, segments, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    's.bind((source, 0))',
    's.setsockopt(socket.SOL_UDP, 103, size)  # UDP_SEGMENT',
    'for _ in range(sends):',
    '    s.sendto(bytes(segments * size), (host, port))',
    '    time.sleep(0.002)',
  ].join('\n');
  await execFileAsync('python3', ['-c', script, link.viewerAddress, String(port), link.serverAddress, String(sends), String(segments), String(size)], { timeout: 10_000 });
  const { packets } = await sink.result();
  const after = await link.stats();
  return { sent: sends * segments, received: packets, seenByLossRule: after.udpToViewer - before.udpToViewer };
}

export interface TcpResult {
  bytes: number;
  /** Over the whole download, and from its second half second on (after slow start), in Mbit/s. */
  mbit: number;
  steadyMbit: number;
}

/** The viewer downloads `bytes` over one TCP connection from the server. */
export async function measureTcpDownload(link: Link, bytes: number): Promise<TcpResult> {
  const server = createServer((socket) => {
    const chunk = Buffer.alloc(1 << 16);
    let left = bytes;
    const write = () => {
      while (left > 0) {
        const size = Math.min(left, chunk.length);
        left -= size;
        if (!socket.write(size === chunk.length ? chunk : chunk.subarray(0, size))) return void socket.once('drain', write);
      }
      socket.end();
    };
    write();
  });
  server.listen(0, link.serverAddress);
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const result = await netprobe<{ bytes: number; marks: Array<[number, number]> }>(link, ['download', link.serverAddress, port], 120_000);
    const [endMs, endBytes] = result.marks.at(-1)!;
    const from = result.marks.find(([ms]) => ms >= 500) ?? result.marks[0]!;
    const mbitOver = (ms: number, count: number) => (count * 8) / ms / 1000;
    return {
      bytes: result.bytes,
      mbit: mbitOver(endMs, endBytes),
      steadyMbit: endMs > from[0] ? mbitOver(endMs - from[0], endBytes - from[1]) : Number.NaN,
    };
  } finally {
    server.close();
  }
}
