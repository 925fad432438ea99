import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:dgram';
import type { Logger } from '../logger.ts';
import { SendBatch } from './send-batch.ts';

/** The optional addon built from lib/native/*.c (binding.gyp), or its prebuild for this platform. */
export interface NativeSrtp {
  /** A viewer's stream: its SRTP key (16 bytes) and salt (12), SSRC and payload type; freed with the handle. */
  context(key: Buffer, salt: Buffer, ssrc: number, payloadType: number): object;
  /**
   * The context's viewer gets its RTCP sender reports from the addon from now on (lib/native/sender-report.h):
   * the SRTCP session key (16 bytes) and salt (12), the SRTCP index last used for its SSRC, its CNAME ('' for
   * none). A lane then sends them itself, after one of its packets, when its LANE_REPORT_AT_MS is due.
   */
  contextReports(context: object, key: Buffer, salt: Buffer, lastIndex: number, cname: string): void;
  /**
   * The context's next sender report (SR and SDES CNAME, SRTCP AES-128-GCM) written into `out` (≥ 320 bytes):
   * its length, 0 when `contextReports` was not called.
   */
  senderReport(context: object, out: Buffer, ntpSeconds: number, ntpFraction: number, rtpTimestamp: number, packets: number, octets: number): number;
  /** An opener of one viewer's SRTCP (AES-128-GCM, lib/native/srtcp-open.h): its session key (16 bytes) and salt (12). */
  rtcpOpener(key: Buffer, salt: Buffer): object;
  /** The compound RTCP packet in SRTCP `packet`, written into `out` (≥ its length): its length, -1 when it does not authenticate. */
  openRtcp(opener: object, packet: Buffer, out: Buffer): number;
  /** The socket address of an IP literal and a port, for `send`. */
  target(address: string, port: number): Buffer;
  /**
   * The descriptor of this process's UDP socket bound to that address and port; -1 if none (or several).
   * `hint`, a descriptor that may be it, is checked first and returned when it is bound there.
   */
  findSocket(address: string, port: number, hint?: number): number;
  /**
   * Sends `packet` (a serialized RTP packet whose header is `headerLength` bytes) as the viewer's: its
   * payload type and SSRC, AES-128-GCM with the rollover counter given (RFC 7714), from socket `fd` to
   * `target`. Returns the bytes sent, or -errno (the packet is not sent).
   */
  send(context: object, fd: number, target: Buffer, packet: Buffer, headerLength: number, rolloverCounter: number): number;
  /**
   * Sends a packet whose header the caller wrote (the viewer's payload type, SSRC, sequence number,
   * timestamp, extensions) followed by `payload`, encrypted as `send` does (the header is the AAD), with
   * `patch` (a `PayloadPatch`, 0: none) written into a copy of the payload. Returns the bytes sent, or -errno.
   */
  sendWithHeader(context: object, fd: number, target: Buffer, header: Buffer, payload: Buffer, rolloverCounter: number, patch?: number): number;
  /**
   * The addon's own descriptor of socket `fd` (a duplicate), for `queue`: it stays open until released and
   * the packets queued on it are sent, whatever becomes of `fd` (werift closing it, its number reused).
   */
  socket(fd: number): object;
  /** Gives a context or socket back now; it is freed once its queued packets are sent. */
  release(handle: object): void;
  /**
   * Hands a packet to the send thread (lib/native/send-thread.c), which seals it as `sendWithHeader` does and
   * sends it, batched with others: the first `headerLength` bytes of `header`, then `packet` from
   * `payloadOffset` on (whole buffers: a view would be an allocation per packet), `patch` (a `PayloadPatch`,
   * 0: none) written into the viewer's copy. Returns the bytes the datagram will have, or -errno (it is not sent).
   */
  queue(context: object, socket: object, target: Buffer, header: Buffer, headerLength: number, packet: Buffer, payloadOffset: number, rolloverCounter: number, patch?: number): number;
  /** The number that names a context or socket in a batch (`sendBatch`); never reused while the handle lives. */
  handleId(handle: object): number;
  /**
   * Queues `count` records of `records` (lib/native/send-batch.ts writes them), each a viewer's packet made
   * of `packet`, as `queue` would one by one; each record's result is written back into it. Returns how
   * many were not queued (a context or socket released, a bad record).
   */
  sendBatch(records: Buffer, count: number, packet: Buffer): number;
  /**
   * Waits (at most `timeoutMs`, 1000 by default) until none of the context's queued packets is left: before
   * anything else sends for that viewer. Returns whether none is.
   */
  settle(context: object, timeoutMs?: number): boolean;
  /** The send thread's counters (the process's CPU split: `cpuMs` is the thread's). */
  sendThreadStats(): SendThreadStats;
  /**
   * Gives the send queue's slots back to the system (now, or once the queue is empty), and the C heap's free
   * memory (glibc's malloc_trim) on a libuv worker thread, then calls `callback` with whether the heap
   * could be trimmed (false: not glibc).
   */
  trimMemory(callback: (trimmed: boolean) => void): void;
  /**
   * Asks V8 for a collection that gives memory back (its memory-pressure notification, moderate:
   * incremental, then the heap's pool of free pages unmapped). Returns whether it could ask (false: not
   * Node's V8).
   */
  reduceHeap(): boolean;
  /**
   * A viewer's lane (lib/native/lane.h): its video sent from C while it is steady. `state` is a Buffer of
   * the lane's fields as doubles (lib/sender/native-lane.ts), 8-byte aligned, read and written by both sides.
   */
  lane(state: Buffer): object;
  /** Where the lane's packets go: a socket address from `target`. */
  laneRoute(lane: object, target: Buffer): void;
  /** Whether the lane's history holds packet `seq`; then its timestamp, patch and send time are in the state. */
  laneHistory(lane: object, seq: number): boolean;
  /** Packet `seq` of the lane's history again, under the first `headerLength` bytes of `header`; bytes, or -errno. */
  laneResend(lane: object, seq: number, header: Buffer, headerLength: number, rolloverCounter: number): number;
  /** A group of lanes for one rendition (lib/native/fanout.h); `vp8`: PictureIDs numbered per viewer. */
  fanoutGroup(vp8: boolean): object;
  /** The lane gets the group's packets (out of any other group first). */
  fanoutAdd(group: object, lane: object): void;
  /** The lane out of its group, if in one. */
  fanoutRemove(lane: object): void;
  /**
   * One RTP packet to every lane of the group: numbered as each viewer's and queued to the send thread.
   * Returns how many lanes refused it (waiting to be taken back), or -errno when it is not an RTP packet.
   */
  fanoutWrite(group: object, packet: Buffer, nowMs: number, wallMs: number): number;
}

export interface SendThreadStats {
  /** Packets queued; sent on the JavaScript thread instead (a full queue, too large a packet); waits for room. */
  queued: number;
  sentAtOnce: number;
  fullWaits: number;
  /** Datagrams the thread sent, and dropped (a socket's buffer full for too long, or an error: `lastError`). */
  sent: number;
  dropped: number;
  lastError: number;
  /** Batches taken, send system calls (sendmmsg), GSO sends and the datagrams in them. */
  batches: number;
  sendCalls: number;
  gsoSends: number;
  gsoDatagrams: number;
  /** The thread's CPU time, ms. */
  cpuMs: number;
  /** 1 when the kernel segments UDP (UDP_SEGMENT); 1 while the thread runs. */
  gso: number;
  running: number;
  /** Contexts and sockets not freed yet. */
  contexts: number;
  sockets: number;
  /** The ring's slots: how many packets can wait at once. */
  capacity: number;
  /**
   * How many of its slots were used, from the first, since they were last given back (`trims`): an empty
   * ring starts again there, so this is the most that waited at once, and the ring's resident part (`ringBytes`).
   */
  slotsUsed: number;
  /** Times the slots used were given back to the system (`trimMemory`, once the ring was empty). */
  trims: number;
  /** The ring's bytes in memory now (its slots used since the last trim, 208 bytes each). */
  ringBytes: number;
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

/**
 * Whether viewers' packets go through the addon's send thread (sealed and sent off the JavaScript thread,
 * batched); `WEBGEAR_SEND_THREAD=0` keeps the addon's synchronous send on the JavaScript thread.
 */
export const nativeSendThread: boolean = nativeSrtp !== undefined && process.env.WEBGEAR_SEND_THREAD !== '0';

/**
 * The batch every viewer's packets for the send thread go through (one call into C per source packet);
 * undefined without the send thread, or with `WEBGEAR_SEND_BATCH=0` (one call per packet, as before).
 */
export const nativeSendBatch: SendBatch | undefined = nativeSendThread && process.env.WEBGEAR_SEND_BATCH !== '0' ? new SendBatch(nativeSrtp!) : undefined;

/**
 * Whether steady viewers' video is numbered and queued in C (lib/native/lane.h, lib/fanout/native-fanout.ts):
 * with the batch, unless `WEBGEAR_NATIVE_LANES=0` (every packet through the JavaScript sender, as before).
 */
export const nativeLanes: boolean = nativeSendBatch !== undefined && process.env.WEBGEAR_NATIVE_LANES !== '0';

function loadNativeSrtp(): { addon?: NativeSrtp; problem?: string } {
  if (process.env.WEBGEAR_NATIVE === '0') return { problem: 'turned off with WEBGEAR_NATIVE=0' };
  if (process.platform === 'win32') return { problem: 'not available on Windows' };
  const nodeGypBuild = createRequire(import.meta.url)('node-gyp-build') as (dir: string) => NativeSrtp;
  try {
    const addon = nodeGypBuild(packageRoot()); // build/Release, else prebuilds/<platform>-<arch>
    const problem = staleAddonProblem(addon);
    return problem ? { problem } : { addon };
  } catch (error) {
    const message = (error as Error).message;
    if (message.startsWith('No native build was found')) {
      return { problem: `not built: no prebuild for ${process.platform}-${process.arch} and no build at install (node-gyp needs python3, make and a C/C++ compiler)` };
    }
    return { problem: `the addon does not load: ${message}` };
  }
}

/**
 * Why a loaded addon cannot serve this code, or undefined: a build left from an older checkout (node-gyp-build
 * builds only when it finds none) lacks what was added since, and would fail later, in the middle of a send.
 */
export function staleAddonProblem(addon: object): string | undefined {
  // Every function of NativeSrtp (the type makes this list whole; here, not a module constant: the addon is
  // loaded while this module is still being evaluated).
  const functions: Record<keyof NativeSrtp, true> = {
    context: true, contextReports: true, senderReport: true, rtcpOpener: true, openRtcp: true, target: true, findSocket: true, send: true, sendWithHeader: true, socket: true, release: true,
    queue: true, handleId: true, sendBatch: true, settle: true, sendThreadStats: true, trimMemory: true, reduceHeap: true,
    lane: true, laneRoute: true, laneHistory: true, laneResend: true, fanoutGroup: true, fanoutAdd: true, fanoutRemove: true,
    fanoutWrite: true,
  };
  const missing = Object.keys(functions).filter((name) => typeof (addon as Record<string, unknown>)[name] !== 'function');
  return missing.length === 0 ? undefined : `the addon is older than this code (it has no ${missing.join(', ')}): rebuild it with npm run build:native`;
}

/** The package's root (where binding.gyp, build/ and prebuilds/ are), from lib/native/ or dist/lib/native/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** A socket's descriptor (-1: not found) and, once asked for, the addon's own duplicate of it. */
interface Descriptor {
  fd: number;
  handle?: object;
}

const descriptors = new WeakMap<Socket, Descriptor>();

/** How sockets were found: from Node's handle (checked), or by searching the open descriptors. */
export const socketLookups = { hinted: 0, searched: 0 };

/**
 * The descriptor Node's handle for `socket` holds, or -1. Node keeps the handle under a private symbol
 * (`socket._handle`, the old way, warns: DEP0112); it is only a hint, checked by the addon, so a Node that
 * moves it costs a search, not a wrong socket.
 */
function handleFdOf(socket: Socket): number {
  const state = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'state symbol');
  const fd = (state && (socket as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[state]?.handle?.fd);
  return typeof fd === 'number' && Number.isInteger(fd) ? fd : -1;
}

function descriptorOf(socket: Socket): Descriptor | undefined {
  const known = descriptors.get(socket);
  if (known !== undefined) return known.fd >= 0 ? known : undefined;
  if (!nativeSrtp) return undefined;
  let fd = -1;
  try {
    const { address, port } = socket.address(); // throws if the socket is not bound, or closed
    const hint = handleFdOf(socket);
    fd = nativeSrtp.findSocket(address, port, hint);
    if (hint >= 0 && fd === hint) socketLookups.hinted++;
    else socketLookups.searched++;
  } catch {
    return undefined;
  }
  const descriptor: Descriptor = { fd };
  descriptors.set(socket, descriptor);
  // A closed socket's descriptor number is soon another's; the duplicate closes once its queued packets are sent.
  socket.once('close', () => {
    descriptors.delete(socket);
    if (descriptor.handle) nativeSrtp?.release(descriptor.handle);
  });
  return fd >= 0 ? descriptor : undefined;
}

/**
 * The descriptor of a bound dgram socket, for the addon to send from, or undefined (not bound, closed,
 * or not found). Found from what the socket's public `address()` says (lib/native/udp.c), once per socket:
 * the descriptor Node's handle holds when it is bound there, else by a search of the open descriptors.
 */
export function udpSocketFd(socket: Socket): number | undefined {
  return descriptorOf(socket)?.fd;
}

/**
 * The addon's own duplicate of a bound dgram socket's descriptor, for the send thread (`queue`), or
 * undefined as for `udpSocketFd`. One per socket, released when the socket closes: packets still queued
 * then go out on it, and none goes to whatever reuses the number.
 */
export function udpSocketHandle(socket: Socket): object | undefined {
  const descriptor = descriptorOf(socket);
  if (!descriptor || !nativeSrtp) return undefined;
  try {
    descriptor.handle ??= nativeSrtp.socket(descriptor.fd);
  } catch {
    return undefined;
  }
  return descriptor.handle;
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
