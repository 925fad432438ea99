/**
 * werift patch 009 (patches/werift+0.25.2+009+secret-keys.patch): keys reach node:crypto as KeyObjects
 * (Node 24 is 3–5× slower with a Buffer key). The same bytes come out: STUN's MESSAGE-INTEGRITY, the DTLS
 * PRF's HMAC, SRTP's key derivation (RFC 3711 appendix B.3's test vector); and every call site converts.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { DtlsSocket } from 'werift';

const require = createRequire(import.meta.url);
const lib = join(dirname(require.resolve('werift')), '..', '..');
const load = (path: string) => require(join(lib, path)) as Record<string, unknown>;

test('the marker is there (the server refuses a werift without it: lib/werift/werift-patches.ts)', () => {
  assert.equal((DtlsSocket as unknown as { patchSecretKeys?: boolean }).patchSecretKeys, true);
});

test('STUN MESSAGE-INTEGRITY and the DTLS PRF HMAC are the HMAC of the Buffer key, as before', () => {
  const { hmac } = load('dtls/src/cipher/prf.js') as { hmac: (algorithm: string, secret: Buffer, data: Buffer) => Buffer };
  const secret = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
  const data = Buffer.from('the handshake messages');
  assert.deepEqual(hmac('sha256', secret, data), createHmac('sha256', secret).update(data).digest());
  const { Message } = load('ice-server/src/stun/message.js') as { Message: new (method: number, messageClass: number) => { bytes: Buffer; messageIntegrity(key: Buffer | string): Buffer } };
  const message = new Message(0x001, 0x000);
  const key = Buffer.from('a-32-character-ice-password-here');
  const mac = message.messageIntegrity(key);
  assert.equal(mac.length, 20);
  assert.deepEqual(message.messageIntegrity(key.toString('utf8')), mac, 'a string key as its UTF-8 bytes');
});

test('SRTP key derivation: RFC 3711 B.3 test vector', () => {
  const { Context, aes128EcbEncrypt } = load('rtp/src/srtp/context/context.js') as {
    Context: new (key: Buffer, salt: Buffer, profile: number) => { srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer };
    aes128EcbEncrypt: (key: Buffer, block: Buffer) => Buffer;
  };
  const masterKey = Buffer.from('E1F97A0D3E018BE0D64FA32C06DE4139', 'hex');
  const masterSalt = Buffer.from('0EC675AD498AFEEBB6960B3AABE6', 'hex');
  const context = new Context(masterKey, masterSalt, 1); // AES_CM_128_HMAC_SHA1_80
  assert.equal(context.srtpSessionKey.toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
  assert.equal(context.srtpSessionSalt.toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE1');
  assert.equal(context.srtpSessionAuthTag.toString('hex').toUpperCase(), 'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
  const block = Buffer.alloc(16, 7);
  const ecb = createCipheriv('aes-128-ecb', masterKey, null).setAutoPadding(false);
  assert.deepEqual(aes128EcbEncrypt(masterKey, block), Buffer.concat([ecb.update(block), ecb.final()]));
});

test('every call site converts (both builds)', () => {
  const bundle = readFileSync(join(lib, 'index.mjs'), 'utf8');
  assert.match(bundle, /createHmac4\("sha1", asSecretKey\(key\)\)[\s\S]*createHmac4\("sha1", asSecretKey\(key\)\)/);
  assert.match(bundle, /createHmac\(algorithm, asSecretKey\(secret\)\)/);
  assert.match(bundle, /createCipheriv4\("aes-128-ecb", asSecretKey\(key\), null\)/);
  assert.match(bundle, /createCipheriv\(this\.blockAlgorithm, asSecretKey\(writeKey\)/);
  assert.match(bundle, /createDecipheriv\(this\.blockAlgorithm, asSecretKey\(writeKey\)/);
  for (const file of ['ice-server/src/stun/message.js', 'dtls/src/cipher/prf.js', 'dtls/src/cipher/suites/aead.js', 'rtp/src/srtp/context/context.js']) {
    assert.match(readFileSync(join(lib, file), 'utf8'), /function asSecretKey/, file);
  }
});
