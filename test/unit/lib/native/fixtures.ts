/** Shared by the addon's unit tests: the JavaScript reference of its SRTP, werift's SRTCP, and loopback UDP sockets. */
import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { SrtcpSession } from 'werift';
import { nativeSrtp, nativeSrtpProblem } from '../../../../lib/native/index.ts';
import { keyBytes } from '../../../../lib/werift/srtp-keys.ts';

/**
 * Where the addon is missing the native tests skip, saying why, except in CI (`WEBGEAR_NATIVE_REQUIRED=1`),
 * where they fail: there the addon must have been built.
 */
export const skipWithoutAddon = process.env.WEBGEAR_NATIVE_REQUIRED === '1' ? false : (nativeSrtpProblem ?? false);

/** The addon, for tests that run only where it loaded. */
export const addon = () => {
  if (!nativeSrtp) throw new Error(`the native SRTP sender did not load: ${nativeSrtpProblem}`);
  return nativeSrtp;
};

export interface Stream {
  key: Buffer;
  salt: Buffer;
  ssrc: number;
  payloadType: number;
}

/** RFC 7714 §8.1's IV: the salt XOR (00 00 | SSRC | ROC | SEQ). */
function ivOf(stream: Stream, seq: number, rolloverCounter: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(stream.ssrc >>> 0, 2);
  iv.writeUInt32BE(rolloverCounter >>> 0, 6);
  iv.writeUInt16BE(seq, 10);
  for (let i = 0; i < 12; i++) iv[i]! ^= stream.salt[i]!;
  return iv;
}

/**
 * The SRTP packet of `rtp` as the viewer's, with Node's crypto: its payload type (the marker kept) and SSRC
 * in the header, which is the AAD; the payload AES-128-GCM encrypted; the 16-byte tag after it.
 */
export function protectInJs(stream: Stream, rtp: Buffer, headerLength: number, rolloverCounter: number): Buffer {
  const header = Buffer.from(rtp.subarray(0, headerLength));
  header[1] = (rtp[1]! & 0x80) | stream.payloadType;
  header.writeUInt32BE(stream.ssrc >>> 0, 8);
  const cipher = createCipheriv('aes-128-gcm', stream.key, ivOf(stream, rtp.readUInt16BE(2), rolloverCounter));
  cipher.setAAD(header);
  const payload = Buffer.concat([cipher.update(rtp.subarray(headerLength)), cipher.final()]);
  return Buffer.concat([header, payload, cipher.getAuthTag()]);
}

/** The RTP packet in an SRTP one, as a viewer decrypts it (throws when it does not authenticate). */
export function unprotectInJs(stream: Stream, srtp: Buffer, headerLength: number, rolloverCounter: number): Buffer {
  const decipher = createDecipheriv('aes-128-gcm', stream.key, ivOf(stream, srtp.readUInt16BE(2), rolloverCounter));
  decipher.setAAD(srtp.subarray(0, headerLength));
  decipher.setAuthTag(srtp.subarray(srtp.length - 16));
  const payload = Buffer.concat([decipher.update(srtp.subarray(headerLength, srtp.length - 16)), decipher.final()]);
  return Buffer.concat([srtp.subarray(0, headerLength), payload]);
}

/** A dgram socket bound on loopback (an ephemeral port unless given). */
export async function boundSocket(type: 'udp4' | 'udp6' = 'udp4', address = type === 'udp4' ? '127.0.0.1' : '::1'): Promise<Socket> {
  const socket = createSocket(type);
  socket.bind(0, address);
  await once(socket, 'listening');
  return socket;
}

/** The next datagram `socket` receives, within `timeoutMs`. */
export async function nextDatagram(socket: Socket, timeoutMs = 2_000): Promise<{ data: Buffer; from: RemoteInfo }> {
  const [data, from] = (await once(socket, 'message', { signal: AbortSignal.timeout(timeoutMs) })) as [Buffer, RemoteInfo];
  return { data, from };
}

/** Closes sockets, whether or not they are still open. */
export async function closeAll(...sockets: Socket[]): Promise<void> {
  await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  })));
}

/**
 * werift's SRTCP sessions of the two ends of one connection (AES-128-GCM, keyed from random master keys as
 * DTLS would give them): `sealer` seals what `opener` opens, with the session key and salt werift derived
 * for that direction (`key`, `salt`: what the addon is given for it).
 */
export function srtcpPair(): { sealer: SrtcpSession; opener: SrtcpSession; key: Buffer; salt: Buffer } {
  const a = { key: randomBytes(16), salt: randomBytes(12) };
  const b = { key: randomBytes(16), salt: randomBytes(12) };
  const profile = 0x0007; // SRTP_AEAD_AES_128_GCM
  const sealer = new SrtcpSession({ keys: { localMasterKey: a.key, localMasterSalt: a.salt, remoteMasterKey: b.key, remoteMasterSalt: b.salt }, profile });
  const opener = new SrtcpSession({ keys: { localMasterKey: b.key, localMasterSalt: b.salt, remoteMasterKey: a.key, remoteMasterSalt: a.salt }, profile });
  const cipher = (sealer.localContext as unknown as { cipher: { srtcpSessionKey: Buffer | KeyObject; srtcpSessionSalt: Buffer } }).cipher;
  return { sealer, opener, key: keyBytes(cipher.srtcpSessionKey), salt: cipher.srtcpSessionSalt };
}
