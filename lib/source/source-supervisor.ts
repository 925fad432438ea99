/**
 * Keeps a source streaming: it runs ffmpeg on it (each run with fresh SSRCs, toward the ingest socket),
 * restarts it with backoff when it dies, kills it when it hangs, notices when a file or custom stream has
 * ended, and shows the slate ("No Input", "The End") in the meantime. Its state is the source's state.
 */
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.ts';
import type { PictureSize } from '../types.ts';
import { CustomStreamInput } from './custom-stream.ts';
import { buildFfmpegArgs, endsByItself, type EncodeSettings, type RawFrameGeometry } from './ffmpeg/ffmpeg-args.ts';
import { planLadder, type LadderSpec, type Rung } from './ladder.ts';
import { FfmpegProcess, type FfmpegExit } from './ffmpeg/ffmpeg-process.ts';
import type { SourcePlan } from './source-plan.ts';
import type { Slate } from './slate.ts';

/**
 * - `idle`: not started (ffmpeg starts with the first viewer)
 * - `starting`: ffmpeg runs (or waits for `timeDelay`, or for a first custom frame), no packet yet; a WHIP
 *   publisher or a WHEP origin is connecting
 * - `running`: packets flow
 * - `restarting`: ffmpeg died; waiting to start it again (WHEP pull: reconnecting to the origin)
 * - `waiting`: a WHIP source without a publisher sending (none connected yet, it left, or its picture stopped)
 * - `ended`: a file played once, or a custom stream, has finished
 * - `failed`: the source cannot be streamed as configured (`transcode: 'never'` on a source that needs encoding)
 * - `closed`: closed for good
 */
export type VideoSourceState = 'idle' | 'starting' | 'running' | 'restarting' | 'waiting' | 'ended' | 'failed' | 'closed';

export interface SupervisorSettings extends EncodeSettings {
  ffmpegPath: string;
  timeDelay: number;
  enableInfiniteFrames: boolean;
  renditions: LadderSpec;
}

/** The SSRCs of one ffmpeg run's outputs: one per rung of the ladder, top first (audio 0: none). */
export interface RunSsrcs {
  video: number[];
  audio: number;
}

/** How long "The End" is shown when a source finishes without `enableInfiniteFrames`. */
const THE_END_SECONDS = 1;
const RESTART_DELAYS_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];
/** After running this long, a crash is news again and the backoff starts over. */
const HEALTHY_AFTER_MS = 30_000;
/**
 * A source that ends by itself while its audio goes on (an endless extra audio input, a soundtrack longer
 * than the picture) has ended once no video came for this long: ffmpeg is stopped then.
 */
const VIDEO_ENDED_AFTER_MS = 2_000;
/** A source that sent packets and then nothing for this long is hung (a camera or network gone quiet). */
export const STALL_LIMIT_MS = 5_000;

/** A random SSRC ffmpeg accepts (it takes -ssrc as a signed 32-bit integer). */
const newSsrc = (): number => randomInt(1, 2 ** 31 - 1);

export class SourceSupervisor extends EventEmitter<{
  state: [VideoSourceState];
  error: [Error];
  failed: [Error];
  run: [RunSsrcs];
  ladder: [Rung[]];
}> {
  readonly #settings: SupervisorSettings;
  readonly #plan: SourcePlan;
  readonly #slate: Slate;
  readonly #port: number;
  readonly #logger: Logger;
  readonly #closing = new AbortController();
  #state: VideoSourceState = 'idle';
  #ffmpeg: FfmpegProcess | undefined;
  #custom: CustomStreamInput | undefined;
  #copy: boolean | undefined;
  #hasAudio = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #restarts = 0;
  #runningSince = 0;
  #everDelivered = false;
  #lastSourcePacketAt = 0;
  /** Custom streams: no new encoder before this time (backing off after a crash). */
  #notBefore = 0;
  #lastError: Error | undefined;
  /** The ladder, decided at the first run (its size and the source's are known then) and kept. */
  #ladder: Rung[] | undefined;
  /** The size viewers were last sent (from the source's keyframes), for the slate. */
  pictureSize: PictureSize | undefined;

  constructor(settings: SupervisorSettings, plan: SourcePlan, slate: Slate, port: number, logger: Logger) {
    super();
    this.#settings = settings;
    this.#plan = plan;
    this.#slate = slate;
    this.#port = port;
    this.#logger = logger;
  }

  get state(): VideoSourceState {
    return this.#state;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  get pid(): number | undefined {
    return this.#ffmpeg?.pid;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** Whether ffmpeg encodes the source (false: sent as is); undefined before that is decided. */
  get transcoding(): boolean | undefined {
    return this.#copy === undefined ? undefined : !this.#copy;
  }

  get everDelivered(): boolean {
    return this.#everDelivered;
  }

  /** Why the source last failed, while it has never delivered. */
  get lastError(): Error | undefined {
    return this.#everDelivered ? undefined : this.#lastError;
  }

  get customStream(): CustomStreamInput | undefined {
    return this.#custom;
  }

  /** Starts reading: after `timeDelay`, spawns ffmpeg on the source, or starts pulling custom frames. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') return;
    this.#setState('starting');
    if (this.#settings.timeDelay > 0) {
      try {
        await sleep(this.#settings.timeDelay * 1000, undefined, { signal: this.#closing.signal });
      } catch {
        return; // closed during the delay
      }
    }
    this.#hasAudio = await this.#plan.hasAudio(); // every run of ffmpeg sends audio, or none does
    if (this.closed) return;
    const { source } = this.#settings;
    if (source.kind === 'frames') {
      this.#copy = false;
      // ffmpeg starts with the first frame, whose size and format it must be told.
      const supervisor = this;
      this.#custom = new CustomStreamInput(source.stream, this.#settings.framerate ?? 30, this.#logger, {
        get run() {
          return supervisor.#ffmpeg;
        },
        respawn: (geometry) => this.#respawnFor(geometry),
        inputEnded: () => {
          // With an endless audio input, ffmpeg is stopped once its video has drained.
          if (this.#ffmpeg) this.#ffmpeg.endInput();
          else this.#end();
        },
      });
      this.#custom.start();
      return;
    }
    const video = await this.#plan.video();
    if (this.closed) return;
    if ('failed' in video) {
      this.#fail(video.failed);
      return;
    }
    this.#copy = video.copy;
    this.#decideLadder(await this.#plan.videoHeight());
    if (this.closed) return;
    this.#spawn();
  }

  /** The ladder for a top picture `sourceHeight` pixels high before the size reduction (when known). */
  #decideLadder(sourceHeight: number | undefined): Rung[] {
    if (this.#ladder) return this.#ladder;
    const factor = (100 - this.#settings.frameSizeReduction) / 100;
    const { source, resolution } = this.#settings;
    const height = sourceHeight ?? (source.kind === 'testsrc' ? (resolution ?? [1280, 720])[1] : resolution?.[1]);
    this.#ladder = planLadder(this.#settings.renditions, this.#settings.bitrate, height && Math.trunc(height * factor));
    this.emit('ladder', this.#ladder);
    return this.#ladder;
  }

  /** A packet of the current run arrived: the source delivers (again). */
  sourcePacket(now: number): void {
    this.#lastSourcePacketAt = now;
    if (this.#slate.showing) this.#slate.hide(); // the source is back
    if (this.#state === 'starting' || this.#state === 'restarting') {
      this.#runningSince = now;
      this.#everDelivered = true;
      this.#setState('running');
    }
  }

  /** Once a second: kills a hung ffmpeg, stops one whose video ended while its audio goes on. */
  watch(now = Date.now()): void {
    if (this.#videoEndedBeforeAudio(now)) return;
    // A hung ffmpeg (a camera or stream gone quiet without closing) is killed, which restarts it.
    // Custom streams are exempt: a slow read() is theirs to have.
    const hung = this.#state === 'running' && now - this.#lastSourcePacketAt > STALL_LIMIT_MS;
    if (hung && this.#settings.source.kind !== 'frames' && this.#ffmpeg) {
      this.#logger.warn(`no packet from ffmpeg for ${STALL_LIMIT_MS} ms: restarting it`);
      this.#ffmpeg.kill();
    }
  }

  /** Stops ffmpeg and the custom stream; the state becomes `closed` for good. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.#setState('closed');
    this.#closing.abort();
    clearTimeout(this.#restartTimer);
    const ffmpeg = this.#ffmpeg;
    this.#ffmpeg = undefined;
    await Promise.all([ffmpeg?.stop(), this.#custom?.stop()]);
  }

  /** A new frame size or format: a new encoder, same stream for the viewers. */
  async #respawnFor(geometry: RawFrameGeometry): Promise<FfmpegProcess | undefined> {
    if (this.closed || Date.now() < this.#notBefore) return undefined;
    const previous = this.#ffmpeg;
    this.#ffmpeg = undefined;
    if (previous) {
      this.#logger.info(
        `custom frames changed to ${geometry.width}x${geometry.height} ${geometry.format}: restarting the encoder`,
      );
      await previous.stop();
      this.#restarts++;
    }
    if (this.closed) return undefined;
    this.#decideLadder(geometry.height);
    return this.#spawn(geometry);
  }

  #spawn(raw?: RawFrameGeometry): FfmpegProcess {
    const ladder = this.#ladder ?? [{ scale: undefined, bitrate: this.#settings.bitrate }];
    // Every output goes to the same port: its own SSRC tells its packets apart.
    const video = ladder.map(() => newSsrc());
    const audio = this.#hasAudio ? newSsrc() : 0;
    this.emit('run', { video, audio });
    const args = buildFfmpegArgs(this.#settings, this.#port, video[0]!, {
      raw,
      copy: this.#copy,
      audioSsrc: audio || undefined,
      loopByRestart: this.#loopsByRestart(),
      lower: ladder.slice(1).map((rung, index) => ({ rung, ssrc: video[index + 1]! })),
    });
    const ffmpeg = new FfmpegProcess(this.#settings.ffmpegPath, args);
    this.#ffmpeg = ffmpeg;
    this.#logger.debug(`ffmpeg started (pid ${ffmpeg.pid}): ${this.#settings.ffmpegPath} ${args.join(' ')}`);
    ffmpeg.on('line', (line) => this.#logger.debug(`ffmpeg: ${line}`));
    ffmpeg.once('exit', (exit) => this.#onExit(ffmpeg, exit));
    return ffmpeg;
  }

  /**
   * A looped file sent as is is played again by a new run when it ends, not by ffmpeg's `-stream_loop`:
   * ffmpeg 5.1's bitstream filters (which put the parameter sets in-band) stop at the first wrap.
   */
  #loopsByRestart(): boolean {
    return this.#copy === true && this.#settings.loop && this.#settings.source.kind === 'file';
  }

  #onExit(ffmpeg: FfmpegProcess, exit: FfmpegExit): void {
    if (ffmpeg !== this.#ffmpeg || exit.stopped || this.closed) return;
    this.#ffmpeg = undefined;
    if (exit.code === 0 && this.#loopsByRestart()) {
      this.#spawn(); // the next turn of the loop; continuity makes it one stream
      return;
    }
    if (exit.code === 0 && endsByItself(this.#settings)) {
      this.#logger.info('the source has ended');
      this.#end();
      return;
    }
    if (this.#state === 'running' && Date.now() - this.#runningSince > HEALTHY_AFTER_MS) this.#failures = 0;
    const delay = RESTART_DELAYS_MS[Math.min(this.#failures, RESTART_DELAYS_MS.length - 1)]!;
    this.#failures++;
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const error = new Error(
      `ffmpeg ${how}; restarting in ${delay} ms. Its last words:\n${exit.stderrTail.join('\n') || '(nothing)'}`,
    );
    this.#logger.error(error.message);
    if (this.listenerCount('error') > 0) this.emit('error', error);
    if (!this.#everDelivered) {
      this.#lastError = error;
      this.emit('failed', error);
    }
    this.#setState('restarting');
    if (this.#settings.enableInfiniteFrames && this.#everDelivered) this.#showSlate('No Input');
    if (this.#custom) {
      // The next custom frame starts a new encoder, once the backoff has passed.
      this.#custom.runLost();
      this.#notBefore = Date.now() + delay;
      this.#restarts++;
      return;
    }
    this.#restartTimer = setTimeout(() => {
      if (this.closed) return;
      this.#restarts++;
      this.#spawn();
    }, delay);
  }

  /**
   * A source that ends by itself (a file played once, a custom stream that returned null) whose audio goes
   * on has ended with its picture: ffmpeg is stopped. Otherwise an endless audio input would keep it
   * running, or the stall watchdog would play the file again.
   */
  #videoEndedBeforeAudio(now: number): boolean {
    const ffmpeg = this.#ffmpeg;
    const ended =
      this.#hasAudio &&
      ffmpeg &&
      this.#state === 'running' &&
      endsByItself(this.#settings) &&
      (!this.#custom || this.#custom.ended) &&
      now - this.#lastSourcePacketAt > VIDEO_ENDED_AFTER_MS;
    if (!ended) return false;
    this.#ffmpeg = undefined;
    this.#logger.info('the source has ended (its audio went on; stopping it)');
    void ffmpeg.stop();
    this.#end();
    return true;
  }

  /** The source has finished: "No Input" from now on with `enableInfiniteFrames`, else "The End" briefly. */
  #end(): void {
    if (this.#everDelivered) {
      if (this.#settings.enableInfiniteFrames) this.#showSlate('No Input');
      else this.#showSlate('The End', THE_END_SECONDS);
    }
    this.#setState('ended');
  }

  #fail(error: Error): void {
    this.#logger.error(error.message);
    this.#lastError = error;
    if (this.listenerCount('error') > 0) this.emit('error', error);
    this.emit('failed', error);
    this.#setState('failed');
  }

  #showSlate(text: string, seconds?: number): void {
    this.#slate.show(text, this.pictureSize ?? this.#expectedSize(), this.#settings.framerate ?? 30, seconds);
  }

  /** The size the source should have, before a first keyframe told: known for the test pattern and custom frames. */
  #expectedSize(): PictureSize {
    const geometry = this.#custom?.geometry;
    const [width, height] = geometry ? [geometry.width, geometry.height] : (this.#settings.resolution ?? [1280, 720]);
    const factor = (100 - this.#settings.frameSizeReduction) / 100;
    return { width: Math.trunc((width * factor) / 2) * 2, height: Math.trunc((height * factor) / 2) * 2 };
  }

  #setState(state: VideoSourceState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }
}
