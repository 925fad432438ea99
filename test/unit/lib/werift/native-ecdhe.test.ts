/**
 * werift patch 008 (patches/werift+0.25.2+008+native-ecdhe.patch): DTLS's ECDHE in node:crypto. The key
 * pairs and shared secrets it makes agree with the JavaScript implementations werift used before
 * (tweetnacl for X25519, @noble/curves for P-256), so the bytes on the wire are the same; and neither build
 * calls those any more.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { DtlsSocket } from 'werift';

const require = createRequire(import.meta.url);
const weriftDir = join(dirname(require.resolve('werift')), '..', '..', '..');
const fromWerift = createRequire(join(weriftDir, 'package.json'));

interface KeyPair { privateKey: Buffer; publicKey: Buffer }
type Secret = (keys: { publicKey: Buffer; privateKey: Buffer }) => Buffer;
const ec = fromWerift(join(weriftDir, 'lib', 'dtls', 'src', 'cipher', 'ec.js')) as {
  p256Keypair: () => KeyPair; p256PreMasterSecret: Secret; x25519Keypair: () => KeyPair; x25519PreMasterSecret: Secret;
};
const nacl = fromWerift('tweetnacl') as { box: { keyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } }; scalarMult(n: Uint8Array, p: Uint8Array): Uint8Array };
const { p256 } = fromWerift('@noble/curves/p256') as { p256: { utils: { randomPrivateKey(): Uint8Array }; getPublicKey(k: Uint8Array, compressed: boolean): Uint8Array; getSharedSecret(k: Uint8Array, p: Uint8Array): Uint8Array } };

test('the marker is there (the server refuses a werift without it: lib/werift/werift-patches.ts)', () => {
  assert.equal((DtlsSocket as unknown as { patchNativeEcdhe?: boolean }).patchNativeEcdhe, true);
});

test('X25519 by node:crypto agrees with tweetnacl both ways: raw 32-byte keys, the same secret', () => {
  for (let i = 0; i < 20; i++) {
    const ours = ec.x25519Keypair();
    const theirs = nacl.box.keyPair();
    assert.equal(ours.publicKey.length, 32);
    assert.equal(ours.privateKey.length, 32);
    const secret = ec.x25519PreMasterSecret({ publicKey: Buffer.from(theirs.publicKey), privateKey: ours.privateKey });
    assert.deepEqual(secret, Buffer.from(nacl.scalarMult(theirs.secretKey, ours.publicKey)));
    assert.deepEqual(secret, Buffer.from(nacl.scalarMult(ours.privateKey, theirs.publicKey)));
  }
});

test('P-256 by node:crypto agrees with @noble/curves: a 65-byte uncompressed public key, the x coordinate as the secret', () => {
  for (let i = 0; i < 10; i++) {
    const ours = ec.p256Keypair();
    assert.equal(ours.publicKey.length, 65);
    assert.equal(ours.publicKey[0], 4);
    assert.deepEqual(Buffer.from(p256.getPublicKey(ours.privateKey, false)), ours.publicKey);
    const theirs = p256.utils.randomPrivateKey();
    const secret = ec.p256PreMasterSecret({ publicKey: Buffer.from(p256.getPublicKey(theirs, false)), privateKey: ours.privateKey });
    assert.deepEqual(secret, Buffer.from(p256.getSharedSecret(theirs, ours.publicKey)).subarray(1));
  }
});

test('a P-256 private key is always 32 bytes, as @noble/curves made it (Node\'s getPrivateKey() drops leading zero bytes: 1 key in 256)', () => {
  // 3000 keys: without the padding, one at least is 31 bytes but for a chance of (255/256)^3000 = 1 in 125 000
  for (let i = 0; i < 3000; i++) {
    const { privateKey } = ec.p256Keypair();
    if (privateKey.length !== 32) assert.fail(`key ${i}: ${privateKey.length} bytes`);
  }
});

test('a bad peer key is refused, not used', () => {
  const ours = ec.x25519Keypair();
  assert.throws(() => ec.x25519PreMasterSecret({ publicKey: Buffer.alloc(31), privateKey: ours.privateKey }));
  assert.throws(() => ec.x25519PreMasterSecret({ publicKey: Buffer.alloc(32), privateKey: ours.privateKey }), 'a low-order point: an all-zero secret');
  assert.throws(() => ec.p256PreMasterSecret({ publicKey: Buffer.alloc(65, 1), privateKey: ec.p256Keypair().privateKey }));
});

test('neither build computes ECDHE in JavaScript any more', () => {
  const bundle = readFileSync(join(weriftDir, 'lib', 'index.mjs'), 'utf8');
  assert.doesNotMatch(bundle, /from "tweetnacl"/);
  assert.doesNotMatch(bundle, /p256\.getSharedSecret/);
  for (const file of ['namedCurve.js', 'prf.js', 'ec.js']) {
    const source = readFileSync(join(weriftDir, 'lib', 'dtls', 'src', 'cipher', file), 'utf8');
    assert.doesNotMatch(source, /require\("tweetnacl"\)|@noble\/curves/, file);
  }
});
