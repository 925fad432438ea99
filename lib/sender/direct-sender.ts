/**
 * One viewer's sender, fed without werift's per-packet path. werift copies each packet twice, dispatches it
 * through events and promises, builds an NTP time from strings, and concatenates buffers: about 25 µs per
 * packet per viewer on top of the encryption and the send (docs/benchmarks.md). This does only what a
 * packet needs: the viewer's SSRC and payload type in a copy of the header, AES-GCM (RFC 7714), one UDP send
 * on the connection werift chose — in C when the addon is there (lib/native/), else in JavaScript. It keeps
 * what werift reads elsewhere right (through the adapter, lib/werift/sender-access.ts): the sender report's
 * counters and times, the transport's counters, and retransmissions for the viewer's NACKs.
 */
import { performance } from 'node:perf_hooks';
import type { RTCRtpSender } from 'werift';
import { isSendableAddress, nativeSrtp, socketFd } from '../native/index.ts';
import { rtpHeaderLength, sequenceNumberOf, timestampOf } from '../rtp/rtp-packet.ts';
import { SenderAccess, type IceRoute } from '../werift/sender-access.ts';
import { RolloverCounter } from './rollover-counter.ts';
import type { RtpSink } from './rtp-sink.ts';
import { SrtpGcmEncryptor } from './srtp-gcm.ts';

/** Packets kept for NACKed retransmissions: about 2 s of 720p at 130 packets/s. */
const RETRANSMIT_HISTORY = 256;
/** Seconds between 1900 (NTP's epoch) and 1970. */
const NTP_EPOCH_OFFSET_S = 2_208_988_800;
const ignore = (): void => {};

/** Where the addon sends a viewer's packets: the selected pair's socket and remote address. */
interface NativeRoute {
  route: IceRoute;
  fd: number;
  target: Buffer;
}

/**
 * A wall-clock time (ms since 1970) as a 64-bit NTP timestamp: seconds since 1900 and a 32-bit fraction,
 * modulo 2^64 (NTP era 1 starts in February 2036; werift writes the value as an unsigned 64-bit integer).
 */
export function ntpTimestampOf(ms: number): bigint {
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 0x1_0000_0000);
  return BigInt.asUintN(64, (BigInt(seconds + NTP_EPOCH_OFFSET_S) << 32n) | BigInt(fraction));
}

export class DirectRtpSender implements RtpSink {
  readonly kind: 'audio' | 'video';
  readonly #access: SenderAccess;
  readonly #srtp: SrtpGcmEncryptor;
  readonly #history: (Buffer | undefined)[] = new Array(RETRANSMIT_HISTORY);
  readonly #rollover = new RolloverCounter();
  #lastSentAtMs = 0;
  /** The addon's AES-GCM context for this viewer's key, if the addon is there. */
  readonly #nativeContext: object | undefined;
  /** The pair #nativeRoute was worked out for: a route is looked up again only when the pair changes. */
  #routedPair: object | undefined;
  #nativeRoute: NativeRoute | undefined;
  /**
   * The addon sends only once a first packet went out through werift: werift's last DTLS flight (its
   * Finished) is still queued in its async send path when it says "connected", and an SRTP packet sent
   * ahead of it reaches a viewer that cannot decrypt it yet: the joiner's GOP replay would be lost.
   */
  #nativeArmed = false;
  readonly #armNative = (): void => {
    this.#nativeArmed = true;
  };

  private constructor(kind: 'audio' | 'video', access: SenderAccess, native: boolean) {
    this.kind = kind;
    this.#access = access;
    this.#nativeContext = native
      ? nativeSrtp?.context(access.key.export(), access.salt, access.ssrc, access.payloadType)
      : undefined;
    this.#srtp = new SrtpGcmEncryptor(access);
    access.useNtpClock(() => ntpTimestampOf(this.#lastSentAtMs || performance.timeOrigin + performance.now()));
    access.onNack((lost) => {
      for (const seq of lost) this.#retransmit(seq);
    });
  }

  /**
   * The direct sender for a connected werift sender, or why werift's own path is needed (another SRTP
   * profile, header extensions, RTX or RED negotiated, or a werift layout the adapter does not know).
   * `native: false` keeps it in JavaScript even where the addon is there (tests compare both).
   */
  static attach(sender: RTCRtpSender, { native = true }: { native?: boolean } = {}): DirectRtpSender | string {
    const access = SenderAccess.of(sender);
    if (typeof access === 'string') return access;
    return new DirectRtpSender(sender.kind === 'audio' ? 'audio' : 'video', access, native);
  }

  /** Whether packets are encrypted and sent by the native addon (lib/native/). */
  get native(): boolean {
    return this.#nativeContext !== undefined;
  }

  send(packet: Buffer): void {
    if (!this.#access.sending) return;
    const seq = sequenceNumberOf(packet);
    const headerLength = rtpHeaderLength(packet);
    if (headerLength === 0 || !this.#encryptAndSend(packet, seq, headerLength)) return;
    this.#history[seq % RETRANSMIT_HISTORY] = packet;
    this.#lastSentAtMs = performance.timeOrigin + performance.now();
    this.#access.countRtp(timestampOf(packet), packet.length - headerLength, headerLength);
  }

  #retransmit(seq: number): void {
    const packet = this.#history[seq % RETRANSMIT_HISTORY];
    if (!packet || sequenceNumberOf(packet) !== seq || !this.#access.sending) return;
    const headerLength = rtpHeaderLength(packet);
    if (this.#encryptAndSend(packet, seq, headerLength)) this.#access.countRetransmission(packet.length - headerLength);
  }

  /** Encrypts `packet` as this viewer's and sends it; false if it could not be. */
  #encryptAndSend(packet: Buffer, seq: number, headerLength: number): boolean {
    const rolloverCounter = this.#rollover.of(seq);
    const route = this.#nativeArmed && this.#routeForNative();
    if (route) {
      const sent = nativeSrtp!.send(this.#nativeContext!, route.fd, route.target, packet, headerLength, rolloverCounter);
      if (sent > 0) {
        this.#access.countDirectSend(route.route, sent);
        return true;
      }
      // The socket's buffer is full (a joiner's GOP replay comes as one burst): Node's send below queues
      // the packet instead of dropping it, as it did before the addon.
    }
    const sending = this.#access.sendThroughWerift(this.#srtp.encrypt(packet, headerLength, rolloverCounter));
    if (this.#nativeContext && !this.#nativeArmed) sending.then(this.#armNative, ignore);
    else sending.catch(ignore);
    return true;
  }

  /**
   * The selected pair's UDP socket and remote address while werift's consent allows sending, kept until the
   * pair changes; undefined when the addon cannot send there (TCP, a host name, werift's layout), and
   * JavaScript sends instead.
   */
  #routeForNative(): NativeRoute | undefined {
    const route = this.#access.iceRoute();
    if (!route) return undefined;
    if (this.#routedPair === route.pair) return this.#nativeRoute;
    this.#routedPair = route.pair;
    const fd = route.socket ? socketFd(route.socket as never) : undefined;
    this.#nativeRoute = fd !== undefined && isSendableAddress(route.remoteAddress)
      ? { route, fd, target: nativeSrtp!.target(route.remoteAddress, route.remotePort) }
      : undefined;
    return this.#nativeRoute;
  }
}
