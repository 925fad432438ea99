/**
 * werift patch 007 (patches/): with `helloVerifyRequest: false` (what RTCDtlsTransport now passes: ICE has
 * proven the peer's address) werift's DTLS server answers the first ClientHello with ServerHello …
 * ServerHelloDone at once: one round trip less to the first picture (issue 17 item 7). Real werift DTLS
 * endpoints on a wire that records, delays, drops or repeats datagrams; then Chromium against the server.
 */
import assert from 'node:assert/strict';
import { Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { CipherContext, DtlsClient, DtlsServer } from 'werift';
import { launchChromium, openPlayer, startServer, tempDir, testOptions, type TestServer } from '../helpers.ts';

const HELLO_VERIFY_REQUEST = 3;
const CLIENT_HELLO = 1;
const SERVER_HELLO = 2;

/** The epoch-0 handshake messages of one datagram (DTLS 1.2 records, RFC 6347 §4.1 and §4.2.2). */
function handshakeMessages(datagram: Buffer): Array<{ type: number; seq: number }> {
  const messages: Array<{ type: number; seq: number }> = [];
  for (let at = 0; at + 13 <= datagram.length; at += 13 + datagram.readUInt16BE(at + 11)) {
    if (datagram[at] === 22 && datagram.readUInt16BE(at + 3) === 0 && at + 13 + 6 <= datagram.length) {
      messages.push({ type: datagram[at + 13]!, seq: datagram.readUInt16BE(at + 13 + 4) });
    }
  }
  return messages;
}

interface Datagram {
  from: 'client' | 'server';
  at: number;
  data: Buffer;
}

/** A werift Transport end: what the DTLS socket sends goes through `wire`, what reaches it calls onData. */
interface End {
  type: 'udp';
  address: { address: string; family: string; port: number };
  closed: boolean;
  onData: (data: Buffer) => void;
  send(data: Buffer): Promise<void>;
  close(): Promise<void>;
}

/**
 * Two ends joined by a wire `oneWayMs` long that records every datagram; `deliver` may drop one (return 0),
 * or repeat it (return 2).
 */
function wire(oneWayMs: number, deliver: (datagram: Datagram, index: number) => number = () => 1) {
  const log: Datagram[] = [];
  const start = performance.now();
  const timers = new Set<NodeJS.Timeout>();
  const end = (from: Datagram['from'], to: () => End): End => ({
    type: 'udp',
    address: { address: '127.0.0.1', family: 'IPv4', port: from === 'client' ? 1 : 2 },
    closed: false,
    onData: () => {},
    async send(data) {
      const datagram = { from, at: performance.now() - start, data: Buffer.from(data) };
      const copies = deliver(datagram, log.push(datagram) - 1);
      for (let copy = 0; copy < copies; copy++) {
        const timer = setTimeout(() => (timers.delete(timer), to().onData(datagram.data)), oneWayMs);
        timers.add(timer);
      }
    },
    async close() {},
  });
  const client: End = end('client', () => server);
  const server: End = end('server', () => client);
  return { client, server, log, stop: () => timers.forEach((timer) => clearTimeout(timer)) };
}

const certificate = () =>
  CipherContext.createSelfSignedCertificateWithKey({ signature: 3, hash: 4 }, 23); // ECDSA P-256, SHA-256: what RTCDtlsTransport makes

/** A werift DTLS client and server (as RTCDtlsTransport configures them) over `link`; resolves when both are connected. */
async function handshake(link: ReturnType<typeof wire>, serverOptions: { helloVerifyRequest?: boolean }) {
  const [clientCert, serverCert] = await Promise.all([certificate(), certificate()]);
  const common = { srtpProfiles: [1 as const, 7 as const], extendedMasterSecret: true };
  const server = new DtlsServer({
    cert: serverCert.certPem, key: serverCert.keyPem, signatureHash: serverCert.signatureHash, transport: link.server,
    certificateRequest: true, ...common, ...serverOptions,
  });
  const client = new DtlsClient({ cert: clientCert.certPem, key: clientCert.keyPem, signatureHash: clientCert.signatureHash, transport: link.client, ...common });
  const connected = (socket: DtlsServer | DtlsClient) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('DTLS did not connect within 5 s')), 5_000);
      socket.onConnect.once(() => (clearTimeout(timer), resolve()));
      socket.onError.once((error) => (clearTimeout(timer), reject(error)));
    });
  const both = Promise.all([connected(server), connected(client)]);
  const start = performance.now();
  client.connect().catch(() => {});
  try {
    await both;
    // Both verified the other's Finished (patch 005); the keys they export must agree too.
    const [clientKeys, serverKeys] = [client.extractSessionKeys(16, 14), server.extractSessionKeys(16, 14)];
    assert.deepEqual(clientKeys.localKey, serverKeys.remoteKey, 'both ends derived the same SRTP keys');
    return { ms: performance.now() - start, client, server };
  } finally {
    // werift's flights keep their retransmission timers: stop them by moving past every flight.
    for (const socket of [client, server]) socket.dtls.flight = Number.MAX_SAFE_INTEGER;
    link.stop();
  }
}

/** The flights on the wire: runs of handshake datagrams from one side (epoch 0 and the encrypted Finished). */
const flights = (log: Datagram[]) =>
  log.filter((d) => d.data[0] === 22 || d.data[0] === 20).reduce<Array<{ from: string; types: number[] }>>((acc, d) => {
    if (acc.at(-1)?.from !== d.from) acc.push({ from: d.from, types: [] });
    acc.at(-1)!.types.push(...handshakeMessages(d.data).map((m) => m.type));
    return acc;
  }, []);

describe('werift DTLS server without HelloVerifyRequest (patch 007)', () => {
  test('the marker is there', () => {
    assert.equal((DtlsServer as unknown as { patchNoHelloVerify?: boolean }).patchNoHelloVerify, true);
  });

  test('helloVerifyRequest: false: ClientHello → ServerHello… at once, 4 flights, 2 round trips, keys agree', async () => {
    const link = wire(20);
    const { ms } = await handshake(link, { helloVerifyRequest: false });
    const seen = flights(link.log);
    assert.deepEqual(seen.map((f) => f.from), ['client', 'server', 'client', 'server'], JSON.stringify(seen));
    assert.deepEqual(seen[0]!.types, [CLIENT_HELLO]);
    assert.deepEqual(seen[1]!.types, [SERVER_HELLO, 11, 12, 13, 14], 'ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone');
    assert.ok(!link.log.some((d) => d.from === 'server' && handshakeMessages(d.data).some((m) => m.type === HELLO_VERIFY_REQUEST)));
    // The server's first message takes message_seq 0 when no HelloVerifyRequest took it (BoringSSL waits for 0).
    const serverHello = link.log.flatMap((d) => (d.from === 'server' ? handshakeMessages(d.data) : [])).find((m) => m.type === SERVER_HELLO);
    assert.equal(serverHello?.seq, 0);
    assert.ok(ms >= 80 && ms < 400, `2 round trips of 40 ms (+ crypto): ${ms.toFixed(0)} ms`);
  });

  test('by default (a DtlsServer on its own, no ICE below) the cookie exchange stays: 6 flights', async () => {
    const link = wire(20);
    await handshake(link, {});
    const seen = flights(link.log);
    assert.deepEqual(seen.map((f) => f.from), ['client', 'server', 'client', 'server', 'client', 'server']);
    assert.deepEqual(seen[1]!.types, [HELLO_VERIFY_REQUEST]);
    assert.equal(handshakeMessages(link.log.find((d) => d.from === 'server' && handshakeMessages(d.data).some((m) => m.type === SERVER_HELLO))!.data)[0]!.seq, 1);
  });

  test('a repeated ClientHello gets the same flight 4 again (same random, same ECDHE key); another ClientHello is ignored', async () => {
    let clientHello: Buffer | undefined;
    const link = wire(20, (datagram) => {
      if (datagram.from === 'client' && handshakeMessages(datagram.data)[0]?.type === CLIENT_HELLO) clientHello ??= datagram.data;
      return datagram.from === 'client' && datagram.data === clientHello ? 2 : 1; // the first ClientHello arrives twice
    });
    const handshaking = handshake(link, { helloVerifyRequest: false });
    // Once the server has answered, the same ClientHello again, then one with another random.
    const answered = () => link.log.some((d) => d.from === 'server' && handshakeMessages(d.data)[0]?.type === SERVER_HELLO);
    for (let waited = 0; !answered() && waited < 2_000; waited += 5) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(answered(), 'the server answered the ClientHello');
    const flightsBefore = link.log.filter((d) => d.from === 'server').length;
    const other = Buffer.from(clientHello!);
    other[13 + 12 + 2 + 10]! ^= 0xff; // a byte of its random (record header, handshake header, client_version, then the random)
    link.server.onData(other);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(link.log.filter((d) => d.from === 'server').length, flightsBefore, 'no answer to a ClientHello with another random');
    await handshaking;
    const serverHellos = link.log.filter((d) => d.from === 'server' && handshakeMessages(d.data)[0]?.type === SERVER_HELLO);
    assert.equal(serverHellos.length, 2, 'flight 4 once per copy of the ClientHello');
    assert.deepEqual(serverHellos[0]!.data, serverHellos[1]!.data, 'the same ServerHello (random) both times');
    const keyExchanges = link.log.filter((d) => d.from === 'server' && handshakeMessages(d.data)[0]?.type === 12);
    assert.equal(keyExchanges.length, 2);
    assert.deepEqual(keyExchanges[0]!.data.subarray(13 + 12), keyExchanges[1]!.data.subarray(13 + 12), 'the same ECDHE key and signature');
  });

  test('a lost flight 4 is sent again when the client repeats its ClientHello, and the handshake completes', async () => {
    // The whole first flight 4 is lost (werift's client mishandles a flight that lost only its ServerHello).
    let dropped = 0;
    let clientHellos = 0;
    const link = wire(5, (datagram) => {
      if (datagram.from === 'client' && handshakeMessages(datagram.data)[0]?.type === CLIENT_HELLO) clientHellos++;
      if (datagram.from === 'server' && clientHellos === 1) return (dropped++, 0);
      return 1;
    });
    const { ms } = await handshake(link, { helloVerifyRequest: false });
    assert.ok(dropped >= 5, `flight 4 lost (${dropped} datagrams)`);
    assert.ok(!link.log.some((d) => handshakeMessages(d.data).some((m) => m.type === HELLO_VERIFY_REQUEST)), 'no HelloVerifyRequest');
    assert.ok(clientHellos >= 2, 'the client repeated its ClientHello');
    assert.ok(ms < 3_000, `connected after one retransmission: ${ms.toFixed(0)} ms`);
  });
});

describe('Chromium ↔ the server: no HelloVerifyRequest on the wire', { timeout: 60_000 }, () => {
  const data = tempDir();
  let server: TestServer;
  const sent: Buffer[] = [];
  const realSend = Socket.prototype.send;

  before(async () => {
    // A tap on every UDP datagram this process sends (the server runs in it).
    Socket.prototype.send = function tap(this: Socket, message: unknown, ...rest: unknown[]) {
      if (Buffer.isBuffer(message)) sent.push(Buffer.from(message));
      return (realSend as (...args: unknown[]) => void).call(this, message, ...rest);
    } as typeof Socket.prototype.send;
    server = await startServer(testOptions(data.path, { resolution: [320, 240] }));
  });
  after(async () => {
    Socket.prototype.send = realSend;
    await server?.close();
    data.cleanup();
  });

  test('the page plays; the server answered its ClientHello with ServerHello (message_seq 0), never a HelloVerifyRequest', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await openPlayer(page, `${server.url}/`);
      const messages = sent.flatMap((datagram) => handshakeMessages(datagram));
      assert.ok(!messages.some((m) => m.type === HELLO_VERIFY_REQUEST), 'no HelloVerifyRequest sent');
      const serverHello = messages.find((m) => m.type === SERVER_HELLO);
      assert.equal(serverHello?.seq, 0, 'a ServerHello, message_seq 0');
    } finally {
      await browser.close();
    }
  });
});
