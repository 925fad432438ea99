/**
 * Another server's stream pulled over WHEP as the source (`whep+http://…`): this instance becomes an edge
 * of that origin, as one viewer of it. The connection is kept by itself: when the origin goes away (its
 * connection fails, closes, or its picture stops), the session is DELETEd and a new one offered, with
 * backoff. The state: `starting` (first connection), `running`, `restarting` (reconnecting).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../logger.ts';
import type { VideoSourceState } from '../source-supervisor.ts';
import type { Slate } from '../slate.ts';
import { RemoteFeed, type FeedStreams, type RemoteFeedSettings, type RemoteFeedStats } from './remote-feed.ts';
import { RemotePeer, type RemotePeerSettings, type RemotePeerState } from './remote-peer.ts';
import { deleteWhepSession, postWhepOffer } from './whep-client.ts';

export interface WhepInputSettings extends RemoteFeedSettings, RemotePeerSettings {
  /** The origin's WHEP endpoint (http or https). */
  url: string;
}

export interface WhepStats extends RemoteFeedStats {
  kind: 'whep';
  url: string;
  /** The connection to the origin now (undefined between attempts). */
  connection: RemotePeerState | undefined;
  /** Sessions opened at the origin since the start. */
  sessions: number;
}

/** Waits before connecting again after a failure; the last one repeats. */
export const RECONNECT_DELAYS_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];
/** A connection that shows no picture this long after its answer is given up. */
const FIRST_PICTURE_TIMEOUT_MS = 10_000;
/** A connection `disconnected` this long is gone. */
const DISCONNECTED_GRACE_MS = 3_000;

export class WhepInput extends EventEmitter<{ state: [VideoSourceState]; error: [Error]; failed: [Error] }> {
  readonly #settings: WhepInputSettings;
  readonly #logger: Logger;
  readonly #feed: RemoteFeed;
  #peer: RemotePeer | undefined;
  #location: string | undefined;
  #state: VideoSourceState = 'idle';
  #failures = 0;
  #sessions = 0;
  #lastError: Error | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  /** A session's deadline for its first picture, and for a disconnected connection to come back. */
  #firstPictureTimer: NodeJS.Timeout | undefined;
  #disconnectTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(settings: WhepInputSettings, streams: FeedStreams, slate: Slate, logger: Logger) {
    super();
    this.#settings = settings;
    this.#logger = logger;
    this.#feed = new RemoteFeed(settings, streams, slate, logger);
    this.#feed.on('flowing', (flowing) => {
      if (flowing) {
        this.#failures = 0;
        clearTimeout(this.#firstPictureTimer);
        this.#setState('running');
      } else if (this.#peer) {
        this.#lost(this.#peer, 'its picture stopped');
      }
    });
  }

  get state(): VideoSourceState {
    return this.#state;
  }

  get everDelivered(): boolean {
    return this.#feed.everDelivered;
  }

  /** Why the source last failed, while it has never delivered. */
  get lastError(): Error | undefined {
    return this.#feed.everDelivered ? undefined : this.#lastError;
  }

  /** Sessions opened after the first. */
  get restarts(): number {
    return Math.max(0, this.#sessions - 1);
  }

  start(): void {
    if (this.#state !== 'idle') return;
    this.#setState('starting');
    void this.#connect();
  }

  watch(now = Date.now()): void {
    this.#feed.watch(now);
  }

  stats(): WhepStats {
    return {
      kind: 'whep',
      url: this.#settings.url,
      connection: this.#peer?.state,
      sessions: this.#sessions,
      ...this.#feed.stats(),
    };
  }

  /** Leaves the origin (DELETE) and stops reconnecting. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#setState('closed');
    clearTimeout(this.#retryTimer);
    this.#clearPeerTimers();
    const peer = this.#peer;
    this.#peer = undefined;
    if (peer) this.#feed.detach(peer);
    await Promise.all([peer?.close(), this.#leave()]);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    let peer: RemotePeer | undefined;
    try {
      peer = await RemotePeer.offer(this.#settings, this.#logger);
      const session = await postWhepOffer(this.#settings.url, peer.localSdp);
      this.#location = session.location;
      this.#sessions++;
      if (this.#closed) throw new Error('closed');
      await peer.accept(session.answer);
    } catch (error) {
      await Promise.all([peer?.close(), this.#leave()]);
      if (!this.#closed) this.#retry(error as Error);
      return;
    }
    this.#logger.info(`connected to the origin ${this.#settings.url}`);
    this.#peer = peer;
    this.#feed.attach(peer);
    peer.on('state', (state) => this.#onPeerState(peer, state));
    this.#firstPictureTimer = setTimeout(() => this.#lost(peer, `no picture ${FIRST_PICTURE_TIMEOUT_MS} ms after its answer`), FIRST_PICTURE_TIMEOUT_MS);
  }

  #onPeerState(peer: RemotePeer, state: RemotePeerState): void {
    if (peer !== this.#peer) return;
    clearTimeout(this.#disconnectTimer);
    if (state === 'failed' || state === 'closed') {
      this.#lost(peer, `the connection ${state}`);
    } else if (state === 'disconnected') {
      this.#disconnectTimer = setTimeout(() => this.#lost(peer, `disconnected for ${DISCONNECTED_GRACE_MS} ms`), DISCONNECTED_GRACE_MS);
    }
  }

  #clearPeerTimers(): void {
    clearTimeout(this.#firstPictureTimer);
    clearTimeout(this.#disconnectTimer);
  }

  /** The session with the origin is over: leave it, and connect again after a while. */
  #lost(peer: RemotePeer, why: string): void {
    if (peer !== this.#peer || this.#closed) return;
    this.#peer = undefined;
    this.#clearPeerTimers();
    this.#feed.detach(peer);
    void peer.close();
    void this.#leave();
    this.#retry(new Error(`the origin ${this.#settings.url}: ${why}`));
  }

  #retry(error: Error): void {
    const delay = RECONNECT_DELAYS_MS[Math.min(this.#failures, RECONNECT_DELAYS_MS.length - 1)]!;
    this.#failures++;
    const failure = new Error(`${error.message}; connecting again in ${delay} ms`);
    this.#logger.warn(failure.message);
    if (this.listenerCount('error') > 0) this.emit('error', failure);
    if (!this.#feed.everDelivered) {
      this.#lastError = failure;
      this.emit('failed', failure);
    }
    this.#setState('restarting');
    this.#retryTimer = setTimeout(() => void this.#connect(), delay);
  }

  /** DELETEs the current session at the origin, if any. */
  async #leave(): Promise<void> {
    const location = this.#location;
    this.#location = undefined;
    if (location) await deleteWhepSession(location);
  }

  #setState(state: VideoSourceState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }
}
