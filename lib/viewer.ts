import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { MediaStream, RTCPeerConnection, type MediaStreamTrack } from 'werift';
import { MIME_TYPES, rtpCodecParameters } from './codecs.ts';
import { SignalingError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { IceServer, VideoCodec } from './options.ts';

export type ViewerState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface ViewerStats {
  id: string;
  state: ViewerState;
  /** When the offer arrived (ms since epoch). */
  createdAt: number;
  /** When media could first flow (ms since epoch), if it did. */
  connectedAt: number | undefined;
}

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

/**
 * One browser watching the stream: its own werift peer connection whose sender reads the viewer's track.
 * The viewer closes itself when ICE fails, stays disconnected, or never connects; `'close'` says so once.
 */
export class Viewer extends EventEmitter<{ close: []; connected: [] }> {
  readonly id = randomUUID();
  readonly createdAt = Date.now();
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

  private constructor(pc: RTCPeerConnection, logger: Logger, connectTimeoutMs: number) {
    super();
    this.#pc = pc;
    this.#logger = logger;
    this.#connectTimeoutMs = connectTimeoutMs;
  }

  /**
   * Answers a browser's offer: a new peer connection that sends `track`. Throws a SignalingError (4xx)
   * for an offer we cannot serve; never leaves a peer connection behind when it throws.
   */
  static async answer(
    offer: SessionDescription,
    track: MediaStreamTrack,
    settings: PeerSettings,
    logger: Logger,
  ): Promise<{ viewer: Viewer; answer: SessionDescription }> {
    const pc = new RTCPeerConnection({
      codecs: { audio: [], video: [rtpCodecParameters(settings.codec)] },
      iceServers: settings.iceServers,
      iceAdditionalHostAddresses: settings.iceAdditionalHostAddresses,
      ...(settings.icePortRange ? { icePortRange: settings.icePortRange } : {}),
      iceUseIpv6: false, // one socket per viewer instead of two
    });
    const viewer = new Viewer(pc, logger, settings.connectTimeout * 1000);
    try {
      await viewer.#negotiate(offer, track, settings.codec);
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
    return { id: this.id, state: this.#state, createdAt: this.createdAt, connectedAt: this.#connectedAt };
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

  async #negotiate(offer: SessionDescription, track: MediaStreamTrack, codec: VideoCodec): Promise<void> {
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
    const sender = this.#pc.addTrack(track, new MediaStream([track]));
    sender.onRtcp.subscribe(() => {
      this.#lastRtcpAt = Date.now();
    });
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
