/**
 * SRTP with AEAD_AES_128_GCM (RFC 7714) for one viewer, in JavaScript: the fallback of the native addon.
 * The packet's header becomes the viewer's (its payload type and SSRC) and is the additional authenticated
 * data; the IV is the salt XOR (00 00 | SSRC | ROC | SEQ).
 */
import { createCipheriv, type KeyObject } from 'node:crypto';

const GCM_TAG_LENGTH = 16;

export interface SrtpStream {
  key: KeyObject;
  /** The 12-byte session salt. */
  salt: Buffer;
  ssrc: number;
  payloadType: number;
}

export class SrtpGcmEncryptor {
  readonly #stream: SrtpStream;
  readonly #iv = Buffer.alloc(12);

  constructor(stream: SrtpStream) {
    this.#stream = stream;
    // The IV's SSRC part never changes.
    this.#iv.writeUInt32BE(stream.ssrc >>> 0, 2);
    for (let i = 0; i < 6; i++) this.#iv[i]! ^= stream.salt[i]!;
  }

  /** The SRTP packet for `packet` (a serialized RTP packet whose header is `headerLength` bytes), as this stream's. */
  encrypt(packet: Buffer, headerLength: number, rolloverCounter: number): Buffer {
    const { ssrc, payloadType } = this.#stream;
    const header = Buffer.allocUnsafe(headerLength);
    packet.copy(header, 0, 0, headerLength);
    header[1] = (packet[1]! & 0x80) | payloadType;
    header.writeUInt32BE(ssrc >>> 0, 8);
    return this.seal(header, packet.subarray(headerLength), rolloverCounter);
  }

  /** The SRTP packet of a finished header (this stream's SSRC in it) and a payload. */
  seal(header: Buffer, payload: Buffer, rolloverCounter: number): Buffer {
    const { key, salt } = this.#stream;
    const iv = this.#iv;
    iv.writeUInt32BE(rolloverCounter, 6);
    iv.writeUInt16BE(header.readUInt16BE(2), 10);
    for (let i = 6; i < 12; i++) iv[i]! ^= salt[i]!;
    const cipher = createCipheriv('aes-128-gcm', key, iv);
    cipher.setAAD(header);
    const encrypted = cipher.update(payload);
    cipher.final();
    return Buffer.concat([header, encrypted, cipher.getAuthTag()], header.length + encrypted.length + GCM_TAG_LENGTH);
  }
}
