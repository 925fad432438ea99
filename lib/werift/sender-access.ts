/**
 * The direct send path's way into a werift RTCRtpSender's non-public state, and nothing else's: the SRTP
 * session keys, the selected ICE pair, and the counters werift's sender reports and stats read. Every field
 * used is named in SENDER_FIELDS; `senderAccess()` checks them all and says which one is missing, so that a
 * werift release that moves one sends through werift's own (slower) path instead of breaking. The SRTCP
 * state the addon's sender reports need is checked on its own (`senderReportKeys()`): without it werift's
 * loop sends them, as before.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import type { RTCRtpSender } from 'werift';
import { keyBytes } from './srtp-keys.ts';

/** werift 0.25's sender, as far as this file reads and writes it. */
interface SenderInternals {
  ssrc: number;
  codec?: { payloadType: number };
  stopped: boolean;
  rtcpRunning: boolean;
  runRtcp(): Promise<void>;
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  headerBytesSent: number;
  retransmittedPacketsSent: number;
  retransmittedBytesSent: number;
  rtxPayloadType?: number;
  redRedundantPayloadType?: number;
  onGenericNack: { subscribe(handler: (nack: { lost: number[] }) => void): unknown };
  cname?: string;
  /** What werift's round trip from receiver reports compares their LSR with: the last report's NTP middle 32 bits, and when it left (seconds since 1970). */
  lastSRtimestamp?: number;
  lastSentSRTimestamp?: number;
  dtlsTransport: {
    state: string;
    bytesSent: number;
    packetsSent: number;
    srtp?: { localContext?: { profile?: number; cipher?: { srtpSessionKey?: Buffer | KeyObject; srtpSessionSalt?: Buffer } } };
    srtcp?: {
      localContext?: {
        cipher?: { srtcpSessionKey?: Buffer | KeyObject; srtcpSessionSalt?: Buffer };
        getSrtcpSsrcState?(ssrc: number): { srtcpIndex: number };
      };
    };
    iceTransport: { connection: IceConnection };
  };
}

interface IceConnection {
  send(data: Buffer): Promise<void>;
  canSendApplicationData?(): boolean;
  nominated?: CandidatePair;
}

interface CandidatePair {
  remoteAddr: [string, number];
  /** The last connectivity check's round trip, seconds (werift sets it on a check's response). */
  rtt?: number;
  packetsSent: number;
  bytesSent: number;
  protocol?: { transport?: { closed?: boolean; socket?: { type?: string; address(): { address: string; port: number; family: string } } } };
}

/** Where a viewer's packets go now: the nominated pair's remote address and the local UDP socket it uses. */
export interface IceRoute {
  /** The object werift keeps for the pair: a new one means the route changed. */
  readonly pair: object;
  remoteAddress: string;
  remotePort: number;
  /** The local socket's bound address (family `udp4`/`udp6`), to find its descriptor. */
  local: { type: 'udp4' | 'udp6'; address: string; port: number } | undefined;
  /** The local dgram socket itself (werift's own). */
  socket: object | undefined;
  /** The round trip of ICE's last check on the pair, ms, when werift measured one. */
  rttMs: number | undefined;
}

/** SRTP's AEAD_AES_128_GCM profile (RFC 7714), what Chromium and werift agree on. */
export const PROFILE_AEAD_AES_128_GCM = 0x0007;

/** Every non-public field the direct path relies on, checked before it takes over a sender. */
export const SENDER_FIELDS: ReadonlyArray<[path: string, check: (sender: SenderInternals) => boolean]> = [
  ['ssrc', (s) => typeof s.ssrc === 'number'],
  ['codec.payloadType', (s) => typeof s.codec?.payloadType === 'number'],
  ['stopped', (s) => typeof s.stopped === 'boolean'],
  ['rtcpRunning', (s) => typeof s.rtcpRunning === 'boolean'],
  ['runRtcp()', (s) => typeof s.runRtcp === 'function'],
  ['ntpTimestamp', (s) => typeof s.ntpTimestamp === 'bigint'],
  ['rtpTimestamp', (s) => typeof s.rtpTimestamp === 'number'],
  ['packetCount', (s) => typeof s.packetCount === 'number'],
  ['octetCount', (s) => typeof s.octetCount === 'number'],
  ['headerBytesSent', (s) => typeof s.headerBytesSent === 'number'],
  ['retransmittedPacketsSent', (s) => typeof s.retransmittedPacketsSent === 'number'],
  ['retransmittedBytesSent', (s) => typeof s.retransmittedBytesSent === 'number'],
  ['onGenericNack.subscribe()', (s) => typeof s.onGenericNack?.subscribe === 'function'],
  ['dtlsTransport.state', (s) => typeof s.dtlsTransport?.state === 'string'],
  ['dtlsTransport.bytesSent', (s) => typeof s.dtlsTransport?.bytesSent === 'number'],
  ['dtlsTransport.packetsSent', (s) => typeof s.dtlsTransport?.packetsSent === 'number'],
  ['dtlsTransport.srtp.localContext.profile', (s) => typeof s.dtlsTransport?.srtp?.localContext?.profile === 'number'],
  ['dtlsTransport.srtp.localContext.cipher.srtpSessionKey', (s) => !!s.dtlsTransport?.srtp?.localContext?.cipher?.srtpSessionKey],
  ['dtlsTransport.srtp.localContext.cipher.srtpSessionSalt', (s) => Buffer.isBuffer(s.dtlsTransport?.srtp?.localContext?.cipher?.srtpSessionSalt)],
  ['dtlsTransport.iceTransport.connection.send()', (s) => typeof s.dtlsTransport?.iceTransport?.connection?.send === 'function'],
  ['dtlsTransport.iceTransport.connection.canSendApplicationData()', (s) => typeof s.dtlsTransport?.iceTransport?.connection?.canSendApplicationData === 'function'],
];

/** The fields of a connected sender the direct path would need and does not find (empty: all there). */
export function missingSenderFields(sender: RTCRtpSender): string[] {
  const internals = sender as unknown as SenderInternals;
  return SENDER_FIELDS.filter(([, check]) => !check(internals)).map(([path]) => path);
}

/** How a problem with werift's layout starts (the rest names the fields). */
export const LAYOUT_CHANGED = "werift's layout changed";

/** Why werift's own send path is needed for this connected sender, or undefined when the direct one can take it. */
export function directSendProblem(sender: RTCRtpSender): string | undefined {
  const missing = missingSenderFields(sender);
  if (missing.length > 0) return `${LAYOUT_CHANGED}: ${missing.join(', ')} not found`;
  const internals = sender as unknown as SenderInternals;
  const context = internals.dtlsTransport.srtp!.localContext!;
  if (context.profile !== PROFILE_AEAD_AES_128_GCM) return `SRTP profile ${context.profile} negotiated (the direct path does AES-GCM)`;
  if ((context.cipher!.srtpSessionSalt!.length ?? 0) < 12) return 'an SRTP salt shorter than 12 bytes';
  if (internals.rtxPayloadType !== undefined) return 'RTX negotiated';
  if (internals.redRedundantPayloadType !== undefined) return 'RED negotiated';
  return undefined;
}

/** What the addon needs to send a viewer's RTCP sender reports (lib/native/sender-report.h). */
export interface SenderReportKeys {
  /** The SRTCP session key (16 bytes) and salt (12). */
  key: Buffer;
  salt: Buffer;
  /** The SRTCP index werift last used for the sender's SSRC: the addon's first report takes the next. */
  lastIndex: number;
  /** The CNAME werift's reports carry ('' for none). */
  cname: string;
}

/** The access of each sender the direct path took over: its counts are added before werift's are read. */
const accesses = new WeakMap<object, SenderAccess>();

/** Adds what the direct path counted to werift's counters of `sender`, before they are read (stats). */
export function flushSenderCounts(sender: RTCRtpSender): void {
  accesses.get(sender)?.flushCounts();
}

/** A connected sender's state, read and kept right by the direct path. Create with `senderAccess()`. */
export class SenderAccess {
  readonly #sender: SenderInternals;
  readonly key: KeyObject;
  readonly salt: Buffer;
  readonly ssrc: number;
  readonly payloadType: number;
  #pull: (() => void) | undefined;
  #pulling = false;
  /** The last route iceRoute() worked out, for its pair. */
  #route: IceRoute | undefined;
  // Counted, not yet added to werift's counters (flushCounts()).
  #rtpTimestamp = 0;
  #rtpPackets = 0;
  #payloadBytes = 0;
  #headerBytes = 0;
  #rtcpStarted = false;
  #datagrams = 0;
  #datagramBytes = 0;
  #countedPair: CandidatePair | undefined;

  private constructor(sender: SenderInternals) {
    this.#sender = sender;
    const cipher = sender.dtlsTransport.srtp!.localContext!.cipher!;
    const key = cipher.srtpSessionKey!;
    this.key = Buffer.isBuffer(key) ? createSecretKey(key) : key;
    this.salt = cipher.srtpSessionSalt!;
    this.ssrc = sender.ssrc >>> 0;
    this.payloadType = sender.codec!.payloadType;
    accesses.set(sender, this);
  }

  /** Access to a connected sender's state, or the reason the direct path cannot take it. */
  static of(sender: RTCRtpSender): SenderAccess | string {
    return directSendProblem(sender) ?? new SenderAccess(sender as unknown as SenderInternals);
  }

  /** Whether packets may go out now: the sender runs and its DTLS transport is connected. */
  get sending(): boolean {
    return !this.#sender.stopped && this.#sender.dtlsTransport.state === 'connected';
  }

  /** The selected pair while ICE consent (RFC 7675) allows sending; undefined otherwise. */
  iceRoute(): IceRoute | undefined {
    const connection = this.#sender.dtlsTransport.iceTransport.connection;
    const pair = connection.nominated;
    if (!pair || connection.canSendApplicationData?.() !== true) return undefined;
    const transport = pair.protocol?.transport;
    if (transport?.closed) return undefined;
    // Asked for every packet: worked out once per pair (socket.address() is a system call, ~15 % of the
    // send path's CPU when it ran per packet); only the pair's round trip moves.
    const cached = this.#route;
    if (cached?.pair === pair) {
      cached.rttMs = typeof pair.rtt === 'number' ? pair.rtt * 1000 : undefined;
      return cached;
    }
    this.#route = this.#routeOf(pair);
    return this.#route;
  }

  #routeOf(pair: CandidatePair): IceRoute | undefined {
    const transport = pair.protocol?.transport;
    const [remoteAddress, remotePort] = pair.remoteAddr ?? [];
    if (typeof remoteAddress !== 'string' || typeof remotePort !== 'number') return undefined;
    const socket = transport?.socket;
    const type = socket?.type;
    let local: IceRoute['local'];
    if (socket && (type === 'udp4' || type === 'udp6')) {
      try {
        const { address, port } = socket.address();
        local = { type, address, port };
      } catch {
        local = undefined; // closed meanwhile
      }
    }
    const rttMs = typeof pair.rtt === 'number' ? pair.rtt * 1000 : undefined;
    return { pair, remoteAddress, remotePort, local, socket, rttMs };
  }

  /** Sends an SRTP packet the way werift does (it checks ICE consent there). */
  sendThroughWerift(srtp: Buffer): Promise<void> {
    const dtls = this.#sender.dtlsTransport;
    dtls.bytesSent += srtp.length;
    dtls.packetsSent++;
    return dtls.iceTransport.connection.send(srtp);
  }

  /**
   * Counts a datagram the addon sent on `route`, as werift counts its own sends. Kept here and added to
   * werift's counters when they are read (`flushCounts()`): werift's objects are slow to write to (a
   * tenth of a viewer's cost per packet when every packet wrote them).
   */
  countDirectSend(route: IceRoute, bytes: number, datagrams = 1): void {
    if (route.pair !== this.#countedPair) {
      this.flushCounts();
      this.#countedPair = route.pair as CandidatePair;
    }
    this.#datagrams += datagrams;
    this.#datagramBytes += bytes;
  }

  /**
   * The keys and state for the sender's reports to come from the addon instead of werift's loop (which
   * builds and seals each report in JavaScript: a sixth of the JavaScript thread's time at 500 viewers), or
   * why they cannot (werift's layout). Once `takeOverSenderReports()` is called werift sends none.
   */
  senderReportKeys(): SenderReportKeys | string {
    const sender = this.#sender;
    const context = sender.dtlsTransport.srtcp?.localContext;
    const key = context?.cipher?.srtcpSessionKey;
    const salt = context?.cipher?.srtcpSessionSalt;
    if (!key || !Buffer.isBuffer(salt) || salt.length < 12 || typeof context?.getSrtcpSsrcState !== 'function') {
      return `${LAYOUT_CHANGED}: dtlsTransport.srtcp.localContext (its SRTCP key, salt and index) not found`;
    }
    if (sender.rtcpRunning) return "werift's own sender reports already run";
    const cname = typeof sender.cname === 'string' && Buffer.byteLength(sender.cname) < 255 ? sender.cname : '';
    return { key: keyBytes(key), salt, lastIndex: context.getSrtcpSsrcState(this.ssrc).srtcpIndex >>> 0, cname };
  }

  /** werift sends no sender reports for this sender from now on (its loop is never started). */
  takeOverSenderReports(): void {
    this.#rtcpStarted = true;
    this.#sender.rtcpRunning = true; // werift's runRtcp() returns at once while this is set
  }

  /**
   * A sender report with NTP time `ntp` left at `sentAtWallMs` (ms since 1970), sent by the addon: werift's
   * round trip from receiver reports (its stats) compares their LSR with it.
   */
  noteSenderReport(ntp: bigint, sentAtWallMs: number): void {
    this.#sender.lastSRtimestamp = Number((ntp >> 16n) & 0xffffffffn);
    this.#sender.lastSentSRTimestamp = sentAtWallMs / 1000;
  }

  /** Keeps the sender-report counters right for one RTP packet sent (first one: starts werift's RTCP loop). */
  countRtp(rtpTimestamp: number, payloadBytes: number, headerBytes: number, packets = 1): void {
    this.#rtpTimestamp = rtpTimestamp;
    this.#rtpPackets += packets;
    this.#payloadBytes += payloadBytes;
    this.#headerBytes += headerBytes;
    if (!this.#rtcpStarted) {
      this.#rtcpStarted = true;
      this.flushCounts();
      if (!this.#sender.rtcpRunning) void this.#sender.runRtcp(); // sender reports from the first packet on, as werift does
    }
  }

  countRetransmission(payloadBytes: number): void {
    this.#sender.retransmittedPacketsSent++;
    this.#sender.retransmittedBytesSent += payloadBytes;
  }

  /**
   * Adds what was counted since the last time to werift's counters: before werift reads them (its sender
   * report asks for the NTP time first: `useNtpClock`; stats: `flushSenderCounts`).
   */
  flushCounts(): void {
    if (this.#pull && !this.#pulling) {
      this.#pulling = true;
      try {
        this.#pull();
      } finally {
        this.#pulling = false;
      }
    }
    if (this.#rtpPackets > 0) {
      const sender = this.#sender;
      sender.rtpTimestamp = this.#rtpTimestamp;
      sender.packetCount = (sender.packetCount + this.#rtpPackets) >>> 0;
      sender.octetCount += this.#payloadBytes;
      sender.headerBytesSent += this.#headerBytes;
      this.#rtpPackets = this.#payloadBytes = this.#headerBytes = 0;
    }
    if (this.#datagrams > 0) {
      const dtls = this.#sender.dtlsTransport;
      dtls.bytesSent += this.#datagramBytes;
      dtls.packetsSent += this.#datagrams;
      const pair = this.#countedPair;
      if (pair) {
        pair.packetsSent += this.#datagrams;
        pair.bytesSent += this.#datagramBytes;
      }
      this.#datagrams = this.#datagramBytes = 0;
    }
  }

  /**
   * Counts kept elsewhere (a viewer's lane in C: lib/sender/native-lane.ts) are brought in by `pull` (with
   * `countRtp` and `countDirectSend`) whenever the counters are added to werift's.
   */
  pullCountsFrom(pull: () => void): void {
    this.#pull = pull;
  }

  /** werift's sender reports read the NTP time of the last packet sent: ours, computed when a report asks. */
  useNtpClock(ntpTimestamp: () => bigint): void {
    const get = (): bigint => {
      this.flushCounts(); // the report reads the NTP time before the counters
      return ntpTimestamp();
    };
    Object.defineProperty(this.#sender, 'ntpTimestamp', { configurable: true, get, set: () => {} });
  }

  /**
   * The viewer's NACKs. werift answers them from its own cache, which the direct path leaves empty: the
   * direct path answers them from its own history.
   */
  onNack(handler: (lost: number[]) => void): void {
    this.#sender.onGenericNack.subscribe(({ lost }) => handler(lost));
  }
}
