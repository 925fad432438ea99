/**
 * The `publish` option: this instance's stream sent once to a WHIP endpoint (an SFU, a CDN, another
 * server), kept there. One session at a time (publish-session.ts); when it fails or ends (the endpoint or the
 * network went away) its resource is DELETEd and a new one is offered after a backoff (1 s, doubling to
 * 30 s, or the endpoint's `Retry-After`), until `close()`.
 */
import type { Rendition, StreamTrack } from '../fanout/stream-track.ts';
import type { Logger } from '../logger.ts';
import type { VideoSenderStats } from '../sender/video-sender.ts';
import type { SendPath } from '../session/media-senders.ts';
import type { IceServer, VideoCodec } from '../types.ts';
import { PublishSession, type PublishCounts } from './publish-session.ts';
import { publicUrlOf, WhipError } from './whip-http.ts';

/** Where and how to publish: the `publish` option, resolved. */
export interface PublishSettings {
  /** The WHIP endpoint's URL. */
  url: string;
  /** Its Bearer token. */
  token?: string | undefined;
  /** STUN/TURN servers for this connection; default: the `iceServers` option. */
  iceServers?: IceServer[] | undefined;
}

export interface PublisherSettings {
  publish: PublishSettings;
  codec: VideoCodec;
  iceServers: IceServer[];
  iceAdditionalHostAddresses: string[];
  icePortRange: [number, number] | undefined;
  /** Seconds the endpoint has to connect after its answer. */
  connectTimeout: number;
  startBitrate: number;
}

/** What the publisher needs of the source: started, ready, its renditions and its audio. */
export interface PublishSource {
  start(): Promise<void>;
  ready(timeoutMs: number): Promise<'running' | 'failed' | 'waiting'>;
  renditions(): Promise<readonly Rendition[]>;
  hasAudio(): Promise<boolean>;
  readonly audio: StreamTrack;
  readonly lastError: Error | undefined;
  readonly closed: boolean;
}

/**
 * `starting`: waiting for the source; `connecting`: offering and connecting; `connected`: the media flows;
 * `retrying`: the last attempt failed or ended, the next waits its backoff; `closed`: for good.
 */
export type PublishState = 'starting' | 'connecting' | 'connected' | 'retrying' | 'closed';

export interface PublishStats {
  state: PublishState;
  /** The endpoint (its query and credentials left out). */
  url: string;
  /** When the current session connected (ms since epoch); undefined while not connected. */
  connectedAt: number | undefined;
  /** Sessions offered after the first (each failure or end starts one). */
  restarts: number;
  /** RTP packets and bytes sent to the endpoint, all sessions together (video and audio, retransmissions included). */
  packetsSent: number;
  bytesSent: number;
  /** NACKs and picture-loss requests (PLI) the endpoint sent, all sessions together. */
  nackCount: number;
  pliCount: number;
  /** The endpoint's link as the publisher estimates it (transport-wide feedback), bit/s; undefined without. */
  estimate: number | undefined;
  /** The rendition sent (0: the top). */
  rendition: number | undefined;
  roundTripTimeMs: number | undefined;
  sendPath: SendPath | undefined;
  /** Why the last session failed or ended, if one did. */
  lastError: string | undefined;
  /** The current session's video sender (as a viewer's `video`); undefined while not connected. */
  video: VideoSenderStats | undefined;
}

export const FIRST_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 30_000;
/** How long one attempt waits for the source to deliver before it tries again. */
const SOURCE_WAIT_MS = 5_000;

/** The wait before attempt `failures` + 1: 1 s, 2 s, 4 s … 30 s; at least what the endpoint asked. */
export function retryDelayMs(failures: number, retryAfterMs?: number): number {
  const backoff = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
  return Math.max(backoff, Math.min(retryAfterMs ?? 0, 5 * MAX_RETRY_MS));
}

const ZERO: PublishCounts = { packetsSent: 0, bytesSent: 0, nackCount: 0, pliCount: 0, packetsLost: 0, roundTripTimeMs: undefined };

export class Publisher {
  readonly #source: PublishSource;
  readonly #settings: PublisherSettings;
  readonly #logger: Logger;
  readonly #abort = new AbortController();
  readonly #url: string;
  #state: PublishState = 'starting';
  #session: PublishSession | undefined;
  #connectedAt: number | undefined;
  #restarts = 0;
  #lastError: string | undefined;
  /** Counters of the sessions that ended. */
  #done: PublishCounts = { ...ZERO };
  /** ICE servers the endpoint announced (`Link`), used from the next session on when none are configured. */
  #announced: IceServer[] = [];
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(source: PublishSource, settings: PublisherSettings, logger: Logger) {
    this.#source = source;
    this.#settings = settings;
    this.#logger = logger;
    this.#url = publicUrlOf(settings.publish.url);
  }

  get state(): PublishState {
    return this.#state;
  }

  /** Starts publishing (the source too, if it is not running yet). */
  start(): void {
    this.#running ??= this.#run().catch((error: Error) => this.#logger.error(`publish: ${error.stack}`));
  }

  stats(): PublishStats {
    const live = this.#session?.counts() ?? ZERO;
    const video = this.#state === 'connected' ? this.#session?.senders?.videoSender?.stats() : undefined;
    return {
      state: this.#state,
      url: this.#url,
      connectedAt: this.#state === 'connected' ? this.#connectedAt : undefined,
      restarts: this.#restarts,
      packetsSent: this.#done.packetsSent + live.packetsSent,
      bytesSent: this.#done.bytesSent + live.bytesSent,
      nackCount: this.#done.nackCount + live.nackCount,
      pliCount: this.#done.pliCount + live.pliCount,
      estimate: video?.estimate,
      rendition: video?.rendition,
      roundTripTimeMs: video?.roundTripTimeMs ?? live.roundTripTimeMs,
      sendPath: this.#state === 'connected' ? this.#session?.senders?.sendPath : undefined,
      lastError: this.#lastError,
      video,
    };
  }

  /** Stops publishing: the session's resource DELETEd, its connection closed. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#abort.abort();
    this.#wake?.();
    await this.#running;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    /** Attempts that failed in a row (a session that ended counts as one: the endpoint may be restarting). */
    let failures = 0;
    for (let attempt = 0; !signal.aborted; attempt++) {
      if (attempt > 0) this.#restarts++;
      let retryAfterMs: number | undefined;
      try {
        const session = await this.#open(signal);
        const reason = await this.#publish(session);
        if (signal.aborted) break;
        failures = 1;
        this.#lastError = reason;
        this.#logger.warn(`publish: the session at ${this.#url} ended (${reason}); publishing again`);
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        retryAfterMs = error instanceof WhipError ? error.retryAfterMs : undefined;
        this.#lastError = (error as Error).message;
        this.#logger.warn(`publish: ${this.#lastError}; trying again in ${retryDelayMs(failures, retryAfterMs) / 1000} s`);
      }
      this.#setState('retrying');
      await this.#sleep(retryDelayMs(failures, retryAfterMs));
    }
  }

  /** The state, unless closed meanwhile (closed is for good). */
  #setState(state: PublishState): void {
    if (this.#state !== 'closed') this.#state = state;
  }

  /** One session, connected: waits for the source, offers, connects. */
  async #open(signal: AbortSignal): Promise<PublishSession> {
    this.#setState('starting');
    const source = this.#source;
    // Each wait gives way to close(): the source closes only after the publisher (Broadcast.close()).
    await this.#unlessClosed(source.start());
    if (source.closed) throw new Error('the source is closed');
    if ((await this.#unlessClosed(source.ready(SOURCE_WAIT_MS))) === 'failed') {
      throw new Error(`the source is unavailable: ${source.lastError?.message.split('\n')[0] ?? 'closed'}`);
    }
    const renditions = await this.#unlessClosed(source.renditions());
    if (renditions.length === 0) throw new Error('the source is closed');
    const audio = (await this.#unlessClosed(source.hasAudio())) ? source.audio : undefined;
    this.#setState('connecting');
    const { publish } = this.#settings;
    const configured = publish.iceServers ?? this.#settings.iceServers;
    const session = await PublishSession.open({ renditions, audio }, {
      endpoint: { url: publish.url, token: publish.token },
      codec: this.#settings.codec,
      iceServers: configured.length > 0 ? configured : this.#announced,
      iceAdditionalHostAddresses: this.#settings.iceAdditionalHostAddresses,
      icePortRange: this.#settings.icePortRange,
      connectTimeoutMs: this.#settings.connectTimeout * 1000,
      startBitrate: this.#settings.startBitrate,
      logger: this.#logger,
    }, signal);
    this.#announced = session.announcedIceServers;
    return session;
  }

  /** Publishes on `session` until it ends or the publisher closes; returns why it ended. */
  async #publish(session: PublishSession): Promise<string> {
    this.#session = session;
    this.#setState('connected');
    this.#connectedAt = Date.now();
    this.#logger.info(`publish: connected to ${this.#url} (resource ${session.resourceUrl}, ${session.senders?.sendPath ?? 'no'} send path)`);
    const ended = new Promise<string>((resolve) => {
      session.once('end', resolve);
      if (this.#abort.signal.aborted) resolve('closed');
      else this.#abort.signal.addEventListener('abort', () => resolve('closed'), { once: true });
    });
    const reason = await ended;
    const counts = session.counts();
    await session.close();
    this.#done = {
      ...this.#done,
      packetsSent: this.#done.packetsSent + counts.packetsSent,
      bytesSent: this.#done.bytesSent + counts.bytesSent,
      nackCount: this.#done.nackCount + counts.nackCount,
      pliCount: this.#done.pliCount + counts.pliCount,
    };
    this.#session = undefined;
    this.#connectedAt = undefined;
    return reason;
  }

  /** `promise`, or a rejection as soon as the publisher closes. */
  #unlessClosed<T>(promise: Promise<T>): Promise<T> {
    const signal = this.#abort.signal;
    if (signal.aborted) return Promise.reject(new Error('publishing was stopped'));
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(new Error('publishing was stopped'));
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.#abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.#wake = done;
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}
