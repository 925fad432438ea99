/**
 * Driving a custom stream: its frames are read at the frame rate (FramePump) and piped raw into ffmpeg. A
 * frame of a new size or format needs a new encoder: the run is replaced, and viewers see one stream.
 */
import type { RawFrameGeometry } from './ffmpeg/ffmpeg-args.ts';
import type { FfmpegProcess } from './ffmpeg/ffmpeg-process.ts';
import { FramePump, type FramePumpStats } from './frame-pump.ts';
import type { CustomStream, VideoFrame } from './frames.ts';
import type { Logger } from '../logger.ts';

/** What the input asks of the supervisor that runs ffmpeg. */
export interface CustomStreamHost {
  /** The ffmpeg run encoding the frames now, if any. */
  readonly run: FfmpegProcess | undefined;
  /** Replaces the current run by one for frames of `geometry`; undefined while backing off after a crash, or closed. */
  respawn(geometry: RawFrameGeometry): Promise<FfmpegProcess | undefined>;
  /** read() returned nothing: the stream has ended. */
  inputEnded(): void;
}

export interface CustomStreamStats extends FramePumpStats {
  /** Frames dropped because ffmpeg was still busy with the previous one. */
  framesDropped: number;
}

/** A frame's bytes as a Uint8Array (a canvas gives a Uint8ClampedArray over the same memory). */
const bytesOf = (frame: VideoFrame): Uint8Array =>
  frame.data instanceof Uint8Array ? frame.data : new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);

const sameGeometry = (a: RawFrameGeometry | undefined, b: RawFrameGeometry): boolean =>
  !!a && a.width === b.width && a.height === b.height && a.format === b.format;

export class CustomStreamInput {
  readonly #pump: FramePump;
  readonly #host: CustomStreamHost;
  /** Size and format of the frames the current run was started for; undefined before one, or after a crash. */
  #geometry: RawFrameGeometry | undefined;
  #respawning = false;
  #framesDropped = 0;
  #ended = false;

  constructor(stream: CustomStream, framerate: number, logger: Logger, host: CustomStreamHost) {
    this.#host = host;
    this.#pump = new FramePump(stream, framerate, logger);
    this.#pump.on('frame', (frame) => this.#onFrame(frame));
    this.#pump.on('end', () => {
      this.#ended = true;
      host.inputEnded();
    });
  }

  /** The size and format of the frames being encoded, if known. */
  get geometry(): RawFrameGeometry | undefined {
    return this.#geometry;
  }

  /** Whether read() has returned nothing (the stream is over). */
  get ended(): boolean {
    return this.#ended;
  }

  start(): void {
    this.#pump.start();
  }

  /** The run died: the next frame starts a new one (once the host's backoff has passed). */
  runLost(): void {
    this.#geometry = undefined;
  }

  stats(): CustomStreamStats {
    return { ...this.#pump.stats(), framesDropped: this.#framesDropped };
  }

  /** Stops reading and calls the stream's stop(). */
  stop(): Promise<void> {
    return this.#pump.stop();
  }

  #onFrame(frame: VideoFrame): void {
    if (this.#respawning) return;
    const geometry = { width: frame.width, height: frame.height, format: frame.format };
    if (!sameGeometry(this.#geometry, geometry)) {
      void this.#respawnFor(geometry, frame);
      return;
    }
    if (!this.#host.run?.writeFrame(bytesOf(frame))) this.#framesDropped++;
  }

  async #respawnFor(geometry: RawFrameGeometry, frame: VideoFrame): Promise<void> {
    this.#respawning = true;
    try {
      const run = await this.#host.respawn(geometry);
      if (!run) return;
      this.#geometry = geometry;
      run.writeFrame(bytesOf(frame));
    } finally {
      this.#respawning = false;
    }
  }
}
