import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { MediaStream, MediaStreamTrack, type RTCPeerConnection } from 'werift';
import type { Rendition, StreamTrack } from '../fanout/stream-track.ts';
import { SignalingError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { VideoSenderStats } from '../sender/video-sender.ts';
import type { VideoCodec } from '../types.ts';
import { MIME_TYPES, opusCodecParameters, rtpCodecParameters } from '../werift/codecs.ts';
import { createPeerConnection, prepareDtls, type PeerSettings as PeerConnectionSettings } from '../werift/peer-connection.ts';
import { senderCounts } from '../werift/sender-stats.ts';
import { useKeyObjectsForSrtp } from '../werift/srtp-keys.ts';
import { iceUfragOf, type IceFragment } from './ice-fragment.ts';
import { bindMediaSenders, type MediaSenders, type SendPath } from './media-senders.ts';

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
  sendPath: SendPath | undefined;
  /**
   * How its own link is served (docs/real-networks.md): the rendition it gets (0: the top), the link's
   * estimate in bit/s (from the browser's transport-wide feedback; undefined without it), the rendition
   * switches, the NACKs answered and refused, picture losses answered, and the pacer's queue. Undefined
   * before it connects, or on werift's own send path.
   */
  video: VideoSenderStats | undefined;
}

export type Signaling = 'offer' | 'whep';

/** How each viewer's peer connection is set up. */
export interface PeerSettings extends PeerConnectionSettings {
  /** Seconds a viewer has to connect (ICE + DTLS) before it is dropped. */
  connectTimeout: number;
  /** The estimate of a viewer's link before any feedback, bit/s: it starts on the best rendition this carries. */
  startBitrate: number;
}

/** What a viewer watches: the source's video track, and its audio when the stream has some. */
export interface ViewerMedia {
  /** The video's renditions, top first, once the source has decided them. */
  renditions(): Promise<readonly Rendition[]>;
  audio: StreamTrack | undefined;
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
 * One browser watching the stream: its own werift peer connection. Once it is connected, its senders bind
 * to the source's tracks (the fan-out); the viewer closes itself when ICE fails, stays disconnected, or
 * never connects, and unbinds. `'close'` says so once.
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
  readonly #media: ViewerMedia;
  readonly #codec: VideoCodec;
  readonly #startBitrate: number;
  readonly #logger: Logger;
  /** A viewer that has not connected by then never will: its browser gave up or cannot reach us. */
  readonly #connectTimeoutMs: number;
  /** The werift tracks negotiated for this viewer (video, and audio if both sides want it). */
  readonly #tracks: MediaStreamTrack[] = [];
  /** Its senders, bound to the source's tracks once connected. */
  #senders: MediaSenders | undefined;
  /** Its stats as they were when it closed (werift's counters go with its peer connection). */
  #finalStats: ViewerStats | undefined;
  #state: ViewerState = 'connecting';
  #connectedAt: number | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #disconnectTimer: NodeJS.Timeout | undefined;
  #livenessTimer: NodeJS.Timeout | undefined;
  /** When this viewer's browser last sent RTCP, or when it connected; 0 before. */
  #lastRtcpAt = 0;
  /** The offer's ICE username fragment: a trickled fragment with another one is an ICE restart. */
  #remoteUfrag: string | undefined;

  private constructor(pc: RTCPeerConnection, media: ViewerMedia, settings: PeerSettings, logger: Logger) {
    super();
    this.#pc = pc;
    this.#media = media;
    this.#codec = settings.codec;
    this.#startBitrate = settings.startBitrate;
    this.#logger = logger;
    this.#connectTimeoutMs = settings.connectTimeout * 1000;
  }

  /**
   * Answers a browser's offer: a new peer connection that sends the video, and the audio (Opus) if the
   * stream has some and the offer has an audio section (else that section is answered inactive). Throws a
   * SignalingError (4xx) for an offer we cannot serve; never leaves a peer connection behind when it throws.
   */
  static async answer(
    offer: SessionDescription,
    media: ViewerMedia,
    settings: PeerSettings,
    logger: Logger,
  ): Promise<{ viewer: Viewer; answer: SessionDescription }> {
    const withAudio = media.audio !== undefined && offersAudio(offer);
    const pc = createPeerConnection(settings, { audio: withAudio });
    const viewer = new Viewer(pc, media, settings, logger);
    try {
      await viewer.#negotiate(offer, settings.codec, withAudio);
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

  stats(): ViewerStats {
    if (this.#finalStats) return { ...this.#finalStats, state: this.#state };
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
      sendPath: this.#senders?.sendPath,
      video: this.#senders?.videoSender?.stats(),
    };
    const now = Date.now();
    for (const { sender } of this.#pc.getTransceivers()) {
      const counts = senderCounts(sender, now);
      stats.packetsSent += counts.packetsSent;
      stats.bytesSent += counts.bytesSent;
      stats.nackCount += counts.nackCount;
      stats.pliCount += counts.pliCount;
      stats.packetsLost += counts.packetsLost;
      if (counts.roundTripTime !== undefined && sender.kind === 'video') {
        stats.roundTripTimeMs = Math.round(counts.roundTripTime * 10_000) / 10;
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
    this.#finalStats = this.stats();
    this.#state = 'closed';
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#disconnectTimer);
    clearInterval(this.#livenessTimer);
    this.#senders?.stop();
    try {
      await this.#pc.close();
    } catch (error) {
      this.#logger.warn(`viewer ${this.id}: closing its peer connection failed: ${(error as Error).message}`);
    }
    for (const track of this.#tracks) track.stop();
    this.emit('close');
  }

  async #negotiate(offer: SessionDescription, codec: VideoCodec, withAudio: boolean): Promise<void> {
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
    const videoTrack = new MediaStreamTrack({ kind: 'video', codec: rtpCodecParameters(codec) });
    const audioTrack = withAudio ? new MediaStreamTrack({ kind: 'audio', codec: opusCodecParameters() }) : undefined;
    this.#tracks.push(videoTrack, ...(audioTrack ? [audioTrack] : []));
    // addTrack after the remote offer reuses the transceiver the offer created (werift notes §3.3).
    // Picture and sound in one stream: the page plays `streams[0]` and the browser keeps them in sync.
    const stream = new MediaStream(this.#tracks);
    const sender = this.#pc.addTrack(videoTrack, stream);
    if (audioTrack && this.#pc.getTransceivers().some((transceiver) => transceiver.kind === 'audio')) {
      this.#pc.addTrack(audioTrack, stream);
    }
    sender.onRtcp.subscribe(() => {
      this.#lastRtcpAt = Date.now();
    });
    prepareDtls(this.#pc, video);
    await this.#pc.setLocalDescription(await this.#pc.createAnswer());
    if (video.rejected || video.stopped) {
      throw new SignalingError(
        406,
        `the browser cannot receive ${MIME_TYPES[codec]} (its offer lists no such codec); try codec "vp8"`,
      );
    }
  }

  /** Connected: its senders bind to the source's tracks (lib/session/media-senders.ts). */
  async #startMedia(): Promise<void> {
    const renditions = await this.#media.renditions();
    if (this.#state === 'closed' || renditions.length === 0) return;
    this.#senders = bindMediaSenders(this.#pc, renditions, this.#media.audio, {
      codec: this.#codec,
      startBitrate: this.#startBitrate,
      logger: this.#logger,
      label: `viewer ${this.id}`,
    });
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
    // A transport that closes or fails after connecting (an authenticated close_notify or fatal alert: the
    // browser left, or broke the session) ends the viewer at once: werift's connection state does not follow
    // it, and the viewer would stay "connected" without media.
    for (const transport of this.#pc.dtlsTransports) {
      transport.onStateChange.subscribe((state) => {
        if (this.#state === 'closed' || (state !== 'closed' && state !== 'failed')) return;
        this.#logger.info(`viewer ${this.id}: its DTLS transport is ${state}; dropped`);
        void this.close();
      });
    }
    this.#pc.connectionStateChange.subscribe((state) => {
      if (this.#state === 'closed') return;
      this.#logger.debug(`viewer ${this.id}: ${state}`);
      if (state === 'connected') {
        clearTimeout(this.#connectTimer);
        clearTimeout(this.#disconnectTimer);
        const first = this.#connectedAt === undefined;
        this.#connectedAt ??= Date.now();
        this.#lastRtcpAt ||= Date.now();
        this.#state = 'connected';
        if (!first) return;
        const keys = useKeyObjectsForSrtp(this.#pc);
        this.#logger.debug(`viewer ${this.id}: ${keys} SRTP keys on the fast path`);
        void this.#startMedia().catch((error: Error) => this.#logger.error(`viewer ${this.id}: ${error.stack}`));
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
