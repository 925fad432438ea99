import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:dgram';
import type { Logger } from '../logger.ts';

/** The optional addon built from lib/native/*.c (binding.gyp), or its prebuild for this platform. */
export interface NativeSrtp {
  /** A viewer's stream: its SRTP key (16 bytes) and salt (12), SSRC and payload type; freed with the handle. */
  context(key: Buffer, salt: Buffer, ssrc: number, payloadType: number): object;
  /** The socket address of an IP literal and a port, for `send`. */
  target(address: string, port: number): Buffer;
  /** The descriptor of this process's UDP socket bound to that address and port; -1 if none (or several). */
  findSocket(address: string, port: number): number;
  /**
   * Sends `packet` (a serialized RTP packet whose header is `headerLength` bytes) as the viewer's: its
   * payload type and SSRC, AES-128-GCM with the rollover counter given (RFC 7714), from socket `fd` to
   * `target`. Returns the bytes sent, or -errno (the packet is not sent).
   */
  send(context: object, fd: number, target: Buffer, packet: Buffer, headerLength: number, rolloverCounter: number): number;
  /**
   * Sends a packet whose header the caller wrote (the viewer's payload type, SSRC, sequence number,
   * timestamp, extensions) followed by `payload`, encrypted as `send` does (the header is the AAD).
   * Returns the bytes sent, or -errno.
   */
  sendWithHeader(context: object, fd: number, target: Buffer, header: Buffer, payload: Buffer, rolloverCounter: number): number;
}

const loaded = loadNativeSrtp();

/**
 * The addon, or undefined: turned off with `WEBGEAR_NATIVE=0`, not built (no prebuild for this platform
 * and no C compiler at install, or Windows), or not loadable. The server then encrypts and sends from
 * JavaScript, and `nativeSrtpProblem` says why.
 */
export const nativeSrtp: NativeSrtp | undefined = loaded.addon;

/** Why `nativeSrtp` is undefined, in a few words; undefined when it loaded. */
export const nativeSrtpProblem: string | undefined = loaded.problem;

function loadNativeSrtp(): { addon?: NativeSrtp; problem?: string } {
  if (process.env.WEBGEAR_NATIVE === '0') return { problem: 'turned off with WEBGEAR_NATIVE=0' };
  if (process.platform === 'win32') return { problem: 'not available on Windows' };
  const nodeGypBuild = createRequire(import.meta.url)('node-gyp-build') as (dir: string) => NativeSrtp;
  try {
    return { addon: nodeGypBuild(packageRoot()) }; // build/Release, else prebuilds/<platform>-<arch>
  } catch (error) {
    const message = (error as Error).message;
    if (message.startsWith('No native build was found')) {
      return { problem: `not built: no prebuild for ${process.platform}-${process.arch} and no build at install (node-gyp needs python3, make and a C/C++ compiler)` };
    }
    return { problem: `the addon does not load: ${message}` };
  }
}

/** The package's root (where binding.gyp, build/ and prebuilds/ are), from lib/native/ or dist/lib/native/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const descriptors = new WeakMap<Socket, number>();

/**
 * The descriptor of a bound dgram socket, for the addon to send from, or undefined (not bound, closed,
 * or not found). Found from what the socket's public `address()` says (lib/native/udp.c), once per socket.
 */
export function udpSocketFd(socket: Socket): number | undefined {
  const known = descriptors.get(socket);
  if (known !== undefined) return known >= 0 ? known : undefined;
  if (!nativeSrtp) return undefined;
  let fd = -1;
  try {
    const { address, port } = socket.address(); // throws if the socket is not bound, or closed
    fd = nativeSrtp.findSocket(address, port);
  } catch {
    return undefined;
  }
  descriptors.set(socket, fd);
  // A closed socket's descriptor number is soon another's.
  socket.once('close', () => descriptors.delete(socket));
  return fd >= 0 ? fd : undefined;
}

/** An address the addon can send to: an IP literal (a candidate may name a host that werift resolves). */
export const isSendableAddress = (address: unknown): address is string => typeof address === 'string' && isIP(address) !== 0;

const warned = new WeakSet<Logger>();

/**
 * Says once per logger (a server instance) that a viewer is sent from JavaScript for `problem`: at about
 * twice the CPU per packet, that must not go unnoticed.
 */
export function warnNativeSrtpUnused(logger: Logger, problem: string): void {
  if (warned.has(logger)) return;
  warned.add(logger);
  logger.warn(`the native SRTP sender is not used (${problem}): sending from JavaScript, at about twice the CPU per viewer`);
}
