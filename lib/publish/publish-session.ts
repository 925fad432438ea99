/**
 * One WHIP session (RFC 9725): this server is the offerer. A werift peer connection with sendonly video
 * (and audio) offers to the endpoint; once connected its senders bind to the stream exactly as a viewer's do
 * (lib/session/media-senders.ts: the best rendition the endpoint's link carries, by its transport-wide
 * feedback; NACKs; a PLI answered with the GOP). It ends itself (`'end'`, once) when ICE fails or stays
 * disconnected, or the endpoint's RTCP stops; `close()` DELETEs the resource.
 */
import { EventEmitter } from 'node:events';
import { MediaStream, MediaStreamTrack, type RTCPeerConnection } from 'werift';
import type { Rendition, StreamTrack } from '../fanout/stream-track.ts';
import type { Logger } from '../logger.ts';
import { bindMediaSenders, type MediaSenders } from '../session/media-senders.ts';
import type { IceServer, VideoCodec } from '../types.ts';
import { MIME_TYPES, opusCodecParameters, rtpCodecParameters } from '../werift/codecs.ts';
import { keepEarlyDtlsPackets } from '../werift/early-dtls.ts';
import { createPeerConnection } from '../werift/peer-connection.ts';
import { senderCounts } from '../werift/sender-stats.ts';
import { useKeyObjectsForSrtp } from '../werift/srtp-keys.ts';
import { videoRefusal } from './answer-video.ts';
import { candidateFragment, offerIceOf } from './trickle.ts';
import { deleteResource, patchCandidates, postOffer, WhipError, type WhipEndpoint, type WhipResource } from './whip-http.ts';

export interface PublishSessionSettings {
  endpoint: WhipEndpoint;
  codec: VideoCodec;
  iceServers: IceServer[];
  iceAdditionalHostAddresses: string[];
  icePortRange: [number, number] | undefined;
  /** ms the endpoint has to connect (ICE + DTLS) after its answer. */
  connectTimeoutMs: number;
  /** The link's estimate before any feedback, bit/s (a nearby endpoint starts on the top rendition). */
  startBitrate: number;
  logger: Logger;
}

/** What is published: the video's renditions (top first) and the audio, if the stream has some. */
export interface PublishMedia {
  renditions: readonly Rendition[];
  audio: StreamTrack | undefined;
}

/** The session's counters (werift's, as for a viewer). */
export interface PublishCounts {
  packetsSent: number;
  bytesSent: number;
  nackCount: number;
  pliCount: number;
  packetsLost: number;
  roundTripTimeMs: number | undefined;
}

/**
 * How long the offer waits for werift to gather its candidates before it is sent without them: host
 * candidates come at once, a STUN or TURN server can take seconds (werift waits up to 5 and 8). What comes
 * later is trickled by PATCH where the endpoint takes it.
 */
export const GATHER_WAIT_MS = 1_000;
/** A disconnected ICE state that lasts this long ends the session (as for a viewer). */
export const DISCONNECTED_GRACE_MS = 5_000;
/** An endpoint sends RTCP (receiver reports, transport-wide feedback) all the time: silent this long, it is gone. */
export const RTCP_SILENCE_LIMIT_MS = 8_000;

const abortError = (): Error => Object.assign(new Error('publishing was stopped'), { name: 'AbortError' });

export class PublishSession extends EventEmitter<{ end: [reason: string] }> {
  readonly #pc: RTCPeerConnection;
  readonly #settings: PublishSessionSettings;
  readonly #tracks: MediaStreamTrack[];
  #resource: WhipResource | undefined;
  #senders: MediaSenders | undefined;
  #lastRtcpAt = 0;
  #disconnectTimer: NodeJS.Timeout | undefined;
  #livenessTimer: NodeJS.Timeout | undefined;
  /** Trickled PATCHes go one after the other; the chain ends where the endpoint refuses trickle. */
  #trickle: Promise<boolean> = Promise.resolve(true);
  #ended = false;
  #closing: Promise<void> | undefined;

  private constructor(pc: RTCPeerConnection, tracks: MediaStreamTrack[], settings: PublishSessionSettings) {
    super();
    this.#pc = pc;
    this.#tracks = tracks;
    this.#settings = settings;
  }

  /**
   * Offers, posts the offer, applies the answer and waits until connected; then the media flows. Throws
   * (a WhipError for HTTP, an Error otherwise) after cleaning up, the resource DELETEd if one was created.
   */
  static async open(media: PublishMedia, settings: PublishSessionSettings, signal: AbortSignal): Promise<PublishSession> {
    const pc = createPeerConnection(settings, { audio: media.audio !== undefined });
    const video = new MediaStreamTrack({ kind: 'video', codec: rtpCodecParameters(settings.codec) });
    const audio = media.audio ? new MediaStreamTrack({ kind: 'audio', codec: opusCodecParameters() }) : undefined;
    const tracks = audio ? [video, audio] : [video];
    const stream = new MediaStream(tracks);
    for (const track of tracks) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    const session = new PublishSession(pc, tracks, settings);
    try {
      await session.#negotiate(signal);
      await session.#connected(signal);
    } catch (error) {
      await session.close();
      throw error;
    }
    session.#start(media);
    return session;
  }

  /** The resource's URL at the endpoint, once it answered. */
  get resourceUrl(): string | undefined {
    return this.#resource?.url;
  }

  /** ICE servers the endpoint announced in its answer's `Link` headers. */
  get announcedIceServers(): IceServer[] {
    return this.#resource?.iceServers ?? [];
  }

  get senders(): MediaSenders | undefined {
    return this.#senders;
  }

  counts(): PublishCounts {
    const counts: PublishCounts = { packetsSent: 0, bytesSent: 0, nackCount: 0, pliCount: 0, packetsLost: 0, roundTripTimeMs: undefined };
    if (this.#closing) return counts;
    const now = Date.now();
    for (const { sender } of this.#pc.getTransceivers()) {
      const sent = senderCounts(sender, now);
      counts.packetsSent += sent.packetsSent;
      counts.bytesSent += sent.bytesSent;
      counts.nackCount += sent.nackCount;
      counts.pliCount += sent.pliCount;
      counts.packetsLost += sent.packetsLost;
      if (sent.roundTripTime !== undefined && sender.kind === 'video') counts.roundTripTimeMs = Math.round(sent.roundTripTime * 10_000) / 10;
    }
    return counts;
  }

  /** Ends the session: its senders unbound, the resource DELETEd (best effort), the peer connection closed. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#end('closed');
    clearTimeout(this.#disconnectTimer);
    clearInterval(this.#livenessTimer);
    this.#senders?.stop();
    const resource = this.#resource;
    if (resource) {
      // A resource left behind keeps some endpoints "in use" (simple-whip-server answers 403 to the next POST).
      await deleteResource(this.#settings.endpoint, resource).catch((error: Error) => {
        this.#settings.logger.debug(`publish: ${error.message}`);
      });
    }
    await this.#pc.close().catch(() => undefined);
    for (const track of this.#tracks) track.stop();
  }

  #end(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.emit('end', reason);
  }

  async #negotiate(signal: AbortSignal): Promise<void> {
    const pc = this.#pc;
    // Every candidate werift finds: those found after the offer left are trickled.
    const found: string[] = [];
    let gatheringDone = false;
    pc.onIceCandidate.subscribe((candidate) => {
      if (candidate?.candidate) found.push(candidate.candidate);
    });
    const offer = await pc.createOffer();
    const gathering = pc.setLocalDescription(offer).then(() => {
      gatheringDone = true;
    });
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([gathering, new Promise((resolve) => (waited = setTimeout(resolve, GATHER_WAIT_MS)))]);
    clearTimeout(waited);
    if (signal.aborted) throw abortError();
    // Gathered: the offer carries every candidate (and a=end-of-candidates). Else it carries those found so
    // far, and every candidate is trickled once the endpoint answered (one twice is harmless).
    const sdp = pc.localDescription?.sdp ?? offer.sdp;
    this.#resource = await postOffer(this.#settings.endpoint, sdp, signal);
    if (!gatheringDone) {
      const resource = this.#resource;
      const ice = offerIceOf(sdp);
      let sent = 0;
      const trickle = (end: boolean): void => {
        const fresh = found.slice(sent);
        sent = found.length;
        if (!ice || !resource.trickle || (fresh.length === 0 && !end)) return;
        const fragment = candidateFragment(ice, fresh, end);
        this.#trickle = this.#trickle.then((accepted) => accepted && !this.#closing
          ? patchCandidates(this.#settings.endpoint, resource, fragment).catch((error: Error) => {
            this.#settings.logger.debug(`publish: ${error.message}`);
            return true;
          })
          : false);
      };
      trickle(false);
      pc.onIceCandidate.subscribe((candidate) => trickle(candidate === undefined));
    }
    await gathering;
    if (signal.aborted) throw abortError();
    const refusal = videoRefusal(this.#resource.answer, MIME_TYPES[this.#settings.codec].slice('video/'.length));
    if (refusal) {
      throw new WhipError(`the endpoint refused the video (${MIME_TYPES[this.#settings.codec]}: ${refusal}): is it set up for another codec? (the codec option)`);
    }
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: this.#resource.answer });
    } catch (error) {
      throw new WhipError(`the endpoint's answer could not be used: ${(error as Error).message}`);
    }
    keepEarlyDtlsPackets(pc);
  }

  /** Resolves once ICE and DTLS are up; rejects when they fail, time out or `signal` aborts. */
  #connected(signal: AbortSignal): Promise<void> {
    const pc = this.#pc;
    if (pc.connectionState === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timeoutS = this.#settings.connectTimeoutMs / 1000;
      const timer = setTimeout(() => done(new Error(`not connected ${timeoutS} s after the endpoint's answer (ICE or DTLS)`)), this.#settings.connectTimeoutMs);
      const onAbort = (): void => done(abortError());
      const subscription = pc.connectionStateChange.subscribe((state) => {
        if (state === 'connected') done();
        else if (state === 'failed' || state === 'closed') done(new Error(`the connection to the endpoint ${state} (ICE or DTLS)`));
      });
      signal.addEventListener('abort', onAbort, { once: true });
      function done(error?: Error): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        subscription.unSubscribe();
        if (error) reject(error);
        else resolve();
      }
    });
  }

  /** Connected: the senders bind to the stream, and the session watches the connection and the endpoint's RTCP. */
  #start(media: PublishMedia): void {
    const pc = this.#pc;
    useKeyObjectsForSrtp(pc);
    this.#senders = bindMediaSenders(pc, media.renditions, media.audio, {
      codec: this.#settings.codec,
      startBitrate: this.#settings.startBitrate,
      logger: this.#settings.logger,
      label: 'publish',
    });
    this.#lastRtcpAt = Date.now();
    for (const { sender } of pc.getTransceivers()) {
      sender.onRtcp.subscribe(() => {
        this.#lastRtcpAt = Date.now();
      });
    }
    this.#livenessTimer = setInterval(() => {
      if (Date.now() - this.#lastRtcpAt > RTCP_SILENCE_LIMIT_MS) this.#end(`no RTCP from the endpoint for ${RTCP_SILENCE_LIMIT_MS / 1000} s`);
    }, 1_000).unref();
    // A DTLS transport that closes or fails (the endpoint's close_notify or a fatal alert: it hung up) ends
    // the session at once; werift's connection state does not follow it (as for a viewer).
    for (const transport of pc.dtlsTransports) {
      transport.onStateChange.subscribe((state) => {
        if (state === 'closed' || state === 'failed') this.#end(`the endpoint's DTLS transport is ${state}`);
      });
    }
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') {
        clearTimeout(this.#disconnectTimer);
        this.#disconnectTimer = undefined;
      } else if (state === 'disconnected') {
        this.#disconnectTimer ??= setTimeout(() => this.#end(`disconnected for ${DISCONNECTED_GRACE_MS / 1000} s`), DISCONNECTED_GRACE_MS);
      } else if (state === 'failed' || state === 'closed') {
        this.#end(`the connection ${state}`);
      }
    });
  }
}
