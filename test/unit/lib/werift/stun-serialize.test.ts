/**
 * werift patch 014 (patches/werift+0.25.2+014+stun-serialize.patch): a STUN message is serialized into one
 * Buffer, not one per attribute, header and padding joined by Buffer.concat; an address is XORed in one
 * pass, not a byte at a time (a Buffer.concat per byte); MESSAGE-INTEGRITY serializes once, not twice.
 * With 1000 viewers, STUN (consent checks both ways) was half of the server's steady 28 MB/s of garbage.
 * The bytes are those of an independent serializer (RFC 5389 §15, zero padding), and RFC 5769's sample
 * response parses and verifies. Both builds.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { Message as BundleMessage, parseMessage as bundleParse } from 'werift';

const require = createRequire(import.meta.url);
const lib = join(dirname(require.resolve('werift')), '..', '..');

interface StunMessage {
  bytes: Buffer;
  setAttribute(name: string, value: unknown): StunMessage;
  getAttributeValue(name: string): unknown;
  addMessageIntegrity(key: Buffer): StunMessage;
  addFingerprint(): StunMessage;
}
type MessageClass = (new (method: number, messageClass: number, transactionId?: Buffer) => StunMessage) & { patchStunSerialize?: boolean };
type Parse = (data: Buffer, integrityKey?: Buffer) => StunMessage | undefined;
const cjs = require(join(lib, 'ice-server/src/stun/message.js')) as { Message: MessageClass; parseMessage: Parse };
const builds: Array<[string, MessageClass, Parse]> = [
  ['ESM bundle', BundleMessage as unknown as MessageClass, bundleParse as unknown as Parse],
  ['CommonJS', cjs.Message, cjs.parseMessage],
];

const COOKIE = 0x2112a442;
const transactionId = Buffer.from('b7e7a701bc34d686fa87dfae', 'hex');
const password = Buffer.from('VOkJxbRl1RmTxUk/WvJxBt');

/** RFC 5389 §15: type, length, value, zero padding to 4 bytes. */
const attribute = (type: number, value: Buffer): Buffer => {
  const header = Buffer.alloc(4);
  header.writeUInt16BE(type, 0);
  header.writeUInt16BE(value.length, 2);
  return Buffer.concat([header, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
};
const message = (type: number, body: Buffer, length = body.length): Buffer => {
  const header = Buffer.alloc(8);
  header.writeUInt16BE(type, 0);
  header.writeUInt16BE(length, 2);
  header.writeUInt32BE(COOKIE, 4);
  return Buffer.concat([header, transactionId, body]);
};

/** A binding success response to 192.0.2.1:32853 with SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT, by hand. */
function reference(): Buffer {
  // The port is XORed with the cookie's top 16 bits, the IPv4 address with the whole cookie.
  const xorAddress = Buffer.from([0x00, 0x01, (32853 ^ (COOKIE >>> 16)) >> 8, (32853 ^ (COOKIE >>> 16)) & 0xff, 192 ^ 0x21, 0 ^ 0x12, 2 ^ 0xa4, 1 ^ 0x42]);
  let body = Buffer.concat([attribute(0x8022, Buffer.from('test vector')), attribute(0x0020, xorAddress)]);
  const integrity = createHmac('sha1', password).update(message(0x0101, body, body.length + 24)).digest();
  body = Buffer.concat([body, attribute(0x0008, integrity)]);
  const fingerprint = Buffer.alloc(4);
  fingerprint.writeUInt32BE((crc32(message(0x0101, body, body.length + 8)) ^ 0x5354554e) >>> 0);
  return message(0x0101, Buffer.concat([body, attribute(0x8028, fingerprint)]));
}

/** RFC 5769 §2.2, "Sample IPv4 Response" (its padding is spaces: any value is allowed). */
const RFC_5769_IPV4_RESPONSE = Buffer.from(
  '0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e112a643' +
    '000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96',
  'hex',
);

for (const [build, Message, parse] of builds) {
  test(`${build}: the marker is there (the server refuses a werift without it: lib/werift/werift-patches.ts)`, () => {
    assert.equal(Message.patchStunSerialize, true);
  });

  test(`${build}: a response with an XOR address, MESSAGE-INTEGRITY and FINGERPRINT has the reference's bytes`, () => {
    const built = new Message(0x001, 0x100, transactionId)
      .setAttribute('SOFTWARE', 'test vector')
      .setAttribute('XOR-MAPPED-ADDRESS', ['192.0.2.1', 32853])
      .addMessageIntegrity(password)
      .addFingerprint();
    assert.equal(built.bytes.toString('hex'), reference().toString('hex'));
    const parsed = parse(built.bytes, password);
    assert.ok(parsed, 'it parses with its integrity verified');
    assert.deepEqual(parsed.getAttributeValue('XOR-MAPPED-ADDRESS'), ['192.0.2.1', 32853]);
    const v6 = new Message(0x001, 0x100, transactionId).setAttribute('XOR-MAPPED-ADDRESS', ['2001:db8::1', 5000]).addFingerprint();
    assert.deepEqual(parse(v6.bytes)?.getAttributeValue('XOR-MAPPED-ADDRESS'), ['2001:db8::1', 5000], 'IPv6 too');
  });

  test(`${build}: RFC 5769's sample IPv4 response parses, its integrity and fingerprint verified`, () => {
    const parsed = parse(RFC_5769_IPV4_RESPONSE, password);
    assert.ok(parsed);
    assert.deepEqual(parsed.getAttributeValue('XOR-MAPPED-ADDRESS'), ['192.0.2.1', 32853]);
    assert.equal(parsed.getAttributeValue('SOFTWARE'), 'test vector');
    const tampered = Buffer.from(RFC_5769_IPV4_RESPONSE);
    tampered[40] = tampered[40]! ^ 1; // inside the XOR address
    assert.equal(parse(tampered, password), undefined, 'a changed byte fails the fingerprint');
  });

  test(`${build}: serializing joins no Buffers and XORs no byte at a time`, () => {
    const built = new Message(0x001, 0x100, transactionId).setAttribute('XOR-MAPPED-ADDRESS', ['192.0.2.1', 32853]).setAttribute('SOFTWARE', 'x');
    const concat = Buffer.concat;
    let calls = 0;
    Buffer.concat = ((...args: Parameters<typeof concat>) => {
      calls++;
      return concat(...args);
    }) as typeof concat;
    try {
      built.addMessageIntegrity(password).addFingerprint();
      void built.bytes;
    } finally {
      Buffer.concat = concat;
    }
    assert.equal(calls, 0, `Buffer.concat calls: ${calls} (unpatched: one per attribute, per address byte, per serialization)`);
  });
}
