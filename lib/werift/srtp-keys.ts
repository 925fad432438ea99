import { createSecretKey, type KeyObject } from 'node:crypto';
import type { RTCPeerConnection } from 'werift';

/** The parts of werift's SRTP state this file touches (werift 0.25: `RTCDtlsTransport.srtp/srtcp`). */
interface SrtpCipher {
  srtpSessionKey?: Buffer | KeyObject;
  srtcpSessionKey?: Buffer | KeyObject;
}
interface SrtpSessionLike {
  localContext?: { cipher?: SrtpCipher };
  remoteContext?: { cipher?: SrtpCipher };
}

/**
 * A local fast path for werift's SRTP (see docs/benchmarks.md). werift creates a cipher per packet with
 * `createCipheriv(alg, keyBuffer, iv)`. On Node 24, a Buffer key makes Node try (and fail, with a thrown
 * and caught TypeError) to read it as a KeyObject and as a CryptoKey first: 15–16 µs per packet, against
 * 5 µs when the key already is a KeyObject (Node 20: 5 µs either way). So each connection's session keys
 * are turned into KeyObjects once, when it connects. Both work wherever werift uses them
 * (createCipheriv/createDecipheriv for AES-GCM and AES-CTR). Returns how many keys it converted: 0 when
 * werift's layout changed, which only loses the speed-up.
 */
export function useKeyObjectsForSrtp(pc: RTCPeerConnection): number {
  let converted = 0;
  for (const transport of pc.dtlsTransports) {
    const sessions = transport as unknown as { srtp?: SrtpSessionLike; srtcp?: SrtpSessionLike };
    for (const session of [sessions.srtp, sessions.srtcp]) {
      for (const context of [session?.localContext, session?.remoteContext]) {
        const cipher = context?.cipher;
        if (!cipher) continue;
        for (const name of ['srtpSessionKey', 'srtcpSessionKey'] as const) {
          const key = cipher[name];
          if (Buffer.isBuffer(key) && key.length > 0) {
            cipher[name] = createSecretKey(key);
            converted++;
          }
        }
      }
    }
  }
  return converted;
}

/** A session key's bytes, whether werift holds it as a Buffer or (after `useKeyObjectsForSrtp`) as a KeyObject: for the addon. */
export function keyBytes(key: Buffer | KeyObject): Buffer {
  return Buffer.isBuffer(key) ? key : key.export();
}
