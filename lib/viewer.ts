import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { MediaStream, RTCPeerConnection, type MediaStreamTrack } from 'werift';
import { MIME_TYPES, opusCodecParameters, rtpCodecParameters } from './codecs.ts';
import { SignalingError } from './errors.ts';
import { iceUfragOf, type IceFragment } from './ice-fragment.ts';
import { keepEarlyDtlsPackets } from './early-dtls.ts';
import { DirectRtpSender, trackSink, type RtpSink } from './rtp-sender.ts';
import { warnNativeSrtpUnused } from './native/index.ts';
import { useKeyObjectsForSrtp } from './srtp-keys.ts';
import type { Logger } from './logger.ts';
import type { IceServer, VideoCodec } from './options.ts';

export type ViewerState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface ViewerStats {
  /** A public name for this viewer (not its session id, which alone can end the session). */
  id: string;
  state: ViewerState;
  /** How it signalled: vidgear's `POST /offer` or WHEP. */
  signaling: Signaling;
  /** When the offer arrived (ms since epoch). */
  createdAt: number;
  /** Connected since (ms since epoch), if it did connect. */
  connectedAt: number | undefined;
  /** RTP packets and bytes sent to this viewer (video and audio, retransmissions included). */
  packetsSent: number;
  bytesSent: number;
  /** Round-trip time from the viewer's last RTCP receiver report, in ms. */
  roundTripTimeMs: number | undefined;
  /** Packets the viewer reported lost (RTCP), and its NACKs and picture-loss requests (PLI). */
  packetsLost: number;
  nackCount: number;
  pliCount: number;
  /**
   * How its packets are sent once connected: `native` (the server's own SRTP send path, encrypted and sent
   * by the addon built at install: the usual case), `direct` (the same path in JavaScript: the addon was
   * not built or `WEBGEAR_NATIVE=0`) or `werift` (werift's per-packet path: another SRTP profile was
   * negotiated). Undefined before.
   */
  sendPath: 'native' | 'direct' | 'werift' | undefined;
}

export type Signaling = 'offer' | 'whep';

/** How each viewer's peer connection is set up. */
export interface PeerSettings {
  codec: VideoCodec;
  iceServers: IceServer[];
  iceAdditionalHostAddresses: string[];
  icePortRange: [number, number] | undefined;
  /** Seconds a viewer has to connect (ICE + DTLS) before it is dropped. */
  connectTimeout: number;
}

/** A `disconnected` ICE state that lasts this long is treated as gone (ICE itself waits ~30 s). */
export const DISCONNECTED_GRACE_MS = 5_000;
/**
 * Browsers send RTCP receiver reports about every second, even while no media arrives (Chromium:
 * gaps ≤ 1.5 s measured). This long without any means the browser is gone (crashed, killed, asleep):
 * dropped here instead of after ICE consent's 30 s.
 */
export const RTCP_SILENCE_LIMIT_MS = 8_000;

/** The session description a client sends: `{sdp, type}` as produced by `RTCPeerConnection.createOffer()`. */
export interface SessionDescription {
  sdp: string;
  type: 'offer' | 'answer';
}

/** Whether an offer has an audio section (a browser that added an audio transceiver, or a WHEP player). */
export const offersAudio = (offer: SessionDescription): boolean => /^m=audio /m.test(offer.sdp);

/**
 * One browser watching the stream: its own werift peer connection whose sender reads the viewer's track.
 * The viewer closes itself when ICE fails, stays disconnected, or never connects; `'close'` says so once.
 */
export class Viewer extends EventEmitter<{ close: []; connected: [] }> {
  /** Shown in stats and logs. */
  readonly id = randomUUID().slice(0, 8);
  /** Known only to the viewer's client: it ends the session (`/close_connection`, WHEP `DELETE`). */
  readonly sessionId = randomUUID();
  /** WHEP's entity tag of the session's ICE state; a restart would change it. */
  readonly etag = `"${randomUUID().slice(0, 8)}"`;
  readonly createdAt = Date.now();
  signaling: Signaling = 'offer';
  readonly #pc: RTCPeerConnection;
  readonly #logger: Logger;
  /** A viewer that has not connected by then never will: its browser gave up or cannot reach us. */
  readonly #connectTimeoutMs: number;
  #state: ViewerState = 'connecting';
  #connectedAt: number | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #disconnectTimer: NodeJS.Timeout | undefined;
  #livenessTimer: NodeJS.Timeout | undefined;
  /** When this viewer's browser last sent RTCP, or when it connected; 0 before. */
  #lastRtcpAt = 0;
  /** The offer's ICE username fragment: a trickled fragment with another one is an ICE restart. */
  #remoteUfrag: string | undefined;
  #sendPath: ViewerStats['sendPath'];

  private constructor(pc: RTCPeerConnection, logger: Logger, connectTimeoutMs: number) {
    super();
    this.#pc = pc;
    this.#logger = logger;
    this.#connectTimeoutMs = connectTimeoutMs;
  }

  /**
   * Answers a browser's offer: a new peer connection that sends `track`, and `audio` (Opus) if given and
   * the offer has an audio section (else that section is answered inactive). Throws a SignalingError
   * (4xx) for an offer we cannot serve; never leaves a peer connection behind when it throws.
   */
  static async answer(
    offer: SessionDescription,
    track: MediaStreamTrack,
    settings: PeerSettings,
    logger: Logger,
    audio?: MediaStreamTrack,
  ): Promise<{ viewer: Viewer; answer: SessionDescription }> {
    const pc = new RTCPeerConnection({
      codecs: { audio: audio ? [opusCodecParameters()] : [], video: [rtpCodecParameters(settings.codec)] },
      iceServers: settings.iceServers,
      iceAdditionalHostAddresses: settings.iceAdditionalHostAddresses,
      ...(settings.icePortRange ? { icePortRange: settings.icePortRange } : {}),
      iceUseIpv6: false, // one socket per viewer instead of two
    });
    const viewer = new Viewer(pc, logger, settings.connectTimeout * 1000);
    try {
      await viewer.#negotiate(offer, track, settings.codec, audio);
    } catch (error) {
      await viewer.close();
      throw error;
    }
    viewer.#watch();
    return { viewer, answer: { type: 'answer', sdp: pc.localDescription!.sdp } };
  }

  get state(): ViewerState {
    return this.#state;
  }

  get peerConnection(): RTCPeerConnection {
    return this.#pc;
  }

  /**
   * Where the stream's packets go for this viewer, once connected: one sink per sending track (video, and
   * audio if negotiated), each the direct sender (rtp-sender.ts) or, where it cannot be used, the track.
   */
  rtpSinks(): RtpSink[] {
    const sinks: RtpSink[] = [];
    for (const { sender } of this.#pc.getTransceivers()) {
      const track = sender.track;
      if (!track || sender.stopped) continue;
      const direct = DirectRtpSender.attach(sender);
      if (!direct) this.#logger.debug(`viewer ${this.id}: ${track.kind} goes through werift's sender`);
      if (direct?.nativeProblem) warnNativeSrtpUnused(this.#logger, direct.nativeProblem);
      sinks.push(direct ?? trackSink(track));
      this.#sendPath = !direct || this.#sendPath === 'werift' ? 'werift' : direct.native ? 'native' : 'direct';
    }
    return sinks;
  }

  stats(): ViewerStats {
    const stats: ViewerStats = {
      id: this.id,
      state: this.#state,
      signaling: this.signaling,
      createdAt: this.createdAt,
      connectedAt: this.#connectedAt,
      packetsSent: 0,
      bytesSent: 0,
      roundTripTimeMs: undefined,
      packetsLost: 0,
      nackCount: 0,
      pliCount: 0,
      sendPath: this.#sendPath,
    };
    if (this.#state === 'closed') return stats;
    const now = Date.now();
    for (const { sender } of this.#pc.getTransceivers()) {
      // collectStats is werift's synchronous getStats() (without the transport's part).
      for (const entry of sender.collectStats(now) as unknown as Record<string, unknown>[]) {
        const number = (key: string) => (typeof entry[key] === 'number' ? (entry[key] as number) : 0);
        if (entry.type === 'outbound-rtp') {
          stats.packetsSent += number('packetsSent');
          stats.bytesSent += number('bytesSent');
          stats.nackCount += number('nackCount');
          stats.pliCount += number('pliCount');
        } else if (entry.type === 'remote-inbound-rtp') {
          stats.packetsLost += number('packetsLost');
          if (typeof entry.roundTripTime === 'number' && entry.kind === 'video') {
            stats.roundTripTimeMs = Math.round(entry.roundTripTime * 10_000) / 10;
          }
        }
      }
    }
    return stats;
  }

  /**
   * Adds candidates trickled by the viewer (WHEP `PATCH`). Throws a 422 SignalingError for an ICE restart
   * (a new ufrag), which werift cannot do on an answering connection.
   */
  addCandidates(fragment: IceFragment): void {
    if (fragment.iceUfrag !== undefined && this.#remoteUfrag !== undefined && fragment.iceUfrag !== this.#remoteUfrag) {
      // WHEP: a session that supports trickle but not restart answers 422.
      throw new SignalingError(422, 'ICE restart is not supported: start a new session (POST the offer again)');
    }
    for (const candidate of fragment.candidates) {
      // Not awaited: werift resolves a browser's mDNS (.local) candidate for up to 10 s, and the
      // connection mostly comes up without trickled candidates (the server's own are in the answer).
      this.#pc.addIceCandidate(candidate).catch((error: Error) => {
        this.#logger.debug(`viewer ${this.id}: candidate ${candidate.candidate} not used: ${error.message}`);
      });
    }
  }

  /** Ends this viewer's peer connection; the other viewers are untouched. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#disconnectTimer);
    clearInterval(this.#livenessTimer);
    try {
      await this.#pc.close();
    } catch (error) {
      this.#logger.warn(`viewer ${this.id}: closing its peer connection failed: ${(error as Error).message}`);
    }
    this.emit('close');
  }

  async #negotiate(
    offer: SessionDescription,
    track: MediaStreamTrack,
    codec: VideoCodec,
    audio: MediaStreamTrack | undefined,
  ): Promise<void> {
    this.#remoteUfrag = iceUfragOf(offer.sdp);
    try {
      await this.#pc.setRemoteDescription(offer);
    } catch (error) {
      throw new SignalingError(400, `the offer's SDP could not be used: ${(error as Error).message}`);
    }
    const video = this.#pc.getTransceivers().find((transceiver) => transceiver.kind === 'video');
    if (!video) {
      throw new SignalingError(400, 'the offer has no video section: add a recvonly video transceiver');
    }
    // addTrack after the remote offer reuses the transceiver the offer created (werift notes §3.3).
    // Picture and sound in one stream: the page plays `streams[0]` and the browser keeps them in sync.
    const stream = new MediaStream(audio ? [track, audio] : [track]);
    const sender = this.#pc.addTrack(track, stream);
    if (audio && this.#pc.getTransceivers().some((transceiver) => transceiver.kind === 'audio')) {
      this.#pc.addTrack(audio, stream);
    }
    sender.onRtcp.subscribe(() => {
      this.#lastRtcpAt = Date.now();
    });
    // Answer as the DTLS server (a=setup:passive, allowed by RFC 8842): the browser sends its ClientHello
    // the moment ICE connects. As the client, werift waits a fixed 100 ms before its ClientHello.
    if (video.dtlsTransport.role === 'auto') video.dtlsTransport.role = 'server';
    // …and keep that ClientHello if it comes before werift listens (it would wait for a resend).
    keepEarlyDtlsPackets(this.#pc);
    await this.#pc.setLocalDescription(await this.#pc.createAnswer());
    if (video.rejected || video.stopped) {
      throw new SignalingError(
        406,
        `the browser cannot receive ${MIME_TYPES[codec]} (its offer lists no such codec); try codec "vp8"`,
      );
    }
  }

  #watch(): void {
    this.#connectTimer = setTimeout(() => {
      this.#logger.info(`viewer ${this.id}: not connected after ${this.#connectTimeoutMs} ms; dropped`);
      void this.close();
    }, this.#connectTimeoutMs);
    // Armed on connecting: every WebRTC receiver sends RTCP receiver reports (Chromium every ≤ 1.5 s, werift
    // every 0.5–1.5 s), so one silent for 8 s since it connected or last reported has gone, even one that
    // left before its first report.
    this.#livenessTimer = setInterval(() => {
      if (this.#lastRtcpAt && Date.now() - this.#lastRtcpAt > RTCP_SILENCE_LIMIT_MS) {
        this.#logger.info(`viewer ${this.id}: no RTCP for ${RTCP_SILENCE_LIMIT_MS} ms, its browser is gone; dropped`);
        void this.close();
      }
    }, 1_000).unref();
    this.#pc.connectionStateChange.subscribe((state) => {
      if (this.#state === 'closed') return;
      this.#logger.debug(`viewer ${this.id}: ${state}`);
      if (state === 'connected') {
        clearTimeout(this.#connectTimer);
        clearTimeout(this.#disconnectTimer);
        this.#connectedAt ??= Date.now();
        this.#lastRtcpAt ||= Date.now();
        this.#state = 'connected';
        const keys = useKeyObjectsForSrtp(this.#pc);
        this.#logger.debug(`viewer ${this.id}: ${keys} SRTP keys on the fast path`);
        this.emit('connected');
      } else if (state === 'disconnected') {
        this.#state = 'disconnected';
        clearTimeout(this.#disconnectTimer);
        this.#disconnectTimer = setTimeout(() => void this.close(), DISCONNECTED_GRACE_MS);
      } else if (state === 'failed' || state === 'closed') {
        void this.close();
      }
    });
  }
}
