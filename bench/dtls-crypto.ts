/**
 * What werift's DTLS server spends per handshake, and how much of it is the key agreement that werift 0.25
 * does in JavaScript (tweetnacl's X25519, @noble/curves' P-256) rather than with node:crypto. Decides whether
 * a werift patch moving it to node:crypto is worth having (issue 17 item 7). Not part of `npm test`.
 *
 *   node bench/dtls-crypto.ts            200 handshakes, 500 key agreements of each kind
 *   BENCH_HANDSHAKES=50 node bench/dtls-crypto.ts
 *
 * The handshakes run werift's DtlsClient against its DtlsServer (as RTCDtlsTransport sets them up: ECDSA
 * P-256 certificates, a certificate request, extended master secret, no HelloVerifyRequest) over an
 * in-memory wire, one after the other; "server CPU" is the time the server's handlers run synchronously
 * when a flight reaches it (the key pair, the signature, the key agreement, the PRF, the Finished checks).
 */
import { createECDH, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { CipherContext, DtlsClient, DtlsServer } from 'werift';

const HANDSHAKES = Number(process.env.BENCH_HANDSHAKES ?? 200);
const OPS = 500;

// werift's own copies of its JavaScript crypto libraries (its dependencies, not this package's).
const fromWerift = createRequire(createRequire(import.meta.url).resolve('werift'));
const nacl = fromWerift('tweetnacl') as {
  box: { keyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } };
  scalarMult(n: Uint8Array, p: Uint8Array): Uint8Array;
};
const { p256 } = fromWerift('@noble/curves/p256') as {
  p256: { utils: { randomPrivateKey(): Uint8Array }; getPublicKey(k: Uint8Array, compressed: boolean): Uint8Array; getSharedSecret(k: Uint8Array, p: Uint8Array): Uint8Array };
};

const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Median ms of `op` over OPS runs, after 20 to warm up. */
function perOp(op: () => unknown): number {
  for (let i = 0; i < 20; i++) op();
  const times: number[] = [];
  for (let i = 0; i < OPS; i++) {
    const start = performance.now();
    op();
    times.push(performance.now() - start);
  }
  return median(times);
}

async function handshakes(): Promise<{ wallMs: number[]; serverMs: number[] }> {
  const certificate = () => CipherContext.createSelfSignedCertificateWithKey({ signature: 3, hash: 4 }, 23);
  const [clientCert, serverCert] = await Promise.all([certificate(), certificate()]);
  const wallMs: number[] = [];
  const serverMs: number[] = [];
  for (let i = 0; i < HANDSHAKES; i++) {
    let serverBusy = 0;
    const ends: Record<'client' | 'server', { type: 'udp'; address: { address: string; family: string; port: number }; closed: boolean; onData: (data: Buffer) => void; send(data: Buffer): Promise<void>; close(): Promise<void> }> = {} as never;
    const end = (to: 'client' | 'server') => ({
      type: 'udp' as const,
      address: { address: '127.0.0.1', family: 'IPv4', port: to === 'server' ? 1 : 2 },
      closed: false,
      onData: (_data: Buffer) => {},
      async send(data: Buffer) {
        const copy = Buffer.from(data);
        setImmediate(() => {
          const start = performance.now();
          ends[to].onData(copy);
          if (to === 'server') serverBusy += performance.now() - start;
        });
      },
      async close() {},
    });
    ends.client = end('server'); // what the client sends reaches the server
    ends.server = end('client');
    const common = { srtpProfiles: [1 as const, 7 as const], extendedMasterSecret: true };
    const server = new DtlsServer({
      cert: serverCert.certPem, key: serverCert.keyPem, signatureHash: serverCert.signatureHash, transport: ends.server,
      certificateRequest: true, helloVerifyRequest: false, ...common,
    });
    const client = new DtlsClient({ cert: clientCert.certPem, key: clientCert.keyPem, signatureHash: clientCert.signatureHash, transport: ends.client, ...common });
    const connected = new Promise<void>((resolve) => server.onConnect.once(() => resolve()));
    const start = performance.now();
    void client.connect().catch(() => {});
    await connected;
    wallMs.push(performance.now() - start);
    serverMs.push(serverBusy);
    for (const socket of [client, server]) socket.dtls.flight = Number.MAX_SAFE_INTEGER; // ends werift's retransmission loops
  }
  return { wallMs, serverMs };
}

const { wallMs, serverMs } = await handshakes();
console.log(`${HANDSHAKES} werift DTLS handshakes (client and server in this process, no wire delay):`);
console.log(`  first: ${wallMs[0]!.toFixed(1)} ms (cold); then median ${median(wallMs.slice(1)).toFixed(2)} ms`);
console.log(`  server CPU per handshake: first ${serverMs[0]!.toFixed(1)} ms; then median ${median(serverMs.slice(1)).toFixed(2)} ms`);

// What the server does per handshake with the curve Chromium and werift offer first (X25519): one key
// pair (flight 4) and one shared secret (flight 6). P-256 likewise when a client offers it first.
const peer = nacl.box.keyPair();
const x25519Js = perOp(() => {
  const own = nacl.box.keyPair();
  nacl.scalarMult(own.secretKey, peer.publicKey);
});
const nodePeer = generateKeyPairSync('x25519');
const x25519Node = perOp(() => {
  const own = generateKeyPairSync('x25519');
  own.publicKey.export({ format: 'jwk' }); // the raw public key the ServerKeyExchange carries
  diffieHellman({ privateKey: own.privateKey, publicKey: nodePeer.publicKey });
});
const p256Peer = p256.getPublicKey(p256.utils.randomPrivateKey(), false);
const p256Js = perOp(() => {
  const own = p256.utils.randomPrivateKey();
  p256.getPublicKey(own, false);
  p256.getSharedSecret(own, p256Peer);
});
const p256Node = perOp(() => {
  const own = createECDH('prime256v1');
  own.generateKeys();
  own.computeSecret(Buffer.from(p256Peer));
});
console.log('key agreement per handshake (key pair + shared secret), median:');
console.log(`  X25519: tweetnacl ${x25519Js.toFixed(3)} ms, node:crypto ${x25519Node.toFixed(3)} ms`);
console.log(`  P-256:  @noble/curves ${p256Js.toFixed(3)} ms, node:crypto ${p256Node.toFixed(3)} ms`);
process.exit(0); // werift's flights leave timers behind
