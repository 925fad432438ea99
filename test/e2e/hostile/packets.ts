/**
 * Hostile datagrams for the ICE port of a viewer: STUN (authenticated or not, well-formed or not), DTLS
 * records, alerts, ClientHellos and handshake fragments, RTP/RTCP/TURN-looking garbage and random bytes.
 * Built by hand (not with werift) so that every field can be wrong. Random choices come from a seeded
 * generator: a failing run can be replayed with its seed.
 */
import { createHmac } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** A small seeded PRNG (mulberry32): the same seed gives the same attack. */
export function random(seed: number): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    bytes: (length) => {
      // Four bytes a draw: the long runs make hundreds of megabytes of these.
      const buffer = Buffer.alloc(length + 3);
      for (let at = 0; at < length; at += 4) buffer.writeUInt32LE(Math.floor(next() * 4294967296), at);
      return buffer.subarray(0, length);
    },
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}

export interface Rng {
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  bytes(length: number): Buffer;
  pick<T>(items: readonly T[]): T;
}

// ---------------------------------------------------------------------------------------------- STUN

const MAGIC_COOKIE = 0x2112a442;
export const STUN = {
  BINDING_REQUEST: 0x0001,
  BINDING_INDICATION: 0x0011,
  BINDING_SUCCESS: 0x0101,
  BINDING_ERROR: 0x0111,
  ALLOCATE_REQUEST: 0x0003,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  PRIORITY: 0x0024,
  USE_CANDIDATE: 0x0025,
  FINGERPRINT: 0x8028,
  ICE_CONTROLLED: 0x8029,
  ICE_CONTROLLING: 0x802a,
} as const;

export type StunAttribute = [type: number, value: Buffer];

/** Header + attributes (padded), with the length field covering `lengthAdjust` more bytes. */
function stunBytes(type: number, transactionId: Buffer, attributes: StunAttribute[], lengthAdjust = 0): Buffer {
  const body = Buffer.concat(
    attributes.map(([attrType, value]) => {
      const header = Buffer.alloc(4);
      header.writeUInt16BE(attrType, 0);
      header.writeUInt16BE(value.length, 2);
      return Buffer.concat([header, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
    }),
  );
  const header = Buffer.alloc(8);
  header.writeUInt16BE(type, 0);
  header.writeUInt16BE(body.length + lengthAdjust, 2);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  return Buffer.concat([header, transactionId, body]);
}

export interface StunOptions {
  type?: number;
  transactionId?: Buffer;
  /** Attributes before MESSAGE-INTEGRITY. */
  attributes?: StunAttribute[];
  /** The key of MESSAGE-INTEGRITY (the ICE password), none when undefined. */
  integrityKey?: string;
  /** Cut MESSAGE-INTEGRITY to this many bytes. */
  truncateIntegrity?: number;
  fingerprint?: 'good' | 'bad' | 'none';
}

/** A STUN message with MESSAGE-INTEGRITY (RFC 5389 §15.4) and FINGERPRINT (§15.5) as asked. */
export function stun({
  type = STUN.BINDING_REQUEST, transactionId = Buffer.alloc(12), attributes = [], integrityKey, truncateIntegrity,
  fingerprint = 'good',
}: StunOptions): Buffer {
  const all = [...attributes];
  if (integrityKey !== undefined) {
    // The HMAC covers the message up to MESSAGE-INTEGRITY, with a length that includes it.
    const hmac = createHmac('sha1', integrityKey).update(stunBytes(type, transactionId, all, 24)).digest();
    all.push([STUN.MESSAGE_INTEGRITY, truncateIntegrity === undefined ? hmac : hmac.subarray(0, truncateIntegrity)]);
  }
  if (fingerprint === 'none') return stunBytes(type, transactionId, all);
  const crc = (crc32(stunBytes(type, transactionId, all, 8)) ^ 0x5354554e) >>> 0;
  const value = Buffer.alloc(4);
  value.writeUInt32BE(fingerprint === 'good' ? crc : (crc ^ 1) >>> 0, 0);
  return stunBytes(type, transactionId, [...all, [STUN.FINGERPRINT, value]]);
}

const u32 = (value: number): Buffer => {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value >>> 0, 0);
  return buffer;
};
const u64 = (value: bigint): Buffer => {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64BE(value, 0);
  return buffer;
};

/** What a check needs: the server's ufrag and password (from the answer) and the client's ufrag. */
export interface IceCredentials {
  serverUfrag: string;
  serverPassword: string;
  clientUfrag: string;
}

/** The attributes of a browser's connectivity check (RFC 8445 §7.1.1). */
export function checkAttributes(
  ice: IceCredentials,
  { role = 'controlling', tieBreaker = 1n, useCandidate = false, username }: {
    role?: 'controlling' | 'controlled';
    tieBreaker?: bigint;
    useCandidate?: boolean;
    username?: string;
  } = {},
): StunAttribute[] {
  return [
    [STUN.USERNAME, Buffer.from(username ?? `${ice.serverUfrag}:${ice.clientUfrag}`)],
    [STUN.PRIORITY, u32(0x6e7fffff)],
    [role === 'controlling' ? STUN.ICE_CONTROLLING : STUN.ICE_CONTROLLED, u64(tieBreaker)],
    ...(useCandidate ? ([[STUN.USE_CANDIDATE, Buffer.alloc(0)]] as StunAttribute[]) : []),
  ];
}

/**
 * Binding requests no agent may answer: no, a wrong, a truncated MESSAGE-INTEGRITY; none or a bad
 * FINGERPRINT; an unknown username fragment; role attributes and USE-CANDIDATE without authentication;
 * other methods; indications and stray responses; broken lengths.
 */
export function unauthenticatedStun(ice: IceCredentials, rng: Rng): Buffer {
  const transactionId = rng.bytes(12);
  const check = checkAttributes(ice);
  const variant = rng.int(0, 12);
  switch (variant) {
    case 0: return stun({ transactionId, attributes: check });
    case 1: return stun({ transactionId, attributes: check, integrityKey: rng.bytes(16).toString('hex') });
    case 2: return stun({ transactionId, attributes: check, integrityKey: ice.serverPassword, truncateIntegrity: rng.int(0, 19) });
    case 3: return stun({ transactionId, attributes: check, integrityKey: ice.serverPassword, fingerprint: 'none' });
    case 4: return stun({ transactionId, attributes: check, integrityKey: ice.serverPassword, fingerprint: 'bad' });
    case 5: {
      // werift's ufrags are 4 hex digits: a random one is the server's own once in 65 536 (a CI run drew it).
      let ufrag = rng.bytes(2).toString('hex');
      if (ufrag === ice.serverUfrag) ufrag = `${ufrag}0`;
      return stun({ transactionId, attributes: checkAttributes(ice, { username: `${ufrag}:x` }), integrityKey: ice.serverPassword });
    }
    case 6: return stun({ transactionId, attributes: checkAttributes(ice, { role: 'controlled', tieBreaker: 0n }), integrityKey: 'wrong' });
    case 7: return stun({ transactionId, attributes: checkAttributes(ice, { tieBreaker: 2n ** 64n - 1n, useCandidate: true }) });
    case 8: return stun({ transactionId, attributes: [...check, [0x7777, rng.bytes(rng.int(0, 8))]] });
    case 9: return stun({ type: STUN.ALLOCATE_REQUEST, transactionId, attributes: check });
    case 10: return stun({ type: rng.pick([STUN.BINDING_INDICATION, STUN.BINDING_SUCCESS, STUN.BINDING_ERROR]), transactionId, attributes: check });
    case 11: {
      const message = stun({ transactionId, attributes: check, integrityKey: 'x' });
      message.writeUInt16BE(rng.int(0, 0xffff) & ~3, 2); // a length that does not match
      return message;
    }
    default: return stun({ transactionId, attributes: [[STUN.USERNAME, rng.bytes(rng.int(0, 700))]], fingerprint: rng.pick(['good', 'bad', 'none'] as const) });
  }
}

// ---------------------------------------------------------------------------------------------- DTLS

export const DTLS = { CHANGE_CIPHER_SPEC: 20, ALERT: 21, HANDSHAKE: 22, APPLICATION_DATA: 23 } as const;

/** One DTLS 1.2 record (RFC 6347 §4.1). */
export function record(contentType: number, epoch: number, sequence: number, fragment: Buffer, version = 0xfefd): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt8(contentType, 0);
  header.writeUInt16BE(version, 1);
  header.writeUInt16BE(epoch, 3);
  header.writeUIntBE(sequence, 5, 6);
  header.writeUInt16BE(fragment.length, 11);
  return Buffer.concat([header, fragment]);
}

/** A handshake message or fragment of one (RFC 6347 §4.2.2). */
export function handshake(msgType: number, length: number, messageSeq: number, offset: number, fragment: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt8(msgType, 0);
  header.writeUIntBE(length, 1, 3);
  header.writeUInt16BE(messageSeq, 4);
  header.writeUIntBE(offset, 6, 3);
  header.writeUIntBE(fragment.length, 9, 3);
  return Buffer.concat([header, fragment]);
}

/** The 15-byte datagram of issue 16: a warning alert (or, with `level` 2, a fatal one) in epoch 0. */
export const alert = (level: number, description: number, epoch = 0, sequence = 1): Buffer =>
  record(DTLS.ALERT, epoch, sequence, Buffer.from([level, description]));

/** A DTLS 1.2 ClientHello as a browser sends it (cipher suites, groups, signature algorithms, use_srtp). */
export function clientHello(rng: Rng, { cookie = Buffer.alloc(0) as Buffer, messageSeq = 0 } = {}): Buffer {
  const extension = (type: number, data: Buffer) => {
    const header = Buffer.alloc(4);
    header.writeUInt16BE(type, 0);
    header.writeUInt16BE(data.length, 2);
    return Buffer.concat([header, data]);
  };
  const extensions = Buffer.concat([
    extension(0x000a, Buffer.from([0x00, 0x04, 0x00, 0x1d, 0x00, 0x17])), // supported_groups: x25519, P-256
    extension(0x000d, Buffer.from([0x00, 0x04, 0x04, 0x03, 0x04, 0x01])), // signature_algorithms
    extension(0x000e, Buffer.from([0x00, 0x04, 0x00, 0x07, 0x00, 0x01, 0x00])), // use_srtp: AEAD_AES_128_GCM, AES128_CM_SHA1_80
    extension(0x0017, Buffer.alloc(0)), // extended_master_secret
  ]);
  const body = Buffer.concat([
    Buffer.from([0xfe, 0xfd]),
    rng.bytes(32), // random
    Buffer.from([0]), // session id
    Buffer.from([cookie.length]),
    cookie,
    Buffer.from([0x00, 0x04, 0xc0, 0x2b, 0xc0, 0x2f]), // ECDHE-ECDSA/RSA-AES128-GCM-SHA256
    Buffer.from([0x01, 0x00]), // no compression
    Buffer.alloc(2),
    extensions,
  ]);
  body.writeUInt16BE(extensions.length, body.length - extensions.length - 2);
  return handshake(1, body.length, messageSeq, 0, body);
}

/** A ClientHello whose handshake header is right but whose body ends early: parsing it throws. */
export function malformedClientHello(rng: Rng): Buffer {
  const body = clientHello(rng).subarray(12, 12 + rng.int(3, 40));
  return record(DTLS.HANDSHAKE, 0, rng.int(0, 100), handshake(1, body.length, 0, 0, body));
}

/** A ClientHello with bytes flipped, cut short, or lengths that lie; in a record of epoch 0. */
export function mutatedClientHello(rng: Rng): Buffer {
  const message = Buffer.from(clientHello(rng, { cookie: rng.next() < 0.5 ? rng.bytes(rng.int(0, 32)) : Buffer.alloc(0) }));
  switch (rng.int(0, 3)) {
    case 0: // flips
      for (let i = rng.int(1, 8); i > 0; i--) message[rng.int(0, message.length - 1)] = rng.int(0, 255);
      return record(DTLS.HANDSHAKE, 0, rng.int(0, 100), message);
    case 1: // cut short, header still announcing the whole message
      return record(DTLS.HANDSHAKE, 0, rng.int(0, 100), message.subarray(0, rng.int(1, message.length - 1)));
    case 2: // an inner length that lies (session id, cookie, suites, extensions)
      message[12 + 2 + 32 + rng.pick([0, 1])] = 0xff;
      return record(DTLS.HANDSHAKE, 0, rng.int(0, 100), message);
    default: // a record length that lies
      return record(DTLS.HANDSHAKE, 0, rng.int(0, 100), message).subarray(0, 13 + rng.int(0, message.length - 1));
  }
}

/** Records no session may die of: alerts (warning, fatal, close_notify) in epoch 0 and forged in epoch 1, unknown content types, broken records, stray handshakes and application data. */
export function hostileRecord(rng: Rng): Buffer {
  switch (rng.int(0, 9)) {
    case 0: return alert(1, rng.pick([0, 10, 20, 40, 42, 90, 100]));
    case 1: return alert(2, rng.pick([10, 20, 40, 42, 47, 80]));
    case 2: return record(rng.int(0, 255) === 0 ? 0 : rng.pick([0, 1, 19, 24, 25, 26, 63]), 0, 1, rng.bytes(2)); // unknown types
    case 3: return record(DTLS.ALERT, rng.int(1, 3), rng.int(0, 1000), rng.bytes(rng.int(2, 40))); // forged, epoch 1+
    case 4: return record(DTLS.APPLICATION_DATA, rng.int(0, 2), rng.int(0, 1000), rng.bytes(rng.int(0, 200)));
    case 5: return record(DTLS.HANDSHAKE, 1, rng.int(0, 1000), rng.bytes(rng.int(0, 100)));
    case 6: return rng.next() < 0.5 ? mutatedClientHello(rng) : malformedClientHello(rng);
    case 7: return record(DTLS.HANDSHAKE, 0, 1, clientHello(rng)); // a well-formed one, after the handshake
    case 8: return record(DTLS.CHANGE_CIPHER_SPEC, 0, 1, Buffer.from([1]));
    default: { // truncated header, or several records with one that lies
      const first = record(rng.int(20, 63), 0, 1, rng.bytes(rng.int(0, 40)));
      return rng.next() < 0.5 ? first.subarray(0, rng.int(1, 12)) : Buffer.concat([first, record(21, 0, 2, rng.bytes(2)).subarray(0, 14)]);
    }
  }
}

/** A fragment of a handshake message that never completes (a Certificate announced at `length` bytes). */
export function strayFragment(rng: Rng, length = 60_000): Buffer {
  const size = rng.int(200, 1_000);
  return record(DTLS.HANDSHAKE, 0, rng.int(0, 1000), handshake(11, length, rng.int(0, 0xffff), rng.int(1, length - size), rng.bytes(size)));
}

/** A fragment that ends a 16 MiB message (the largest a 24-bit length can announce): the allocation bomb. */
export function hugeFragment(rng: Rng): Buffer {
  const length = 0xffffff;
  return record(DTLS.HANDSHAKE, 0, rng.int(0, 1000), handshake(rng.pick([1, 11, 16]), length, rng.int(0, 5), length - 100, rng.bytes(100)));
}

// ---------------------------------------------------------------------------------------------- the rest

/** RTP, RTCP (SR/RR/SDES/BYE/feedback types) and TURN ChannelData lookalikes, none with a valid tag. */
export function mediaGarbage(rng: Rng): Buffer {
  const kind = rng.int(0, 2);
  if (kind === 0) { // RTP
    const header = Buffer.alloc(12);
    header.writeUInt8(0x80 | rng.int(0, 0x3f), 0);
    header.writeUInt8(rng.int(0, 127) | (rng.next() < 0.5 ? 0x80 : 0), 1);
    header.writeUInt16BE(rng.int(0, 0xffff), 2);
    header.writeUInt32BE(rng.int(0, 0xffffffff), 4);
    header.writeUInt32BE(rng.int(0, 0xffffffff), 8);
    return Buffer.concat([header, rng.bytes(rng.int(0, 1200))]);
  }
  if (kind === 1) { // RTCP, possibly compound and encrypted-looking
    const header = Buffer.alloc(8);
    header.writeUInt8(0x80 | rng.int(0, 31), 0);
    header.writeUInt8(rng.int(192, 208), 1);
    header.writeUInt16BE(rng.int(0, 0xffff), 2);
    header.writeUInt32BE(rng.int(0, 0xffffffff), 4);
    return Buffer.concat([header, rng.bytes(rng.int(0, 300))]);
  }
  const header = Buffer.alloc(4); // TURN ChannelData (RFC 8656 §12.4)
  header.writeUInt16BE(rng.int(0x4000, 0x4fff), 0);
  const payload = rng.bytes(rng.int(0, 600));
  header.writeUInt16BE(rng.next() < 0.5 ? payload.length : rng.int(0, 0xffff), 2);
  return Buffer.concat([header, payload]);
}

/** Random bytes, the first byte often in one of RFC 7983's demultiplexing ranges so a parser sees them. */
export function randomDatagram(rng: Rng): Buffer {
  const data = rng.bytes(rng.int(1, 1_400));
  const range = rng.pick([[0, 3], [20, 63], [64, 79], [128, 191], [0, 255]] as const);
  data[0] = rng.int(range[0], range[1]);
  return data;
}
