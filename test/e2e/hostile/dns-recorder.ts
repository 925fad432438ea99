/**
 * A DNS server that records every query it gets and answers every A query with one address (and every
 * other type with no record), so that whoever asked goes on to send to that address, where the test
 * counts it. For a network namespace whose resolv.conf points here: no query may reach it.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';

export interface DnsQuery {
  name: string;
  /** The query type: 1 A, 28 AAAA, … */
  type: number;
}

export interface DnsRecorder {
  readonly queries: DnsQuery[];
  close(): void;
}

/** The question of a DNS query (RFC 1035 §4.1.2): its name, type, and where it ends. */
function question(message: Buffer): DnsQuery & { end: number } {
  const labels: string[] = [];
  let at = 12;
  while (at < message.length && message[at] !== 0) {
    labels.push(message.subarray(at + 1, at + 1 + message[at]!).toString('latin1'));
    at += 1 + message[at]!;
  }
  return { name: labels.join('.'), type: message.readUInt16BE(at + 1), end: at + 5 };
}

/** Listens on `host`:53 (UDP); answers A queries with `address`. */
export async function startDnsRecorder(host = '127.0.0.1', address = '127.0.0.53'): Promise<DnsRecorder> {
  const socket: Socket = createSocket('udp4');
  const queries: DnsQuery[] = [];
  socket.on('message', (message, peer) => {
    if (message.length < 17) return;
    let asked;
    try {
      asked = question(message);
    } catch {
      return;
    }
    queries.push({ name: asked.name, type: asked.type });
    const header = Buffer.from([message[0]!, message[1]!, 0x81, 0x80, 0, 1, 0, asked.type === 1 ? 1 : 0, 0, 0, 0, 0]);
    const answer = asked.type === 1
      ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...address.split('.').map(Number)])
      : Buffer.alloc(0);
    socket.send(Buffer.concat([header, message.subarray(12, asked.end), answer]), peer.port, peer.address);
  });
  socket.bind(53, host);
  await once(socket, 'listening');
  return { queries, close: () => socket.close() };
}
