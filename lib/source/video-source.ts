/**
 * One source, encoded once, as the first stages of the pipeline put together: the supervised ffmpeg
 * (source) → the loopback socket and the continuous streams it feeds (ingest) → one track for the video
 * and one for the audio (fan-out), which every viewer's sender binds to.
 */
import { EventEmitter } from 'node:events';
import type { Rendition, StreamTrack } from '../fanout/stream-track.ts';
import { IngestStream } from '../ingest/ingest-stream.ts';
import { RtpSocket } from '../ingest/rtp-socket.ts';
import type { Logger } from '../logger.ts';
import { isWebRtcSource } from '../types.ts';
import type { PeerSettings } from '../werift/peer-connection.ts';
import type { CustomStreamStats } from './custom-stream.ts';
import { planLadder, type Rung } from './ladder.ts';
import { Slate } from './slate.ts';
import { SourcePlan, type SourcePlanSettings } from './source-plan.ts';
import { SourceSupervisor, type RunSsrcs, type SupervisorSettings, type VideoSourceState } from './source-supervisor.ts';
import { WhepInput, type WhepStats } from './webrtc/whep-input.ts';
import { WhipInput, type WhipStats } from './webrtc/whip-input.ts';

export type { VideoSourceState } from './source-supervisor.ts';

export interface VideoSourceStats {
  state: VideoSourceState;
  /** Process id of the running ffmpeg, if any. */
  pid: number | undefined;
  /** How many times ffmpeg was started again (after dying, or for a new custom frame size). */
  restarts: number;
  /** RTP packets and bytes received from ffmpeg since the start. */
  packets: number;
  bytes: number;
  /** Whole frames received (RTP marker bits). */
  frames: number;
  /** Frames per second over the last second. */
  framesPerSecond: number;
  /** Bits per second received from ffmpeg over the last second (RTP headers included). */
  bitrate: number;
  /** Whether ffmpeg encodes the source (false: its H.264 is sent as is); undefined before the first run. */
  transcoding: boolean | undefined;
  /** The generated picture shown instead of the source ("No Input", "The End"), if any. */
  slate: string | undefined;
  /** For a custom stream: what its read() did, and frames dropped because ffmpeg was still busy. */
  customStream?: CustomStreamStats;
  /**
   * The audio (Opus) RTP packets and bytes received from ffmpeg since the start, not counted above;
   * undefined when the stream has no audio (or before that is known).
   */
  audio: { packets: number; bytes: number } | undefined;
  /**
   * The ladder, top first (empty before the first run): each rendition's picture size (from its last
   * keyframe), target bitrate, and what ffmpeg sent over the last second.
   */
  renditions: Array<{ width: number | undefined; height: number | undefined; targetBitrate: number; bitrate: number; framesPerSecond: number }>;
  /**
   * A WebRTC source (WHIP ingest, WHEP pull): its publisher or origin connection, the layers it sends
   * (each with the renditions it feeds) and the keyframe requests sent to it. Absent for other sources.
   */
  webrtc?: WhipStats | WhepStats;
}


export interface VideoSourceSettings extends SupervisorSettings, SourcePlanSettings, PeerSettings {
  /** Seconds a WHIP publisher has to connect after its offer (the viewers' `connectTimeout`). */
  connectTimeout: number;
}

export class VideoSource extends EventEmitter<{ state: [VideoSourceState]; error: [Error]; failed: [Error] }> {
  readonly #settings: VideoSourceSettings;
  readonly #logger: Logger;
  readonly #plan: SourcePlan;
  /** One stream per rung, top first; created when the ladder is decided (at the first run). */
  readonly #videos: IngestStream[] = [];
  readonly #audio = new IngestStream(undefined);
  readonly #ladderKnown: Promise<void>;
  #ladderDecided: (() => void) | undefined;
  #socket: RtpSocket | undefined;
  #slate: Slate | undefined;
  #supervisor: SourceSupervisor | undefined;
  /** A WebRTC source's input, instead of the supervisor (ffmpeg runs only for its slate). */
  #remote: WhipInput | WhepInput | undefined;
  #rateTimer: NodeJS.Timeout | undefined;
  #hasAudio: boolean | undefined;
  /** The start, once begun: every caller waits for the same one (a WHIP publisher needs its input). */
  #started: Promise<void> | undefined;
  #closed = false;
  /** The current run's SSRCs, routed in the socket until the next run. */
  #run: RunSsrcs | undefined;

  constructor(settings: VideoSourceSettings, logger: Logger) {
    super();
    // Every viewer that joins before the first packet waits on 'state' and 'failed' (ready()): a join storm
    // at start is hundreds of listeners, each removed when it resolves, not a leak.
    this.setMaxListeners(0);
    this.#settings = settings;
    this.#logger = logger;
    this.#plan = new SourcePlan(settings, logger);
    this.#plan.prefetch(); // a file's ffprobe now, not in its first viewer's wait
    this.#ladderKnown = new Promise((resolve) => (this.#ladderDecided = resolve));
  }

  /**
   * The renditions every viewer's sender chooses from, top first (each track: the GOP on binding, then the
   * live stream). Resolves when the ladder is decided (at the first run), or with none if the source closes.
   */
  async renditions(): Promise<readonly Rendition[]> {
    await this.#ladderKnown;
    return this.#videos;
  }

  /** The audio (Opus), for the viewers who asked for it, in a stream that has some (see hasAudio()). */
  get audio(): StreamTrack {
    return this.#audio.track;
  }

  get state(): VideoSourceState {
    return this.#closed ? 'closed' : (this.#supervisor?.state ?? this.#remote?.state ?? 'idle');
  }

  /** The WHIP ingest, for a `'whip'` source once started (publishers are handed to it). */
  get whip(): WhipInput | undefined {
    return this.#remote instanceof WhipInput ? this.#remote : undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Why the source last failed, while it has never delivered. */
  get lastError(): Error | undefined {
    return this.#supervisor?.lastError ?? (this.#remote instanceof WhepInput ? this.#remote.lastError : undefined);
  }

  /** Whether the stream carries audio (decided once; safe to call for every viewer). */
  hasAudio(): Promise<boolean> {
    return this.#plan.hasAudio().then((hasAudio) => (this.#hasAudio = hasAudio));
  }

  stats(): VideoSourceStats {
    const video = this.#videos[0]?.counts() ?? { packets: 0, bytes: 0, frames: 0, framesPerSecond: 0, bitrate: 0 };
    const audio = this.#audio.counts();
    const custom = this.#supervisor?.customStream;
    return {
      state: this.state,
      pid: this.#supervisor?.pid,
      restarts: this.#supervisor?.restarts ?? this.#remote?.restarts ?? 0,
      packets: video.packets,
      bytes: video.bytes,
      frames: video.frames,
      framesPerSecond: video.framesPerSecond,
      bitrate: video.bitrate,
      transcoding: this.#remote ? false : this.#supervisor?.transcoding,
      slate: this.#slate?.showing,
      ...(custom && { customStream: custom.stats() }),
      audio: this.#hasAudio ? { packets: audio.packets, bytes: audio.bytes } : undefined,
      renditions: this.#videos.map((stream) => {
        const counts = stream.counts();
        return {
          width: stream.pictureSize?.width,
          height: stream.pictureSize?.height,
          targetBitrate: stream.bitrate,
          bitrate: counts.bitrate,
          framesPerSecond: counts.framesPerSecond,
        };
      }),
      ...(this.#remote && { webrtc: this.#remote.stats() }),
    };
  }

  /**
   * Waits until the source delivers (`'running'`), is known to fail (`'failed'`: ffmpeg exited before a
   * first packet), or `timeoutMs` passes (`'waiting'`: a slow camera). Ended and running sources answer at once.
   */
  ready(timeoutMs: number): Promise<'running' | 'failed' | 'waiting'> {
    if (this.#supervisor?.everDelivered || this.#remote?.everDelivered || this.state === 'ended') return Promise.resolve('running');
    // A WHIP source waits for its publisher as long as it takes: its viewers need not.
    if (this.#settings.source.kind === 'whip' && !this.#closed) return Promise.resolve('waiting');
    if (this.lastError || this.state === 'failed' || this.#closed) return Promise.resolve('failed');
    return new Promise((resolve) => {
      const done = (result: 'running' | 'failed' | 'waiting') => {
        clearTimeout(timer);
        this.off('state', onState);
        this.off('failed', onFailed);
        resolve(result);
      };
      const onState = (state: VideoSourceState) => {
        if (state === 'running' || state === 'ended') done('running');
        if (state === 'closed' || state === 'failed') done('failed');
      };
      const onFailed = () => done('failed');
      const timer = setTimeout(() => done('waiting'), timeoutMs);
      this.on('state', onState);
      this.on('failed', onFailed);
    });
  }

  /** Starts reading the source if it is not running yet. Safe to call for every viewer. */
  start(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const socket = await RtpSocket.open(this.#logger);
    if (this.#closed) {
      socket.close(); // closed while binding
      return;
    }
    this.#socket = socket;
    const slate = new Slate(this.#settings, socket.port, this.#logger);
    this.#slate = slate;
    slate.on('ssrc', (ssrc, previous) => {
      socket.unroute(previous);
      // Every rendition shows the slate (each rewrites its own copy of the packet).
      socket.route(ssrc, (packet) => {
        const copies = this.#videos.map((_, index) => (index === 0 ? packet : Buffer.from(packet)));
        this.#videos.forEach((stream, index) => stream.push(copies[index]!));
      });
    });
    if (isWebRtcSource(this.#settings.source)) {
      this.#startRemote(slate);
      return;
    }
    const supervisor = new SourceSupervisor(this.#settings, this.#plan, slate, socket.port, this.#logger);
    this.#supervisor = supervisor;
    supervisor.on('state', (state) => this.emit('state', state));
    supervisor.on('failed', (error) => this.emit('failed', error));
    supervisor.on('error', (error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
    supervisor.on('ladder', (ladder) => this.#createRenditions(ladder));
    supervisor.on('run', (run) => this.#route(socket, supervisor, run));
    this.#rateTimer = setInterval(() => {
      for (const stream of this.#videos) stream.sample();
      this.#audio.sample();
      supervisor.watch();
    }, 1_000).unref();
    void supervisor.start();
  }

  /** Stops ffmpeg and releases the socket; the state becomes `closed` for good. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#plan.close();
    clearInterval(this.#rateTimer);
    await this.#remote?.close(); // before the slate: a publisher leaving would show it
    await Promise.all([this.#supervisor?.close(), this.#slate?.close()]);
    if (!this.#supervisor && !this.#remote) this.emit('state', 'closed');
    this.#socket?.close();
    for (const stream of this.#videos) stream.clear();
    this.#audio.clear();
    this.#ladderDecided?.();
  }

  /**
   * A WebRTC source: the ladder is decided now (WHIP: the `renditions` option's number of rungs, which the
   * publisher's simulcast layers fill top first; WHEP: the origin's one stream), then its input feeds it.
   */
  #startRemote(slate: Slate): void {
    const settings = this.#settings;
    const ladder = settings.source.kind === 'whip'
      ? planLadder(settings.renditions, settings.bitrate, undefined)
      : [{ scale: undefined, bitrate: settings.bitrate }];
    this.#createRenditions(ladder);
    void this.hasAudio(); // known at once (the option): the stats count the sender's Opus from the start
    const streams = { videos: this.#videos, audio: this.#audio };
    const inputSettings = { ...settings, audio: settings.audio.kind === 'source' };
    let input: WhipInput | WhepInput;
    if (settings.source.kind === 'whep') {
      const whep = new WhepInput({ ...inputSettings, url: settings.source.url }, streams, slate, this.#logger);
      whep.on('failed', (error) => this.emit('failed', error));
      whep.on('error', (error) => {
        if (this.listenerCount('error') > 0) this.emit('error', error);
      });
      input = whep;
    } else {
      input = new WhipInput(inputSettings, streams, slate, this.#logger);
    }
    this.#remote = input;
    input.on('state', (state) => this.emit('state', state));
    this.#rateTimer = setInterval(() => {
      for (const stream of this.#videos) stream.sample();
      this.#audio.sample();
      input.watch();
    }, 1_000).unref();
    input.start();
  }

  #createRenditions(ladder: Rung[]): void {
    if (this.#videos.length > 0) return;
    for (const rung of ladder) this.#videos.push(new IngestStream(this.#settings.codec, rung.bitrate));
    this.#ladderDecided?.();
    this.#ladderDecided = undefined;
  }

  /** A new ffmpeg run: its packets (and only its, besides the slate's) reach the streams from now on. */
  #route(socket: RtpSocket, supervisor: SourceSupervisor, run: RunSsrcs): void {
    if (this.#run) {
      for (const ssrc of this.#run.video) socket.unroute(ssrc);
      socket.unroute(this.#run.audio);
    }
    this.#run = run;
    run.video.forEach((ssrc, index) => {
      const stream = this.#videos[index];
      if (!stream) return;
      socket.route(ssrc, (packet) => {
        const now = Date.now();
        supervisor.sourcePacket(now);
        stream.push(packet, now);
        if (index === 0) supervisor.pictureSize = stream.pictureSize;
      });
    });
    // Audio says nothing of the video's health (state, stalls, the slate).
    socket.route(run.audio, (packet) => this.#audio.push(packet));
  }
}
