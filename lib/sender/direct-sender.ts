/**
 * One viewer's RTP writer, fed without werift's per-packet path. werift copies each packet twice, dispatches
 * it through events and promises, builds an NTP time from strings, and concatenates buffers: about 25 µs per
 * packet per viewer on top of the encryption and the send (docs/benchmarks.md). This does only what a
 * packet needs: the viewer's header (payload type, SSRC, its own sequence numbers and timestamps, the
 * transport-wide sequence number), AES-GCM (RFC 7714), one UDP send on the connection werift chose — in C
 * when the addon is there (lib/native/: queued to its send thread, which seals and sends off this thread,
 * batched), else in JavaScript. It keeps what werift reads elsewhere right
 * (through the adapter, lib/werift/sender-access.ts): the sender report's counters and times, and the
 * transport's counters; and it keeps what it sent, for retransmissions.
 */
import { performance } from 'node:perf_hooks';
import type { RTCRtpSender } from 'werift';
import { isSendableAddress, nativeLanes, nativeSendBatch, nativeSendThread, nativeSrtp, nativeSrtpProblem, udpSocketFd, udpSocketHandle } from '../native/index.ts';
import { SendBatch } from '../native/send-batch.ts';
import { FIXED_HEADER_LENGTH, TRANSPORT_WIDE_EXTENSION_LENGTH, writeHeader, type HeaderFields } from '../rtp/rtp-header.ts';
import { NO_PATCH, patchedPayload, type PayloadPatch } from '../rtp/payload-patch.ts';
import { rtpHeaderLength, sequenceNumberOf, timestampOf } from '../rtp/rtp-packet.ts';
import { SenderAccess, type IceRoute } from '../werift/sender-access.ts';
import { RolloverCounter } from './rollover-counter.ts';
import { NativeLane } from './native-lane.ts';
import { SenderReports } from './sender-reports.ts';
import type { RtpSink } from './rtp-sink.ts';
import { SentHistory } from './sent-history.ts';
import { SrtpGcmEncryptor } from './srtp-gcm.ts';

/** Packets kept for retransmissions: about 2 s of 720p at 2.5 Mbit/s (≈ 270 packets/s). A power of two. */
export const HISTORY_SIZE = 1024;
/** Seconds between 1900 (NTP's epoch) and 1970. */
const NTP_EPOCH_OFFSET_S = 2_208_988_800;
/** The most a padding-only packet can carry (its last byte counts the padding). */
export const MAX_PADDING = 255;
const GCM_TAG_LENGTH = 16;
/**
 * The most packets held while the first is in werift's path (a GOP replay is a few hundred); past it, they
 * go through werift as they did before (a send werift never finishes).
 */
const MAX_HELD = 2048;

/** A packet written while the addon waits to be armed, and what it is to be sent as. */
interface HeldPacket {
  packet: Buffer;
  payloadOffset: number;
  seq: number;
  timestamp: number;
  /** The transport-wide extension's id and number, copied (the caller reuses its object); id 0: none. */
  transportWideId: number;
  transportWideSeq: number;
  patch: PayloadPatch;
}
/** What writeHeader() reads of a packet (its padding and marker bits) for a resend from the lane, whose C side puts the packet's own. */
const NO_BITS = Buffer.alloc(2);
/**
 * How long what werift says about sending (the sender running, DTLS connected, ICE consent, the selected
 * pair) is taken as still true, ms. It changes over seconds (consent expires after 30 s, RFC 7675); reading
 * werift's objects for every packet was a tenth of a viewer's cost per packet.
 */
const STATE_TTL_MS = 20;
const ignore = (): void => {};

/** Where the addon sends a viewer's packets: the selected pair's socket and remote address. */
interface NativeRoute {
  route: IceRoute;
  fd: number;
  /** The addon's own duplicate of the socket, for its send thread; undefined: sent on this thread. */
  socket: object | undefined;
  /** Its number, for a batch (lib/native/send-batch.ts); 0 when not batched. */
  socketId: number;
  target: Buffer;
}

/** A wall-clock time (ms since 1970) as a 64-bit NTP timestamp: seconds since 1900 and a 32-bit fraction. */
export function ntpTimestampOf(ms: number): bigint {
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 0x1_0000_0000);
  // 64 bits, wrapping in 2036 as NTP does (era 1): werift writes it with writeBigUInt64BE.
  return BigInt.asUintN(64, (BigInt(seconds + NTP_EPOCH_OFFSET_S) << 32n) | BigInt(fraction));
}

export interface DirectRtpSenderOptions {
  /** false keeps it in JavaScript even where the addon is there (tests compare both). Default true. */
  native?: boolean;
  /**
   * The owner answers the viewer's NACKs itself (a budget, lib/sender/nack-responder.ts); by default
   * every NACKed packet still in the history is sent again at once.
   */
  ownNacks?: boolean;
}

export class DirectRtpSender implements RtpSink {
  readonly kind: 'audio' | 'video';
  readonly #access: SenderAccess;
  readonly #srtp: SrtpGcmEncryptor;
  readonly #rollover = new RolloverCounter();
  /** What it sent from JavaScript, for repairs: made at its first such packet, dropped by releaseHistory(). */
  #history: SentHistory | undefined;
  readonly #header = Buffer.alloc(FIXED_HEADER_LENGTH + TRANSPORT_WIDE_EXTENSION_LENGTH);
  /** The header's fields, one object reused for every packet (the payload type and SSRC are the viewer's). */
  readonly #fields: HeaderFields;
  #lastSentAtMs = 0;
  /** The addon's AES-GCM context for this viewer's key, if the addon sends this viewer's packets. */
  readonly #nativeContext: object | undefined;
  /** Its number in a batch (lib/native/send-batch.ts); 0 when packets are not batched. */
  readonly #nativeContextId: number;
  /** Why the addon does not send this viewer's packets (undefined when it does, or when `native: false` asked). */
  readonly #nativeProblem: string | undefined;
  /** The pair #nativeRoute was worked out for: a route is looked up again only when the pair changes. */
  #routedPair: object | undefined;
  #nativeRoute: NativeRoute | undefined;
  /** When werift's state was last read (performance.now()), and what it said. */
  #stateReadAtMs = Number.NEGATIVE_INFINITY;
  #sendingNow = false;
  #routeNow: NativeRoute | undefined;
  /**
   * The addon sends only once a first packet went out through werift: werift's last DTLS flight (its
   * Finished) is still queued in its async send path when it says "connected", and an SRTP packet sent
   * ahead of it reaches a viewer that cannot decrypt it yet: the joiner's GOP replay would be lost.
   */
  #nativeArmed = false;
  /**
   * Armed in the next turn of the event loop, not in the promise's callback: werift's send resolves before
   * Node hands the datagram to the kernel (its address lookup is a process.nextTick, which waits until the
   * microtasks are done), so a packet the addon sent from a microtask would overtake it, and the DTLS
   * flight ahead of it.
   */
  readonly #armNative = (): void => {
    setImmediate(this.#armNow);
  };
  readonly #armNow = (): void => {
    this.#nativeArmed = true;
  };
  /**
   * Packets Node is still sending (a full socket buffer): while any is, the next ones queue behind it
   * there too, so that they leave in order.
   */
  #queuedInNode = 0;
  readonly #sentByNode = (): void => {
    this.#queuedInNode--;
    if (this.#queuedInNode === 0 && this.#held.length > 0 && !this.#heldScheduled) {
      this.#heldScheduled = true;
      setImmediate(this.#sendHeldNow); // after the arming (see #armNative), in the same turn
    }
  };
  /**
   * What was written while the first packet was in werift's path and the addon not armed yet (a joiner's
   * GOP replay, written at once): held, then sent in order once that packet has left, by the addon. Before,
   * each went through werift too, sealed in JavaScript: ~15 µs of the JavaScript thread a packet, a fifth
   * of it while 200 viewers joined. The wait is one turn of the event loop. While any is held, every packet
   * after it is too.
   */
  #held: HeldPacket[] = [];
  #heldScheduled = false;
  readonly #sendHeldNow = (): void => {
    this.#heldScheduled = false;
    if (this.#sendingAt(performance.now())) this.#sendHeld();
    else this.#held = []; // the viewer is gone
  };
  /** Set once more than MAX_HELD waited: nothing is held any more. */
  #holdOff = false;
  readonly #heldTransportWide = { id: 0, sequenceNumber: 0 };
  /** The viewer's lane (video, batched): its packets numbered and queued in C while it is steady. */
  readonly #lane: NativeLane | undefined;
  /** Its RTCP sender reports, when the addon sends them (else werift's loop does). */
  readonly #reports: SenderReports | undefined;

  private constructor(kind: 'audio' | 'video', access: SenderAccess, options: DirectRtpSenderOptions) {
    this.kind = kind;
    this.#access = access;
    // Decided now, for /stats to say which path the viewer gets: the addon loaded, and werift's socket found.
    const route = access.iceRoute();
    const routed = route && nativeRouteOf(route);
    this.#nativeProblem = options.native === false ? undefined : (nativeSrtpProblem ?? (typeof routed === 'string' ? routed : undefined));
    this.#nativeContext = options.native !== false && !this.#nativeProblem
      ? nativeSrtp?.context(access.key.export(), access.salt, access.ssrc, access.payloadType)
      : undefined;
    this.#nativeContextId = this.#nativeContext && nativeSendBatch ? nativeSrtp!.handleId(this.#nativeContext) : 0;
    this.#lane = kind === 'video' && nativeLanes && this.#nativeContextId !== 0
      ? new NativeLane(access.payloadType, access.ssrc, this.#nativeContextId)
      : undefined;
    if (this.#lane) access.pullCountsFrom(() => this.#takeLaneCounts());
    this.#srtp = new SrtpGcmEncryptor(access);
    this.#fields = { payloadType: access.payloadType, ssrc: access.ssrc, sequenceNumber: 0, timestamp: 0, transportWide: undefined };
    this.#reports = this.#nativeContext ? this.#addonReports() : undefined;
    access.useNtpClock(() => {
      const ntp = ntpTimestampOf(this.#lastSentAtMs || performance.timeOrigin + performance.now());
      if (!this.#reports) this.onSenderReport?.(ntp); // werift's loop asks as it builds a report (stats too)
      return ntp;
    });
    if (!options.ownNacks) {
      access.onNack((lost) => {
        for (const seq of lost) this.retransmit(seq);
      });
    }
  }

  /**
   * The direct sender for a connected werift sender, or why werift's own path is needed (another SRTP
   * profile, RTX or RED negotiated, or a werift layout the adapter does not know).
   */
  static attach(sender: RTCRtpSender, options: DirectRtpSenderOptions = {}): DirectRtpSender | string {
    const access = SenderAccess.of(sender);
    if (typeof access === 'string') return access;
    return new DirectRtpSender(sender.kind === 'audio' ? 'audio' : 'video', access, options);
  }

  /** The addon's sender reports for this viewer, werift's loop kept from sending any; undefined when werift's layout has no place for them. */
  #addonReports(): SenderReports | undefined {
    const access = this.#access;
    const keys = access.senderReportKeys();
    if (typeof keys === 'string') return undefined;
    try {
      nativeSrtp!.contextReports(this.#nativeContext!, keys.key, keys.salt, keys.lastIndex, keys.cname);
    } catch {
      return undefined; // OpenSSL could not set up the key: werift's loop sends them, as without the addon
    }
    access.takeOverSenderReports();
    const send = (srtcp: Buffer): void => void access.sendThroughWerift(srtcp).catch(ignore);
    const onSent = (ntp: bigint, sentAtMs: number, sentAtWallMs: number): void => {
      access.noteSenderReport(ntp, sentAtWallMs);
      this.onSenderReport?.(ntp, sentAtMs);
    };
    return new SenderReports(this.#nativeContext!, this.#lane?.state, send, onSent, () => access.sending);
  }

  /**
   * Told of each sender report's NTP time and when it left (performance.now()): with the report block that
   * echoes it, it gives the round-trip time. A report the lane sent is told of when `takeLaneReports()` is
   * called; one werift's loop builds, as werift reads the clock for it (and for stats: then again).
   */
  onSenderReport: ((ntp: bigint, sentAtMs?: number) => void) | undefined;

  /** Tells `onSenderReport` of the report the lane sent since the last call, if any: before a receiver report is read. */
  takeLaneReports(): void {
    this.#reports?.takeLaneReports();
  }

  /** Sender reports the addon sent for this viewer; undefined when werift's loop sends them. */
  get senderReportsSent(): number | undefined {
    return this.#reports?.sent;
  }

  /** Whether packets are encrypted and sent by the native addon (lib/native/). */
  get native(): boolean {
    return this.#nativeContext !== undefined;
  }

  /** Why the addon does not send this viewer's packets; undefined when it does or when JavaScript was asked for. */
  get nativeProblem(): string | undefined {
    return this.#nativeProblem;
  }

  /** The adapter's view of the werift sender (NACKs, the SR clock, RTCP). */
  get access(): SenderAccess {
    return this.#access;
  }

  /** Whether packets may go out now (the sender runs and DTLS is connected). */
  get sending(): boolean {
    return this.#access.sending;
  }

  /** Whether packets may go out (werift's state, read at most every STATE_TTL_MS). */
  #sendingAt(now: number): boolean {
    if (now - this.#stateReadAtMs >= STATE_TTL_MS) {
      this.#stateReadAtMs = now;
      this.#sendingNow = this.#access.sending;
      this.#routeNow = this.#sendingNow ? this.#routeForNative() : undefined;
    }
    return this.#sendingNow;
  }

  /** The viewer's lane, when its packets can be numbered and queued in C (lib/sender/native-lane.ts). */
  get lane(): NativeLane | undefined {
    return this.#lane;
  }

  /**
   * Whether the lane may send for the viewer now (werift's state, read at most every STATE_TTL_MS: sending,
   * with a route the send thread takes, and nothing of the viewer's still in werift's path); it is routed
   * there.
   */
  laneReady(now = performance.now()): boolean {
    const lane = this.#lane;
    if (!lane || !this.#sendingAt(now) || !this.#nativeArmed || this.#queuedInNode > 0 || this.#held.length > 0) return false;
    const route = this.#routeNow;
    if (!route || route.socketId === 0) return false;
    lane.route(route.socketId, route.target);
    return true;
  }

  /** The lane's rollover counter from this sender's, as it hands its numbering over… */
  get rolloverState(): { highest: number; rollovers: number } {
    return this.#rollover.state;
  }

  /** …and back. */
  set rolloverState(state: { highest: number; rollovers: number }) {
    this.#rollover.state = state;
  }

  /** What the lane sent, into werift's counters (SenderAccess pulls it whenever they are read). */
  #takeLaneCounts(): void {
    const counts = this.#lane!.takeCounts();
    if (counts.packets === 0) return;
    this.#access.countRtp(counts.lastTimestamp, counts.payloadBytes, counts.headerBytes, counts.packets);
    const route = this.#routeNow ?? this.#nativeRoute;
    if (route) this.#access.countDirectSend(route.route, counts.datagramBytes, counts.datagrams);
    this.#lastSentAtMs = Math.max(this.#lastSentAtMs, counts.lastSentMs);
  }

  /** Sends `packet` with its own sequence number and timestamp (the audio, and tests). */
  send(packet: Buffer): void {
    this.write(packet, sequenceNumberOf(packet), timestampOf(packet));
  }

  /**
   * Sends `packet` (a serialized RTP packet of the shared stream) as this viewer's packet `seq`, with
   * timestamp `timestamp` and, when given, transport-wide sequence number `transportWide` (extension `id`);
   * `now`, performance.now(), when the caller has it; `patch`, the viewer's own bytes in the payload (its
   * VP8 PictureID: lib/rtp/payload-patch.ts). Returns the bytes on the wire, 0 when nothing was sent.
   */
  write(
    packet: Buffer, seq: number, timestamp: number, transportWide?: { id: number; sequenceNumber: number }, now = performance.now(),
    patch: PayloadPatch = NO_PATCH,
  ): number {
    if (!this.#sendingAt(now)) return 0;
    const payloadOffset = rtpHeaderLength(packet);
    if (payloadOffset === 0) return 0;
    const bytes = this.#seal(packet, payloadOffset, seq, timestamp, transportWide, patch);
    if (bytes === 0) return 0;
    this.#lastSentAtMs = performance.timeOrigin + now;
    (this.#history ??= new SentHistory(HISTORY_SIZE)).remember(packet, seq, timestamp, patch, this.#lastSentAtMs);
    const payloadBytes = packet.length - payloadOffset;
    this.#access.countRtp(timestamp, payloadBytes, bytes - payloadBytes - GCM_TAG_LENGTH);
    this.#reports?.afterPacket(payloadBytes, timestamp, this.#lastSentAtMs);
    return bytes;
  }

  /**
   * Lets go of what this sender sent itself, and of its history (the lane's own in C answers for what the
   * lane sent); a packet sent from JavaScript again makes a new one. A viewer long in its lane would otherwise
   * keep what it was sent from JavaScript, its join's GOP replay, for good: each viewer other packets of the
   * stream (~100 kB a viewer, measured), and the history's slots (28 kB).
   */
  releaseHistory(): void {
    this.#history = undefined;
  }

  /** The bytes of its history's slots: 0 while it keeps none. */
  get historyBytes(): number {
    return this.#history?.bytes ?? 0;
  }

  /** When packet `seq` was last sent (ms since 1970), or undefined when it is not in the history any more. */
  sentAt(seq: number): number | undefined {
    const own = this.#history?.find(seq)?.sentAtMs;
    const inLane = this.#lane?.sent(seq)?.sentMs;
    return inLane !== undefined && (own === undefined || inLane > own) ? inLane : own;
  }

  /** Sends packet `seq` again, as it was (a new transport-wide number, if given). Returns the bytes sent. */
  retransmit(seq: number, transportWide?: { id: number; sequenceNumber: number }): number {
    const own = this.#history?.find(seq);
    const inLane = this.#lane?.sent(seq);
    if (inLane && (!own || inLane.sentMs > own.sentAtMs)) return this.#resendFromLane(seq, inLane.timestamp, transportWide);
    if (!own || !this.#sendingAt(performance.now())) return 0;
    const { packet } = own;
    const payloadOffset = rtpHeaderLength(packet);
    const bytes = this.#seal(packet, payloadOffset, seq, own.timestamp, transportWide, own.patch);
    if (bytes > 0) {
      this.#history!.resent(seq, performance.timeOrigin + performance.now());
      this.#access.countRetransmission(packet.length - payloadOffset);
    }
    return bytes;
  }

  /** Packet `seq` again from the lane's history (it was sent from C), on the send thread. */
  #resendFromLane(seq: number, timestamp: number, transportWide?: { id: number; sequenceNumber: number }): number {
    if (!this.laneReady()) return 0;
    const fields = this.#fields;
    fields.sequenceNumber = seq;
    fields.timestamp = timestamp;
    fields.transportWide = transportWide;
    const headerLength = writeHeader(this.#header, NO_BITS, fields);
    nativeSendBatch?.flush(); // nothing queued before it for the viewer is overtaken
    const bytes = this.#lane!.resend(seq, this.#header, headerLength, this.#rollover.of(seq));
    if (bytes <= 0) return 0;
    this.#access.countDirectSend(this.#routeNow!.route, bytes);
    this.#access.countRetransmission(bytes - headerLength - GCM_TAG_LENGTH);
    return bytes;
  }

  /**
   * A padding-only packet of `size` bytes of padding (1–255) as packet `seq`: what a bandwidth probe sends.
   * The browser drops it after counting it in its transport-wide feedback.
   */
  writePadding(size: number, seq: number, timestamp: number, transportWide?: { id: number; sequenceNumber: number }): number {
    if (!this.#sendingAt(performance.now())) return 0;
    const padding = Math.max(1, Math.min(MAX_PADDING, Math.round(size)));
    const packet = Buffer.alloc(FIXED_HEADER_LENGTH + padding);
    packet[0] = 0xa0; // version 2, padding
    packet[packet.length - 1] = padding;
    return this.#seal(packet, FIXED_HEADER_LENGTH, seq, timestamp, transportWide);
  }

  /** Encrypts the packet as this viewer's and sends it; returns the bytes on the wire (0: not sent). */
  #seal(
    packet: Buffer, payloadOffset: number, seq: number, timestamp: number, transportWide?: { id: number; sequenceNumber: number },
    patch: PayloadPatch = NO_PATCH,
  ): number {
    const access = this.#access;
    const fields = this.#fields;
    fields.sequenceNumber = seq;
    fields.timestamp = timestamp;
    fields.transportWide = transportWide;
    const headerLength = writeHeader(this.#header, packet, fields);
    const armed = this.#nativeArmed;
    if ((this.#held.length > 0 || (!armed && this.#queuedInNode > 0)) && this.#nativeContext && !this.#holdOff) {
      if (this.#held.length < MAX_HELD) {
        this.#held.push({
          packet, payloadOffset, seq, timestamp, patch,
          transportWideId: transportWide?.id ?? 0, transportWideSeq: transportWide?.sequenceNumber ?? 0,
        });
        return headerLength + packet.length - payloadOffset + GCM_TAG_LENGTH;
      }
      // werift has not finished that send by now: the held packets and the rest go through it, in order.
      this.#holdOff = true;
      this.#sendHeld();
      return this.#seal(packet, payloadOffset, seq, timestamp, transportWide, patch);
    }
    const rolloverCounter = this.#rollover.of(seq & 0xffff);
    const route = armed && this.#queuedInNode === 0 ? this.#routeNow : undefined; // read with #sendingAt()
    if (route) {
      // Counted when queued: werift's sender reports and stats read the counts now, not when the thread sends.
      // Batched (one call into C for every viewer of this packet) where it can be; what is sent any other
      // way waits for the batch first, so that nothing overtakes it.
      const sent = route.socketId !== 0 && this.#nativeContextId !== 0 && SendBatch.fits(headerLength, route.target, payloadOffset)
        ? nativeSendBatch!.add(this.#nativeContextId, route.socketId, route.target, this.#header, headerLength, packet, payloadOffset, rolloverCounter, patch)
        : (nativeSendBatch?.flush(), route.socket
          ? nativeSrtp!.queue(this.#nativeContext!, route.socket, route.target, this.#header, headerLength, packet, payloadOffset, rolloverCounter, patch)
          : nativeSrtp!.sendWithHeader(this.#nativeContext!, route.fd, route.target, this.#header.subarray(0, headerLength), packet.subarray(payloadOffset), rolloverCounter, patch));
      if (sent > 0) {
        access.countDirectSend(route.route, sent);
        return sent;
      }
      // The socket's buffer is full (a send on this thread) or the socket closed: Node's send below queues the
      // packet (and the ones after it) instead of dropping it.
    }
    // Nothing sent from JavaScript may overtake this viewer's packets still queued for the send thread; one
    // stuck that long (a socket that takes nothing) loses this packet rather than the order.
    nativeSendBatch?.flush();
    if (this.#nativeContext && !nativeSrtp!.settle(this.#nativeContext)) return 0;
    const srtp = this.#srtp.seal(Buffer.from(this.#header.subarray(0, headerLength)), patchedPayload(packet.subarray(payloadOffset), patch), rolloverCounter);
    const sending = access.sendThroughWerift(srtp);
    if (this.#nativeContext) {
      // Every packet in werift's (asynchronous) path is counted: the addon sends only once none is left, so
      // that no packet overtakes another (a joiner's GOP would arrive out of order).
      this.#queuedInNode++;
      if (!armed) sending.then(this.#armNative, ignore);
      sending.then(this.#sentByNode, this.#sentByNode);
    } else {
      sending.catch(ignore);
    }
    return srtp.length;
  }

  /** The held packets, in order: by the addon once it is armed, else (werift's send failed) through werift again. */
  #sendHeld(): void {
    const held = this.#held;
    this.#held = [];
    const transportWide = this.#heldTransportWide;
    for (const entry of held) {
      transportWide.id = entry.transportWideId;
      transportWide.sequenceNumber = entry.transportWideSeq;
      this.#seal(entry.packet, entry.payloadOffset, entry.seq, entry.timestamp, entry.transportWideId === 0 ? undefined : transportWide, entry.patch);
    }
  }

  /**
   * The selected pair's UDP socket and remote address while werift's consent allows sending, kept until the
   * pair changes; undefined when the addon cannot send there (TCP, a host name, werift's layout), and
   * JavaScript sends instead.
   */
  #routeForNative(): NativeRoute | undefined {
    if (!this.#nativeContext) return undefined;
    const route = this.#access.iceRoute();
    if (!route) return undefined;
    if (this.#routedPair === route.pair) return this.#nativeRoute;
    this.#routedPair = route.pair;
    const native = nativeRouteOf(route);
    this.#nativeRoute = typeof native === 'string' ? undefined : native;
    return this.#nativeRoute;
  }
}

/** Where the addon sends on `route`, or why it cannot (then JavaScript sends). */
function nativeRouteOf(route: IceRoute): NativeRoute | string {
  const socket = route.socket as Parameters<typeof udpSocketFd>[0] | undefined;
  if (!socket || !route.local) return 'the ICE pair is not UDP';
  if (!isSendableAddress(route.remoteAddress)) return 'the remote address is not an IP address';
  const fd = udpSocketFd(socket);
  if (fd === undefined) return `werift's UDP socket was not found among the open descriptors`;
  try {
    // Without its own duplicate of the socket (none left?) the addon sends on this thread, from werift's.
    const handle = nativeSendThread ? udpSocketHandle(socket) : undefined;
    const socketId = handle && nativeSendBatch ? nativeSrtp!.handleId(handle) : 0;
    return { route, fd, socket: handle, socketId, target: nativeSrtp!.target(route.remoteAddress, route.remotePort) };
  } catch (error) {
    return `the remote address ${route.remoteAddress} port ${route.remotePort} is not one the addon can send to: ${(error as Error).message}`;
  }
}
