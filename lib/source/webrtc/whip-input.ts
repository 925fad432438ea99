/**
 * A WHIP ingest (RFC 9725) as the source: a browser or OBS publishes, and its RTP is the stream, as is.
 * One publisher at a time: a new one replaces the current one (as mediamtx does by default), so a
 * publisher that lost its connection, or was killed, is back at once without waiting for the old session
 * to time out. The state: `waiting` (no publisher, or its picture stopped), `starting` (a publisher is
 * connecting), `running` (its picture flows).
 */
import { EventEmitter } from 'node:events';
import { SignalingError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { VideoSourceState } from '../source-supervisor.ts';
import type { Slate } from '../slate.ts';
import { RemoteFeed, type FeedStreams, type RemoteFeedSettings, type RemoteFeedStats } from './remote-feed.ts';
import { RemotePeer, type RemotePeerSettings, type RemotePeerState } from './remote-peer.ts';

export interface WhipInputSettings extends RemoteFeedSettings, RemotePeerSettings {
  /** Seconds a publisher has to connect (ICE + DTLS) after its offer, as a viewer has. */
  connectTimeout: number;
}

/** A publisher `disconnected` this long is gone (ICE itself waits ~30 s). */
const DISCONNECTED_GRACE_MS = 5_000;

export interface WhipStats extends RemoteFeedStats {
  kind: 'whip';
  /** The current publisher: its connection state and when it published (ms since 1970). */
  publisher: { state: RemotePeerState; since: number } | undefined;
  /** Publications accepted since the start. */
  publications: number;
}

export class WhipInput extends EventEmitter<{ state: [VideoSourceState] }> {
  readonly #settings: WhipInputSettings;
  readonly #logger: Logger;
  readonly #feed: RemoteFeed;
  #publisher: RemotePeer | undefined;
  #disconnectTimer: NodeJS.Timeout | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #publications = 0;
  /** Whether the current publisher's picture has flowed (before: `starting`; after, when it stops: `waiting`). */
  #publisherDelivered = false;
  #state: VideoSourceState = 'idle';
  #closed = false;

  constructor(settings: WhipInputSettings, streams: FeedStreams, slate: Slate, logger: Logger) {
    super();
    this.#settings = settings;
    this.#logger = logger;
    this.#feed = new RemoteFeed(settings, streams, slate, logger);
    this.#feed.on('flowing', () => this.#updateState());
  }

  get state(): VideoSourceState {
    return this.#state;
  }

  get everDelivered(): boolean {
    return this.#feed.everDelivered;
  }

  /** Publishers after the first. */
  get restarts(): number {
    return Math.max(0, this.#publications - 1);
  }

  /** Waits for publishers. */
  start(): void {
    if (this.#state === 'idle') this.#setState('waiting');
  }

  /**
   * Answers a publisher's offer (SDP): it replaces the current publisher, if any. Throws a SignalingError
   * (400, 406, 503) for an offer that cannot be served.
   */
  async publish(offerSdp: string): Promise<{ peer: RemotePeer; answer: string }> {
    if (this.#closed) throw new SignalingError(503, 'the stream is closed');
    const { peer, answer } = await RemotePeer.answer(offerSdp, this.#settings, this.#logger);
    if (this.#closed) {
      await peer.close();
      throw new SignalingError(503, 'the stream is closed');
    }
    const previous = this.#publisher;
    if (previous) {
      // Not detached first: the picture goes on from the new publisher's first keyframe, no slate between.
      this.#logger.info('a new publisher replaces the current one');
      this.#clearTimers();
      void previous.close();
    }
    this.#publisher = peer;
    this.#publisherDelivered = false;
    this.#publications++;
    this.#feed.attach(peer);
    peer.on('state', (state) => this.#onPeerState(peer, state));
    this.#connectTimer = setTimeout(() => {
      this.#logger.info(`the publisher did not connect within ${this.#settings.connectTimeout} s`);
      this.#end(peer);
    }, this.#settings.connectTimeout * 1000);
    this.#logger.info('a publisher joined');
    this.#updateState();
    return { peer, answer };
  }

  /** The publisher holding this resource id, if it is the current one. */
  publisher(id: string): RemotePeer | undefined {
    return this.#publisher?.id === id ? this.#publisher : undefined;
  }

  /** Ends the publication `id` (WHIP `DELETE`). Returns false when it is not the current one. */
  unpublish(id: string): boolean {
    const peer = this.publisher(id);
    if (!peer) return false;
    this.#logger.info('the publisher left');
    this.#end(peer);
    return true;
  }

  /** Once a second. */
  watch(now = Date.now()): void {
    this.#feed.watch(now);
  }

  stats(): WhipStats {
    const publisher = this.#publisher;
    return {
      kind: 'whip',
      publisher: publisher && { state: publisher.state, since: publisher.createdAt },
      publications: this.#publications,
      ...this.#feed.stats(),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#setState('closed');
    this.#clearTimers();
    const publisher = this.#publisher;
    this.#publisher = undefined;
    if (publisher) {
      this.#feed.detach(publisher);
      await publisher.close();
    }
  }

  #onPeerState(peer: RemotePeer, state: RemotePeerState): void {
    if (peer !== this.#publisher) return;
    clearTimeout(this.#disconnectTimer);
    if (state === 'connected') clearTimeout(this.#connectTimer);
    if (state === 'failed' || state === 'closed') {
      this.#logger.info(`the publisher's connection ${state}`);
      this.#end(peer);
    } else if (state === 'disconnected') {
      this.#disconnectTimer = setTimeout(() => {
        this.#logger.info(`the publisher stayed disconnected for ${DISCONNECTED_GRACE_MS} ms`);
        this.#end(peer);
      }, DISCONNECTED_GRACE_MS);
    }
    this.#updateState();
  }

  #end(peer: RemotePeer): void {
    if (peer === this.#publisher) {
      this.#publisher = undefined;
      this.#clearTimers();
    }
    this.#feed.detach(peer);
    void peer.close();
    this.#updateState();
  }

  #clearTimers(): void {
    clearTimeout(this.#disconnectTimer);
    clearTimeout(this.#connectTimer);
  }

  #updateState(): void {
    if (this.#closed || this.#state === 'idle') return;
    if (this.#feed.flowing) {
      this.#publisherDelivered = true;
      this.#setState('running');
    } else {
      this.#setState(this.#publisher && !this.#publisherDelivered ? 'starting' : 'waiting');
    }
  }

  #setState(state: VideoSourceState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }
}
