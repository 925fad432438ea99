/**
 * One WebRTC connection that sends us the picture: a WHIP publisher (we answer its offer) or a WHEP origin
 * (we offer, it answers). Its video arrives per layer (one, or a browser's simulcast encodings, by RID),
 * its Opus as audio, each packet as a fresh RTP buffer with a 12-byte header (its connection's extensions
 * dropped). We send it what a receiver owes: transport-wide feedback (publishers), NACKs and receiver
 * reports (werift), and keyframe requests.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  MediaStreamTrack, RTCPeerConnection, SessionDescription, useH264, useNACK, usePLI, useRepairedRtpStreamId, useSdesMid,
  useSdesRTPStreamId, useTransportWideCC, useTWCC, useVP8, type RTCRtpTransceiver, type RtpPacket,
} from 'werift';
import { SignalingError } from '../../errors.ts';
import { TransportFeedback } from '../../ingest/transport-feedback.ts';
import type { Logger } from '../../logger.ts';
import { buildRtpPacket } from '../../rtp/rtp-packet.ts';
import { iceUfragOf, type IceFragment } from '../../session/ice-fragment.ts';
import type { VideoCodec } from '../../types.ts';
import { MIME_TYPES, opusCodecParameters } from '../../werift/codecs.ts';
import { prepareDtls, type PeerSettings } from '../../werift/peer-connection.ts';
import { enlargeReceiveBuffers } from '../../werift/receive-buffer.ts';
import { takeOverTransportFeedback } from '../../werift/receiver-feedback.ts';
import { useKeyObjectsForSrtp } from '../../werift/srtp-keys.ts';
import { TRANSPORT_WIDE_CC_URI } from '../../werift/rtcp-tap.ts';

export interface RemotePeerSettings extends PeerSettings {
  /** Whether to take the sender's audio (Opus). */
  audio: boolean;
}

/** Where a remote peer's media goes (set by whoever uses it; packets before that are dropped). */
export interface RemoteMediaHandlers {
  /** One packet of video layer `layer` (a RID, or `'video'` without simulcast), `now` in ms since 1970. */
  video(layer: string, packet: Buffer, now: number): void;
  /** A padding-only packet of that layer (a bandwidth probe): no media, but it takes a sequence number. */
  padding(layer: string, ssrc: number, sequenceNumber: number, now: number): void;
  audio(packet: Buffer): void;
}

export type RemotePeerState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/** The layer name of a track without a RID. */
const SINGLE_LAYER = 'video';

/**
 * The codec we take, with NACK, PLI and transport-cc feedback: a publisher's estimate of its uplink, and a
 * WHEP origin's of the link to us (it chooses the rendition it sends from it), need our feedback.
 */
function videoCodec(codec: VideoCodec) {
  const rtcpFeedback = [useNACK(), usePLI(), useTWCC()];
  return codec === 'vp8' ? useVP8({ rtcpFeedback }) : useH264({ rtcpFeedback });
}

export class RemotePeer extends EventEmitter<{ state: [RemotePeerState] }> {
  /** The WHIP resource's secret id (the key that ends the publication). */
  readonly id = randomUUID();
  /** WHIP's entity tag of the session. */
  readonly etag = `"${randomUUID().slice(0, 8)}"`;
  readonly createdAt = Date.now();
  readonly #pc: RTCPeerConnection;
  readonly #logger: Logger;
  #handlers: RemoteMediaHandlers | undefined;
  #feedback: TransportFeedback | undefined;
  #remoteUfrag: string | undefined;
  #state: RemotePeerState = 'new';
  #closed = false;

  private constructor(pc: RTCPeerConnection, logger: Logger) {
    super();
    this.#pc = pc;
    this.#logger = logger;
    pc.connectionStateChange.subscribe((state) => {
      if (this.#closed) return;
      // SRTP keys as KeyObjects: decrypting with werift's Buffer keys costs Node 24 ~10 µs more per packet.
      if (state === 'connected' && this.#state !== 'connected') {
        this.#logger.debug(`remote peer: ${useKeyObjectsForSrtp(pc)} SRTP keys as KeyObjects`);
      }
      this.#state = state as RemotePeerState;
      this.emit('state', this.#state);
    });
  }

  /**
   * Answers a WHIP publisher's offer. Throws a SignalingError (400 unusable offer, 406 no common codec);
   * never leaves a peer connection behind when it throws.
   */
  static async answer(offerSdp: string, settings: RemotePeerSettings, logger: Logger): Promise<{ peer: RemotePeer; answer: string }> {
    const pc = new RTCPeerConnection({
      ...peerConfig(settings),
      codecs: { video: [videoCodec(settings.codec)], audio: settings.audio ? [opusCodecParameters()] : [] },
      // MID and RID route a browser's simulcast encodings; transport-cc carries its estimate.
      headerExtensions: {
        video: [useSdesMid(), useSdesRTPStreamId(), useRepairedRtpStreamId(), useTransportWideCC()],
        audio: [useSdesMid()],
      },
    });
    const peer = new RemotePeer(pc, logger);
    try {
      peer.#remoteUfrag = iceUfragOf(offerSdp);
      let offered: SessionDescription;
      try {
        offered = SessionDescription.parse(offerSdp);
        await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
      } catch (error) {
        throw new SignalingError(400, `the offer's SDP could not be used: ${(error as Error).message}`);
      }
      const video = pc.getTransceivers().find((transceiver) => transceiver.kind === 'video');
      if (!video) throw new SignalingError(400, 'the offer has no video section: publish a video track');
      const direction = offered.media.find((media) => media.kind === 'video')?.direction ?? 'sendrecv';
      if (direction !== 'sendonly' && direction !== 'sendrecv') {
        throw new SignalingError(400, `the offer's video is ${direction}, it sends nothing: WHIP publishes, WHEP (/whep) watches`);
      }
      prepareDtls(pc, video);
      await pc.setLocalDescription(await pc.createAnswer());
      if (video.rejected || video.stopped) {
        throw new SignalingError(
          406,
          `the publisher must send ${MIME_TYPES[settings.codec]} (the server's codec option), which its offer lacks`,
        );
      }
      peer.#receive();
      return { peer, answer: pc.localDescription!.sdp };
    } catch (error) {
      await peer.close();
      throw error;
    }
  }

  /** A WHEP client's peer with its offer (recvonly video, and audio if wanted); then `accept()` the answer. */
  static async offer(settings: RemotePeerSettings, logger: Logger): Promise<RemotePeer> {
    const pc = new RTCPeerConnection({
      ...peerConfig(settings),
      codecs: { video: [videoCodec(settings.codec)], audio: settings.audio ? [opusCodecParameters()] : [] },
      headerExtensions: { video: [useTransportWideCC()], audio: [] },
      bundlePolicy: 'max-bundle',
    });
    const peer = new RemotePeer(pc, logger);
    try {
      pc.addTransceiver('video', { direction: 'recvonly' });
      if (settings.audio) pc.addTransceiver('audio', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      return peer;
    } catch (error) {
      await peer.close();
      throw error;
    }
  }

  /** The offer (WHEP), with every candidate gathered. */
  get localSdp(): string {
    return this.#pc.localDescription?.sdp ?? '';
  }

  /** The origin's answer (WHEP). Throws when it cannot be used or sends no video (the caller closes). */
  async accept(answerSdp: string): Promise<void> {
    await this.#pc.setRemoteDescription({ type: 'answer', sdp: answerSdp });
    const video = this.#pc.getTransceivers().find((transceiver) => transceiver.kind === 'video');
    if (!video || video.rejected || video.stopped) throw new Error('the origin sends no video this server can take');
    this.#receive();
  }

  get state(): RemotePeerState {
    return this.#closed ? 'closed' : this.#state;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Where media goes from now on (one user at a time). */
  set handlers(handlers: RemoteMediaHandlers | undefined) {
    this.#handlers = handlers;
  }

  /** Asks the sender for a keyframe of `ssrc` (a PLI; the caller rate-limits). */
  requestKeyframe(ssrc: number): void {
    const video = this.#pc.getTransceivers().find((transceiver) => transceiver.kind === 'video');
    if (!this.#closed) void video?.receiver.sendRtcpPLI(ssrc);
  }

  /** Candidates the publisher trickled (WHIP `PATCH`); a new ufrag (ICE restart) is refused with 422. */
  addCandidates(fragment: IceFragment): void {
    if (fragment.iceUfrag !== undefined && this.#remoteUfrag !== undefined && fragment.iceUfrag !== this.#remoteUfrag) {
      throw new SignalingError(422, 'ICE restart is not supported: publish again (POST the offer again)');
    }
    for (const candidate of fragment.candidates) {
      this.#pc.addIceCandidate(candidate).catch((error: Error) => {
        this.#logger.debug(`publisher: candidate ${candidate.candidate} not used: ${error.message}`);
      });
    }
  }

  /** Ends the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers = undefined;
    this.#feedback?.stop();
    try {
      await this.#pc.close();
    } catch (error) {
      this.#logger.debug(`closing a remote peer connection failed: ${(error as Error).message}`);
    }
    this.emit('state', 'closed');
  }

  /** Subscribes to the first video section's tracks (one per layer) and the first audio section's. */
  #receive(): void {
    if (enlargeReceiveBuffers(this.#pc) === 0) {
      this.#logger.warn("werift's ICE sockets were not found: the incoming media keeps the kernel's default receive buffer");
    }
    const transceivers = this.#pc.getTransceivers();
    const first = (kind: string) => transceivers.find((transceiver) => transceiver.kind === kind && !transceiver.stopped);
    const audio = first('audio');
    audio?.receiver.track.onReceiveRtp.subscribe((rtp) => this.#onAudio(rtp));
    const transceiver = first('video');
    if (transceiver) {
      this.#takeOverFeedback(transceiver);
      const tracks = transceiver.receiver.tracks.length > 0 ? transceiver.receiver.tracks : [transceiver.receiver.track];
      const subscribed = new Set<MediaStreamTrack>();
      const subscribe = (track: MediaStreamTrack) => {
        if (subscribed.has(track)) return;
        subscribed.add(track);
        const layer = track.rid ?? SINGLE_LAYER;
        track.onReceiveRtp.subscribe((rtp, extensions) => this.#onVideo(layer, rtp, extensions));
      };
      tracks.forEach(subscribe);
      transceiver.onTrack.subscribe(subscribe);
    }
  }

  #takeOverFeedback(transceiver: RTCRtpTransceiver): void {
    const send = takeOverTransportFeedback(transceiver);
    if (typeof send === 'string') {
      this.#logger.warn(`${send}: the sender gets werift's transport-cc feedback instead (a browser's bitrate may stay low)`);
      return;
    }
    this.#feedback = new TransportFeedback({ send, senderSsrc: transceiver.receiver.rtcpSsrc });
  }

  #onVideo(layer: string, rtp: RtpPacket, extensions: Record<string, unknown> | undefined): void {
    const sequence = extensions?.[TRANSPORT_WIDE_CC_URI];
    if (this.#feedback && typeof sequence === 'number') {
      this.#feedback.mediaSsrc ||= rtp.header.ssrc;
      this.#feedback.onPacket(sequence, performance.now() * 1000);
    }
    if (rtp.payload.length === 0) {
      // Padding only (a bandwidth probe, on the media's own SSRC without RTX): nothing to send on.
      this.#handlers?.padding(layer, rtp.header.ssrc, rtp.header.sequenceNumber, Date.now());
      return;
    }
    this.#handlers?.video(layer, buildRtpPacket(rtp.header, rtp.payload), Date.now());
  }

  #onAudio(rtp: RtpPacket): void {
    if (rtp.payload.length === 0) return;
    this.#handlers?.audio(buildRtpPacket(rtp.header, rtp.payload));
  }
}

/** ICE as for the viewers: the same servers, announced addresses and ports; one socket, IPv4. */
function peerConfig(settings: PeerSettings) {
  return {
    iceServers: settings.iceServers,
    iceAdditionalHostAddresses: settings.iceAdditionalHostAddresses,
    ...(settings.icePortRange ? { icePortRange: settings.icePortRange } : {}),
    iceUseIpv6: false,
  };
}
