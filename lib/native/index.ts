import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import type { Socket } from 'node:dgram';

/** The optional addon built from srtp-send.c at install (build.mjs). */
export interface NativeSrtp {
  /** A viewer's stream: its SRTP key (16 bytes) and salt (12), SSRC and payload type; freed with the handle. */
  context(key: Buffer, salt: Buffer, ssrc: number, payloadType: number): object;
  /** The socket address of an IP literal and a port, for `send`. */
  target(address: string, port: number): Buffer;
  /**
   * Sends `packet` (a serialized RTP packet whose header is `headerLength` bytes) as the viewer's: its
   * payload type and SSRC, AES-128-GCM with the rollover counter given (RFC 7714), from socket `fd` to
   * `target`. Returns the bytes sent, or -errno (the packet is dropped).
   */
  send(context: object, fd: number, target: Buffer, packet: Buffer, headerLength: number, rolloverCounter: number): number;
  /**
   * Sends a packet whose header the caller wrote (the viewer's payload type, SSRC, sequence number,
   * timestamp, extensions) and `payload`, encrypted as `send` does. Returns the bytes sent, or -errno.
   * Missing from addons built before it: the caller then sends from JavaScript.
   */
  sendWithHeader?(context: object, fd: number, target: Buffer, header: Buffer, payload: Buffer, rolloverCounter: number): number;
}

/**
 * The addon, or undefined: not built (no C compiler at install, Windows), failed to load, or turned off
 * with `WEBGEAR_NATIVE=0`. The server then encrypts and sends from JavaScript.
 */
export const nativeSrtp: NativeSrtp | undefined = loadNativeSrtp();

function loadNativeSrtp(): NativeSrtp | undefined {
  if (process.env.WEBGEAR_NATIVE === '0') return undefined;
  const require = createRequire(import.meta.url);
  // From lib/native/ (sources) or dist/lib/native/ (the package): the build lands in the package's build/.
  for (const path of ['../../build/srtp-send.node', '../../../build/srtp-send.node']) {
    try {
      return require(path) as NativeSrtp;
    } catch {
      // not there, or not loadable here: try the next place, then do without
    }
  }
  return undefined;
}

/**
 * The file descriptor of a bound dgram socket, or undefined. Node keeps the handle behind a symbol (its
 * public `_handle` getter is deprecated and warns); on Unix the handle exposes `fd`.
 */
export function socketFd(socket: Socket): number | undefined {
  for (const symbol of Object.getOwnPropertySymbols(socket)) {
    const fd = (socket as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[symbol]?.handle?.fd;
    if (typeof fd === 'number' && fd >= 0) return fd;
  }
  return undefined;
}

/** An address the addon can send to: an IP literal (a candidate may name a host that werift resolves). */
export const isSendableAddress = (address: unknown): address is string => typeof address === 'string' && isIP(address) !== 0;
