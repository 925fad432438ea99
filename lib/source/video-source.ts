/**
 * One source, encoded once, as the first stages of the pipeline put together: the supervised ffmpeg
 * (source) → the loopback socket and the continuous streams it feeds (ingest) → one track for the video
 * and one for the audio (fan-out), which every viewer's sender binds to.
 */
import { EventEmitter } from 'node:events';
import type { StreamTrack } from '../fanout/stream-track.ts';
import { IngestStream } from '../ingest/ingest-stream.ts';
import { RtpSocket } from '../ingest/rtp-socket.ts';
import type { Logger } from '../logger.ts';
import { rtpPictureSize } from '../rtp/rtp-payload.ts';
import type { CustomStreamStats } from './custom-stream.ts';
import { Slate } from './slate.ts';
import { SourcePlan, type SourcePlanSettings } from './source-plan.ts';
import { SourceSupervisor, type RunSsrcs, type SupervisorSettings, type VideoSourceState } from './source-supervisor.ts';

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
}

export interface VideoSourceSettings extends SupervisorSettings, SourcePlanSettings {}

export class VideoSource extends EventEmitter<{ state: [VideoSourceState]; error: [Error]; failed: [Error] }> {
  readonly #settings: VideoSourceSettings;
  readonly #logger: Logger;
  readonly #plan: SourcePlan;
  readonly #video: IngestStream;
  readonly #audio = new IngestStream(undefined);
  #socket: RtpSocket | undefined;
  #slate: Slate | undefined;
  #supervisor: SourceSupervisor | undefined;
  #rateTimer: NodeJS.Timeout | undefined;
  #hasAudio: boolean | undefined;
  #starting = false;
  #closed = false;
  /** The current run's SSRCs, routed in the socket until the next run. */
  #run: RunSsrcs | undefined;

  constructor(settings: VideoSourceSettings, logger: Logger) {
    super();
    this.#settings = settings;
    this.#logger = logger;
    this.#plan = new SourcePlan(settings, logger);
    this.#video = new IngestStream(settings.codec);
  }

  /** The video every viewer's sender binds to: the GOP on binding, then the live stream. */
  get video(): StreamTrack {
    return this.#video.track;
  }

  /** The audio (Opus), for the viewers who asked for it, in a stream that has some (see hasAudio()). */
  get audio(): StreamTrack {
    return this.#audio.track;
  }

  get state(): VideoSourceState {
    return this.#closed ? 'closed' : (this.#supervisor?.state ?? 'idle');
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Why the source last failed, while it has never delivered. */
  get lastError(): Error | undefined {
    return this.#supervisor?.lastError;
  }

  /** Whether the stream carries audio (decided once; safe to call for every viewer). */
  hasAudio(): Promise<boolean> {
    return this.#plan.hasAudio().then((hasAudio) => (this.#hasAudio = hasAudio));
  }

  stats(): VideoSourceStats {
    const video = this.#video.counts();
    const audio = this.#audio.counts();
    const custom = this.#supervisor?.customStream;
    return {
      state: this.state,
      pid: this.#supervisor?.pid,
      restarts: this.#supervisor?.restarts ?? 0,
      packets: video.packets,
      bytes: video.bytes,
      frames: video.frames,
      framesPerSecond: video.framesPerSecond,
      bitrate: video.bitrate,
      transcoding: this.#supervisor?.transcoding,
      slate: this.#slate?.showing,
      ...(custom && { customStream: custom.stats() }),
      audio: this.#hasAudio ? { packets: audio.packets, bytes: audio.bytes } : undefined,
    };
  }

  /**
   * Waits until the source delivers (`'running'`), is known to fail (`'failed'`: ffmpeg exited before a
   * first packet), or `timeoutMs` passes (`'waiting'`: a slow camera). Ended and running sources answer at once.
   */
  ready(timeoutMs: number): Promise<'running' | 'failed' | 'waiting'> {
    if (this.#supervisor?.everDelivered || this.state === 'ended') return Promise.resolve('running');
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
  async start(): Promise<void> {
    if (this.#starting || this.#closed) return;
    this.#starting = true;
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
      socket.route(ssrc, (packet) => this.#video.push(packet));
    });
    const supervisor = new SourceSupervisor(this.#settings, this.#plan, slate, socket.port, this.#logger);
    this.#supervisor = supervisor;
    supervisor.on('state', (state) => this.emit('state', state));
    supervisor.on('failed', (error) => this.emit('failed', error));
    supervisor.on('error', (error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
    supervisor.on('run', (run) => this.#route(socket, supervisor, run));
    this.#rateTimer = setInterval(() => {
      this.#video.sample();
      this.#audio.sample();
      supervisor.watch();
    }, 1_000).unref();
    void supervisor.start();
  }

  /** Stops ffmpeg and releases the socket; the state becomes `closed` for good. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#rateTimer);
    await Promise.all([this.#supervisor?.close(), this.#slate?.close()]);
    if (!this.#supervisor) this.emit('state', 'closed');
    this.#socket?.close();
    this.#video.clear();
    this.#audio.clear();
  }

  /** A new ffmpeg run: its packets (and only its, besides the slate's) reach the streams from now on. */
  #route(socket: RtpSocket, supervisor: SourceSupervisor, run: RunSsrcs): void {
    if (this.#run) {
      socket.unroute(this.#run.video);
      socket.unroute(this.#run.audio);
    }
    this.#run = run;
    socket.route(run.video, (packet) => {
      const now = Date.now();
      supervisor.sourcePacket(now);
      supervisor.pictureSize = rtpPictureSize(this.#settings.codec, packet) ?? supervisor.pictureSize;
      this.#video.push(packet, now);
    });
    // Audio says nothing of the video's health (state, stalls, the slate).
    socket.route(run.audio, (packet) => this.#audio.push(packet));
  }
}
