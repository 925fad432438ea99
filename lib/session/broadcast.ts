import { EventEmitter } from 'node:events';
import { SignalingError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { Publisher, type PublishSettings, type PublishStats } from '../publish/publisher.ts';
import { VideoSource, type VideoSourceSettings, type VideoSourceStats } from '../source/video-source.ts';
import { Admission, type AdmissionLimits } from './admission.ts';
import { JoinQueue } from './join-queue.ts';
import { BUSY_DELAY_SHARE, DEFAULT_MAX_EVENT_LOOP_DELAY_MS, LoadGuard, type LoadSample } from './load-guard.ts';
import { processMemoryTrim } from './memory-trim.ts';
import type { RemotePeer } from '../source/webrtc/remote-peer.ts';
import { offersAudio, Viewer, type PeerSettings, type SessionDescription, type Signaling, type ViewerStats } from './viewer.ts';

/** How long a first viewer's answer waits for the source to deliver or fail. */
export const SOURCE_READY_TIMEOUT_MS = 5_000;

export interface BroadcastSettings extends VideoSourceSettings, PeerSettings, AdmissionLimits {
  /** Viewers connected at once (those still connecting count apart: `maxConnecting`). */
  maxViewers: number;
  /** Where the stream is pushed by WHIP, if anywhere (the `publish` option). */
  publish: PublishSettings | undefined;
  /** The event loop's delay (p99 over a second, ms) past which new viewers are refused (0: never). */
  maxEventLoopDelay: number;
}

/** Who is asking: the client's address (per-address limits), and how it signalled. */
export interface ConnectRequest {
  signaling?: Signaling;
  address?: string;
}

export interface BroadcastStats {
  source: VideoSourceStats;
  viewers: ViewerStats[];
  /** How busy the process is (what admission reads): its event loop's delay and utilization over the last second. */
  load: LoadSample;
  /** The WHIP push (`publish` option), when there is one. */
  publish?: PublishStats;
}

/** What every viewer was sent since the start, those who left included (for counters that only grow). */
export interface ViewerTotals {
  viewers: number;
  packetsSent: number;
  bytesSent: number;
  nackCount: number;
  pliCount: number;
}

/** The event loop's utilization past which the process is taken as full. */
const MAX_EVENT_LOOP_UTILIZATION = 0.95;
/**
 * Joins start one per this many ms at most (lib/session/join-queue.ts), and only while the event loop is less
 * late than the load guard's "busy" share of `maxEventLoopDelay` (12.5 ms at its default, 50): the pace of
 * joins stays under what would refuse them. 500 offers at once: all in within 7 s on this 2-core machine.
 */
const JOIN_INTERVAL_MS = 2;
/** How long a join waits for its turn before it gets a 503 (ms). */
const JOIN_MAX_WAIT_MS = 10_000;

/** A viewer's session as its client sees it. */
export interface Session {
  /** The secret that ends the session (`/close_connection`, WHEP resource URL). */
  id: string;
  /** The viewer's public id, as in stats. */
  viewerId: string;
  /** WHEP's ETag of the session. */
  etag: string;
  answer: SessionDescription;
}

/** A WHIP publication as its publisher sees it. */
export interface Publication {
  /** The resource's secret id (`<mount>/whip/<id>`): it alone ends the publication. */
  id: string;
  etag: string;
  /** The SDP answer. */
  answer: string;
}

/**
 * One source and everyone watching it: the media path in one object. Framework-free, so the Koa
 * middleware (and later WHEP) only translate HTTP into `connect()` and `disconnect()`.
 */
export class Broadcast extends EventEmitter<{ error: [Error] }> {
  readonly source: VideoSource;
  readonly #settings: BroadcastSettings;
  readonly #logger: Logger;
  readonly #viewers = new Map<string, Viewer>();
  readonly #push: Publisher | undefined;
  /** What the viewers who left were sent. */
  readonly #departed: ViewerTotals = { viewers: 0, packetsSent: 0, bytesSent: 0, nackCount: 0, pliCount: 0 };
  readonly #admission: Admission;
  readonly #joins: JoinQueue;
  readonly #load: LoadGuard;
  #connected = 0;
  #closed = false;
  #loadWatched = false;

  constructor(settings: BroadcastSettings, logger: Logger) {
    super();
    this.#settings = settings;
    this.#logger = logger;
    this.source = new VideoSource(settings, logger);
    this.#admission = new Admission(settings);
    this.#joins = new JoinQueue({
      intervalMs: JOIN_INTERVAL_MS,
      maxLateMs: BUSY_DELAY_SHARE * (settings.maxEventLoopDelay > 0 ? settings.maxEventLoopDelay : DEFAULT_MAX_EVENT_LOOP_DELAY_MS),
      maxWaitMs: JOIN_MAX_WAIT_MS,
      maxWaiting: settings.maxConnecting,
      hold: () => this.#load.sample.overloaded,
    });
    this.#load = new LoadGuard({
      maxEventLoopDelayMs: settings.maxEventLoopDelay > 0 ? settings.maxEventLoopDelay : Number.POSITIVE_INFINITY,
      maxEventLoopUtilization: settings.maxEventLoopDelay > 0 ? MAX_EVENT_LOOP_UTILIZATION : Number.POSITIVE_INFINITY,
    });
    this.source.on('error', (error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
    if (settings.publish) this.#push = new Publisher(this.source, { ...settings, publish: settings.publish }, logger);
  }

  /**
   * Starts the WHIP push, if the `publish` option asks for one: the source runs from now on, not from the
   * first viewer. Called once the instance is built (nothing left to throw that would leave it running).
   */
  startPublishing(): void {
    if (!this.#closed) this.#push?.start();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get viewerCount(): number {
    return this.#viewers.size;
  }

  /** Answers a viewer's offer and starts the source if this is the first viewer. */
  async connect(offer: SessionDescription, { signaling = 'offer', address }: ConnectRequest = {}): Promise<Session> {
    if (this.#closed) throw new SignalingError(503, 'the stream is closed');
    if (this.#connected >= this.#settings.maxViewers) {
      throw new SignalingError(503, `the stream has its maximum of ${this.#settings.maxViewers} viewers`, {
        'Retry-After': '10',
      });
    }
    this.#refuseWhenOverloaded();
    // Holds a place among the sessions connecting until this one is connected or gone.
    const ticket = this.#admission.enter(address);
    let viewer: Viewer;
    let answer: SessionDescription;
    // Then its turn to start: joins start at the pace the event loop keeps up with (first come first served).
    try {
      await this.#joins.turn();
    } catch (error) {
      ticket.release();
      throw error;
    }
    // Its handshake, from here until it is connected or gone: the load guard tells it from the watchers' load.
    let joined: () => void = () => {};
    const settled = () => {
      joined();
      ticket.release();
    };
    try {
      if (this.#closed) throw new SignalingError(503, 'the stream is closed');
      this.#refuseWhenOverloaded(); // it may have waited: the server is measured again
      joined = this.#load.joinStarted();
      // Opus for an offer that asks for audio, when the stream has some (a source's own is probed once).
      const audio = offersAudio(offer) && (await this.source.hasAudio()) ? this.source.audio : undefined;
      const media = { renditions: () => this.source.renditions(), audio };
      ({ viewer, answer } = await Viewer.answer(offer, media, this.#settings, this.#logger));
    } catch (error) {
      settled();
      throw error;
    }
    viewer.signaling = signaling;
    viewer.once('close', settled);
    try {
      if (!this.#loadWatched) {
        this.#loadWatched = true;
        this.#load.start();
      }
      await this.source.start(); // only once an offer proved good: garbage must not start ffmpeg
      // A source that cannot be read gets the viewer a 503 now, not a black picture forever.
      if ((await this.source.ready(SOURCE_READY_TIMEOUT_MS)) === 'failed') {
        const reason = this.source.lastError?.message.split('\n').slice(0, 1).join('') ?? 'closed';
        // A source that fails for good (its options cannot work) is not worth retrying.
        const retry = this.source.state === 'failed' ? undefined : { 'Retry-After': '5' };
        throw new SignalingError(503, `the source is unavailable: ${reason}`, retry);
      }
      if (this.#closed) throw new SignalingError(503, 'the stream is closed');
    } catch (error) {
      await viewer.close();
      throw error;
    }
    this.#viewers.set(viewer.sessionId, viewer);
    viewer.once('connected', () => {
      settled();
      processMemoryTrim.changed('joined'); // a handshake's garbage, once joins settle
      this.#connected++;
      viewer.once('close', () => this.#connected--);
      if (this.#connected > this.#settings.maxViewers) {
        // Several connected at the same moment, past the cap: the newest goes (its page retries later).
        this.#logger.info(`viewer ${viewer.id}: over maxViewers (${this.#settings.maxViewers}) once connected; dropped`);
        void viewer.close();
      }
    });
    viewer.once('close', () => {
      this.#viewers.delete(viewer.sessionId);
      processMemoryTrim.changed('left');
      const last = viewer.stats();
      this.#departed.viewers++;
      this.#departed.packetsSent += last.packetsSent;
      this.#departed.bytesSent += last.bytesSent;
      this.#departed.nackCount += last.nackCount;
      this.#departed.pliCount += last.pliCount;
      this.#logger.info(`viewer ${viewer.id} left (${this.#viewers.size} watching)`);
    });
    this.#logger.info(`viewer ${viewer.id} joined (${this.#viewers.size} watching)`);
    return { id: viewer.sessionId, viewerId: viewer.id, etag: viewer.etag, answer };
  }

  /**
   * A WHIP publisher's offer (a `'whip'` source): answered, and its picture becomes the stream (it replaces
   * the current publisher, if any). Throws a SignalingError for an offer that cannot be served.
   */
  async publish(offerSdp: string): Promise<Publication> {
    if (this.#closed) throw new SignalingError(503, 'the stream is closed');
    await this.source.start();
    const whip = this.source.whip;
    if (!whip) throw new SignalingError(404, 'this stream takes no publisher: its source is not "whip"');
    const { peer, answer } = await whip.publish(offerSdp);
    return { id: peer.id, etag: peer.etag, answer };
  }

  /** The publisher holding this WHIP resource id, if it is the current one. */
  publisher(id: string): RemotePeer | undefined {
    return this.source.whip?.publisher(id);
  }

  /** Ends a WHIP publication. Returns false when that resource is not the current publisher. */
  unpublish(id: string): boolean {
    return this.source.whip?.unpublish(id) ?? false;
  }

  /** The viewer holding this session id, if it is still there. */
  viewer(sessionId: string): Viewer | undefined {
    return this.#viewers.get(sessionId);
  }

  /** Ends one viewer's session. Returns false when no viewer has that session id. */
  async disconnect(sessionId: string): Promise<boolean> {
    const viewer = this.#viewers.get(sessionId);
    if (!viewer) return false;
    await viewer.close();
    return true;
  }

  /**
   * A 503 (with Retry-After) while one more viewer would make every viewer late: the ones watching keep their
   * stream. While joins are under way they may be what makes it late: then the newcomer waits in the join
   * queue, which starts none until the process is measured under capacity again (a 503 after `maxWaitMs`).
   */
  #refuseWhenOverloaded(): void {
    if (!this.#load.sample.overloaded || this.#load.sample.joining) return;
    const { eventLoopDelayMs, eventLoopUtilization } = this.#load.sample;
    throw new SignalingError(503, `the server is at capacity (event loop ${eventLoopDelayMs} ms late, ${Math.round(eventLoopUtilization * 100)} % busy); try again later`, {
      'Retry-After': '5',
    });
  }

  stats(): BroadcastStats {
    return {
      source: this.source.stats(),
      viewers: [...this.#viewers.values()].map((viewer) => viewer.stats()),
      load: this.#load.sample,
      ...(this.#push && { publish: this.#push.stats() }),
    };
  }

  /**
   * What the viewers were sent since the start, those who left included, given the current viewers' `stats`
   * (from stats(): one reading for both).
   */
  viewerTotals(current: readonly ViewerStats[]): ViewerTotals {
    const totals = { ...this.#departed };
    for (const viewer of current) {
      totals.viewers++;
      totals.packetsSent += viewer.packetsSent;
      totals.bytesSent += viewer.bytesSent;
      totals.nackCount += viewer.nackCount;
      totals.pliCount += viewer.pliCount;
    }
    return totals;
  }

  /** Closes every viewer and the source (ffmpeg included). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#joins.close();
    if (this.#loadWatched) this.#load.stop();
    await Promise.all([this.#push?.close(), ...[...this.#viewers.values()].map((viewer) => viewer.close())]);
    await this.source.close();
  }
}
