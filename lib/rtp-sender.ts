import { createCipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:dgram';
import type { MediaStreamTrack, RTCRtpSender } from 'werift';
import { isSendableAddress, nativeSrtp, nativeSrtpProblem, udpSocketFd } from './native/index.ts';

/** Where the shared stream's packets go for one viewer's video or audio: one call per RTP packet. */
export interface RtpSink {
  readonly kind: 'audio' | 'video';
  /** Sends one serialized RTP packet (the shared buffer: a sink never changes it). */
  send(packet: Buffer): void;
}

/** werift 0.25's sender state that its RTCP (sender reports), NACK handling and stats read. */
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
  headerExtensions?: unknown[];
  rtxPayloadType?: number;
  redRedundantPayloadType?: number;
  onGenericNack: { subscribe(handler: (nack: { lost: number[] }) => void): unknown };
  dtlsTransport: {
    state: string;
    bytesSent: number;
    packetsSent: number;
    srtp?: { localContext?: { profile?: number; cipher?: { srtpSessionKey?: Buffer | KeyObject; srtpSessionSalt?: Buffer } } };
    iceTransport: { connection: IceConnection };
  };
}

/** werift 0.25's ICE connection: its selected pair and whether consent (RFC 7675) allows sending. */
interface IceConnection {
  send(data: Buffer): Promise<void>;
  canSendApplicationData?(): boolean;
  nominated?: CandidatePair;
}

interface CandidatePair {
  remoteAddr: [string, number];
  packetsSent: number;
  bytesSent: number;
  protocol?: { transport?: { closed?: boolean; socket?: Socket & { type?: string } } };
}

/** Where the addon sends a viewer's packets: the selected pair's socket and remote address. */
interface NativeRoute {
  pair: CandidatePair;
  fd: number;
  target: Buffer;
}

/** SRTP's AEAD_AES_128_GCM profile (RFC 7714), what Chromium and werift agree on. */
const PROFILE_AEAD_AES_128_GCM = 0x0007;
const GCM_TAG_LENGTH = 16;
/** Packets kept for NACKed retransmissions: about 2 s of 720p at 130 packets/s. */
const RETRANSMIT_HISTORY = 256;
/** Seconds between 1900 (NTP's epoch) and 1970. */
const NTP_EPOCH_OFFSET_S = 2_208_988_800;
const ignore = (): void => {};

/** A werift track written packet by packet: werift's own send path, for what the direct one does not cover. */
export const trackSink = (track: MediaStreamTrack): RtpSink => ({
  kind: track.kind === 'audio' ? 'audio' : 'video',
  send: (packet) => track.writeRtp(packet),
});

/**
 * One viewer's sender, fed without werift's per-packet path. werift copies each packet twice, dispatches
 * it through events and promises, builds an NTP time from strings, and concatenates buffers: about 25 µs
 * per packet per viewer on top of the encryption and the send (docs/benchmarks.md). This does only what a
 * packet needs: the viewer's SSRC and payload type in a copy of the header, AES-GCM (RFC 7714), one UDP
 * send on the connection werift chose. It keeps what werift reads elsewhere right: the sender report's
 * counters and times, the transport's counters, and retransmissions for the viewer's NACKs.
 *
 * `attach()` returns undefined where werift's path is needed: another SRTP profile, header extensions,
 * RTX or RED negotiated, or a werift layout this file does not know.
 */
export class DirectRtpSender implements RtpSink {
  readonly kind: 'audio' | 'video';
  readonly #sender: SenderInternals;
  readonly #key: KeyObject;
  readonly #salt: Buffer;
  readonly #payloadType: number;
  readonly #iv = Buffer.alloc(12);
  readonly #history: (Buffer | undefined)[] = new Array(RETRANSMIT_HISTORY);
  // Rollover counter (RFC 3711 §3.3.1): the highest sequence number sent and how often it wrapped.
  #highestSeq = -1;
  #rollovers = 0;
  #lastSentAtMs = 0;
  /** The addon's AES-GCM context for this viewer's key, if the addon sends this viewer's packets. */
  readonly #nativeContext: object | undefined;
  /** Why the addon does not send this viewer's packets (undefined when it does, or when `native: false` asked). */
  readonly #nativeProblem: string | undefined;
  /** The pair #nativeRoute was worked out for: a route is looked up again only when the pair changes. */
  #routedPair: CandidatePair | undefined;
  /**
   * The addon sends only once a first packet went out through werift: werift's last DTLS flight (its
   * Finished) is still queued in its async send path when it says "connected", and an SRTP packet sent
   * ahead of it reaches a viewer that cannot decrypt it yet: the joiner's GOP replay would be lost.
   */
  #nativeArmed = false;
  readonly #armNative = (): void => {
    this.#nativeArmed = true;
  };
  #nativeRoute: NativeRoute | undefined;

  private constructor(
    kind: 'audio' | 'video',
    sender: SenderInternals,
    key: KeyObject,
    salt: Buffer,
    payloadType: number,
    native: boolean,
    nativeProblem: string | undefined,
  ) {
    this.kind = kind;
    this.#nativeProblem = nativeProblem;
    this.#nativeContext = native && !nativeProblem ? nativeSrtp?.context(key.export(), salt, sender.ssrc >>> 0, payloadType) : undefined;
    this.#sender = sender;
    this.#key = key;
    this.#salt = salt;
    this.#payloadType = payloadType;
    // The IV's SSRC part never changes: salt XOR (00 00 | SSRC | ROC | SEQ).
    this.#iv.writeUInt32BE(sender.ssrc >>> 0, 2);
    for (let i = 0; i < 6; i++) this.#iv[i]! ^= salt[i]!;
    // werift's sender reports read these; its own NTP time is built per packet, ours when a report asks.
    Object.defineProperty(sender, 'ntpTimestamp', {
      configurable: true,
      get: () => ntpTimestampOf(this.#lastSentAtMs || performance.timeOrigin + performance.now()),
      set: ignore,
    });
    // werift answers NACKs from its own cache, which stays empty here: they are answered from ours.
    sender.onGenericNack.subscribe(({ lost }) => {
      for (const seq of lost) this.#retransmit(seq);
    });
  }

  /**
   * The direct sender for a connected werift sender, or undefined when werift's own path is needed.
   * `native: false` keeps it in JavaScript even where the addon is there (tests compare both).
   */
  static attach(rtpSender: RTCRtpSender, { native = true }: { native?: boolean } = {}): DirectRtpSender | undefined {
    const sender = rtpSender as unknown as SenderInternals;
    const dtls = sender.dtlsTransport;
    const context = dtls?.srtp?.localContext;
    const key = context?.cipher?.srtpSessionKey;
    const salt = context?.cipher?.srtpSessionSalt;
    const payloadType = sender.codec?.payloadType;
    if (
      context?.profile !== PROFILE_AEAD_AES_128_GCM ||
      !key ||
      !salt ||
      salt.length < 12 ||
      payloadType === undefined ||
      typeof dtls.iceTransport?.connection?.send !== 'function' ||
      typeof sender.runRtcp !== 'function' ||
      typeof sender.onGenericNack?.subscribe !== 'function' ||
      (sender.headerExtensions?.length ?? 0) > 0 ||
      sender.rtxPayloadType !== undefined ||
      sender.redRedundantPayloadType !== undefined
    ) {
      return undefined;
    }
    const keyObject = Buffer.isBuffer(key) ? createSecretKey(key) : key;
    // Decided now, for /stats to say which path the viewer gets: the addon, and werift's socket found.
    const nominated = dtls.iceTransport.connection.nominated;
    const problem = !native ? undefined : (nativeSrtpProblem ?? (nominated && routeProblemOf(nominated)));
    return new DirectRtpSender(rtpSender.kind === 'audio' ? 'audio' : 'video', sender, keyObject, salt, payloadType, native, problem);
  }

  /** Whether packets are encrypted and sent by the native addon (lib/native/). */
  get native(): boolean {
    return this.#nativeContext !== undefined;
  }

  /** Why the addon does not send this viewer's packets; undefined when it does or when JavaScript was asked for. */
  get nativeProblem(): string | undefined {
    return this.#nativeProblem;
  }

  send(packet: Buffer): void {
    const sender = this.#sender;
    if (sender.stopped || sender.dtlsTransport.state !== 'connected') return;
    const seq = packet.readUInt16BE(2);
    const size = this.#encryptAndSend(packet, seq);
    if (size === 0) return;
    this.#history[seq % RETRANSMIT_HISTORY] = packet;
    this.#lastSentAtMs = performance.timeOrigin + performance.now();
    sender.rtpTimestamp = packet.readUInt32BE(4);
    sender.packetCount = (sender.packetCount + 1) >>> 0;
    sender.octetCount += size;
    sender.headerBytesSent += rtpHeaderLength(packet);
    if (!sender.rtcpRunning) void sender.runRtcp(); // sender reports from the first packet on, as werift does
  }

  #retransmit(seq: number): void {
    const packet = this.#history[seq % RETRANSMIT_HISTORY];
    if (!packet || packet.readUInt16BE(2) !== seq || this.#sender.stopped) return;
    const size = this.#encryptAndSend(packet, seq);
    this.#sender.retransmittedPacketsSent++;
    this.#sender.retransmittedBytesSent += size;
  }

  /** Encrypts `packet` as this viewer's and sends it; returns the payload's size (0 if not sent). */
  #encryptAndSend(packet: Buffer, seq: number): number {
    const headerLength = rtpHeaderLength(packet);
    if (headerLength === 0) return 0;
    const rolloverCounter = this.#rolloverCounterFor(seq);
    const route = this.#nativeArmed && this.#routeForNative(this.#sender.dtlsTransport.iceTransport.connection);
    if (route) {
      const sent = nativeSrtp!.send(this.#nativeContext!, route.fd, route.target, packet, headerLength, rolloverCounter);
      if (sent > 0) {
        const dtls = this.#sender.dtlsTransport;
        dtls.bytesSent += sent;
        dtls.packetsSent++;
        route.pair.packetsSent++;
        route.pair.bytesSent += sent;
        return packet.length - headerLength;
      }
      // The socket's buffer is full (a joiner's GOP replay comes as one burst): Node's send below queues
      // the packet instead of dropping it, as it did before the addon.
    }
    const header = Buffer.allocUnsafe(headerLength);
    packet.copy(header, 0, 0, headerLength);
    header[1] = (packet[1]! & 0x80) | this.#payloadType;
    header.writeUInt32BE(this.#sender.ssrc >>> 0, 8);

    const iv = this.#iv;
    iv.writeUInt32BE(rolloverCounter, 6);
    iv.writeUInt16BE(seq, 10);
    for (let i = 6; i < 12; i++) iv[i]! ^= this.#salt[i]!;
    const dtls = this.#sender.dtlsTransport;
    const cipher = createCipheriv('aes-128-gcm', this.#key, iv);
    cipher.setAAD(header);
    const encrypted = cipher.update(packet.subarray(headerLength));
    cipher.final();
    const srtp = Buffer.concat([header, encrypted, cipher.getAuthTag()], headerLength + encrypted.length + GCM_TAG_LENGTH);
    dtls.bytesSent += srtp.length;
    dtls.packetsSent++;
    const sending = dtls.iceTransport.connection.send(srtp); // werift checks ICE consent there
    if (this.#nativeContext && !this.#nativeArmed) sending.then(this.#armNative, ignore);
    else sending.catch(ignore);
    return encrypted.length;
  }

  /**
   * The selected pair's UDP socket and remote address while werift's consent allows sending, kept until
   * the pair changes; undefined when the addon cannot send there (TCP, a host name, werift's layout),
   * and JavaScript sends instead.
   */
  #routeForNative(connection: IceConnection): NativeRoute | undefined {
    const pair = connection.nominated;
    if (!pair || connection.canSendApplicationData?.() !== true) return undefined;
    const transport = pair.protocol?.transport;
    if (transport?.closed) return undefined;
    if (this.#routedPair === pair) return this.#nativeRoute;
    this.#routedPair = pair;
    const route = nativeRouteOf(pair);
    this.#nativeRoute = typeof route === 'string' ? undefined : route;
    return this.#nativeRoute;
  }

  /** The rollover counter of `seq`: advanced by a newer packet that wrapped, one less for an old one from before. */
  #rolloverCounterFor(seq: number): number {
    if (this.#highestSeq < 0) {
      this.#highestSeq = seq;
      return 0;
    }
    const ahead = (seq - this.#highestSeq) & 0xffff;
    if (ahead !== 0 && ahead < 0x8000) {
      if (seq < this.#highestSeq) this.#rollovers++;
      this.#highestSeq = seq;
      return this.#rollovers;
    }
    return seq > this.#highestSeq && this.#rollovers > 0 ? this.#rollovers - 1 : this.#rollovers;
  }
}

/** Where the addon sends a pair's packets: its UDP socket's descriptor and the remote address; or why it cannot. */
function nativeRouteOf(pair: CandidatePair): NativeRoute | string {
  const socket = pair.protocol?.transport?.socket;
  const [address, port] = pair.remoteAddr ?? [];
  if (!socket || (socket.type !== 'udp4' && socket.type !== 'udp6')) return 'the ICE pair is not UDP';
  if (!isSendableAddress(address) || typeof port !== 'number') return 'the remote address is not an IP address';
  const fd = udpSocketFd(socket);
  if (fd === undefined) return `werift's UDP socket was not found among the open descriptors`;
  try {
    return { pair, fd, target: nativeSrtp!.target(address, port) };
  } catch (error) {
    return `the remote address ${address} port ${port} is not one the addon can send to: ${(error as Error).message}`;
  }
}

const routeProblemOf = (pair: CandidatePair): string | undefined => {
  const route = nativeRouteOf(pair);
  return typeof route === 'string' ? route : undefined;
};

/** The length of a serialized RTP packet's header (CSRCs and extension included); 0 if it is not one. */
function rtpHeaderLength(packet: Buffer): number {
  let length = 12 + 4 * (packet[0]! & 0x0f);
  if (packet[0]! & 0x10) {
    if (packet.length < length + 4) return 0;
    length += 4 + 4 * packet.readUInt16BE(length + 2);
  }
  return packet.length >= length ? length : 0;
}

/** A wall-clock time (ms since 1970) as a 64-bit NTP timestamp: seconds since 1900 and a 32-bit fraction. */
function ntpTimestampOf(ms: number): bigint {
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 0x1_0000_0000);
  return (BigInt(seconds + NTP_EPOCH_OFFSET_S) << 32n) | BigInt(fraction);
}
