import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.ts';
import type { PictureSize } from '../types.ts';
import { buildSlateArgs, type EncodeSettings } from './ffmpeg/ffmpeg-args.ts';
import { FfmpegProcess, type FfmpegExit } from './ffmpeg/ffmpeg-process.ts';

export interface SlateSettings extends Pick<EncodeSettings, 'codec' | 'bitrate' | 'gop'> {
  ffmpegPath: string;
}

/**
 * The picture viewers get instead of the source ("No Input" while it is down, "The End" when it ended):
 * a small ffmpeg generating it, encoded like the source and sent to the same RTP port under its own SSRC.
 * `'ssrc'` says when the SSRC of its packets changes (0: none shown), so that the ingest lets them in.
 */
export class Slate extends EventEmitter<{ ssrc: [ssrc: number, previous: number] }> {
  readonly #settings: SlateSettings;
  readonly #rtpPort: number;
  readonly #logger: Logger;
  #ffmpeg: FfmpegProcess | undefined;
  #ssrc = 0;
  #text: string | undefined;
  /** Cleared when ffmpeg could not draw text (no drawtext filter, no font): a plain picture still works. */
  #drawText = true;
  #closed = false;

  constructor(settings: SlateSettings, rtpPort: number, logger: Logger) {
    super();
    this.#settings = settings;
    this.#rtpPort = rtpPort;
    this.#logger = logger;
  }

  /** SSRC of the packets the slate sends now; 0 when none is shown. */
  get ssrc(): number {
    return this.#ssrc;
  }

  /** The text shown now, if any. */
  get showing(): string | undefined {
    return this.#text;
  }

  /** Shows `text` at `size` (for `seconds`, default until hidden). Showing the same text again is a no-op. */
  show(text: string, size: PictureSize, framerate: number, seconds?: number): void {
    if (this.#closed || (this.#text === text && this.#ffmpeg)) return;
    void this.#ffmpeg?.stop();
    this.#text = text;
    this.#setSsrc(randomInt(1, 2 ** 31 - 1));
    const args = buildSlateArgs(
      this.#settings,
      { text, width: size.width, height: size.height, framerate, seconds, drawText: this.#drawText },
      this.#rtpPort,
      this.#ssrc,
    );
    const ffmpeg = new FfmpegProcess(this.#settings.ffmpegPath, args);
    this.#ffmpeg = ffmpeg;
    this.#logger.debug(`showing "${text}" at ${size.width}x${size.height} (ffmpeg pid ${ffmpeg.pid})`);
    ffmpeg.once('exit', (exit) => this.#onExit(ffmpeg, exit, { text, size, framerate, seconds }));
  }

  /** Stops showing the slate; its late packets carry an SSRC nobody accepts any more. */
  hide(): void {
    const ffmpeg = this.#ffmpeg;
    this.#ffmpeg = undefined;
    this.#text = undefined;
    this.#setSsrc(0);
    void ffmpeg?.stop();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const ffmpeg = this.#ffmpeg;
    this.hide();
    await ffmpeg?.stop();
  }

  #setSsrc(ssrc: number): void {
    const previous = this.#ssrc;
    this.#ssrc = ssrc;
    if (ssrc !== previous) this.emit('ssrc', ssrc, previous);
  }

  #onExit(
    ffmpeg: FfmpegProcess,
    exit: FfmpegExit,
    shown: { text: string; size: PictureSize; framerate: number; seconds: number | undefined },
  ): void {
    if (ffmpeg !== this.#ffmpeg || exit.stopped || this.#closed) return;
    this.#ffmpeg = undefined;
    if (exit.code === 0) {
      this.#text = undefined; // shown for its time
      return;
    }
    const lastWords = exit.stderrTail.join('\n') || '(nothing)';
    if (this.#drawText) {
      this.#drawText = false;
      this.#logger.warn(`ffmpeg could not draw the "${shown.text}" picture; showing it without text:\n${lastWords}`);
      this.#text = undefined;
      this.show(shown.text, shown.size, shown.framerate, shown.seconds);
      return;
    }
    this.#text = undefined;
    this.#logger.error(`ffmpeg could not generate the "${shown.text}" picture:\n${lastWords}`);
  }
}
