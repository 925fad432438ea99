import { createSocket, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { MediaStreamTrack } from 'werift';
import { rtpCodecParameters } from './codecs.ts';
import { buildFfmpegArgs, endsByItself, type EncodeSettings } from './ffmpeg-args.ts';
import { FfmpegProcess, type FfmpegExit } from './ffmpeg-process.ts';
import type { Logger } from './logger.ts';

/**
 * - `idle`: not started (ffmpeg starts with the first viewer)
 * - `starting`: ffmpeg runs, no packet yet
 * - `running`: packets flow
 * - `restarting`: ffmpeg died; waiting to start it again
 * - `ended`: a file played once has finished
 * - `closed`: closed for good
 */
export type VideoSourceState = 'idle' | 'starting' | 'running' | 'restarting' | 'ended' | 'closed';

export interface VideoSourceStats {
  state: VideoSourceState;
  /** Process id of the running ffmpeg, if any. */
  pid: number | undefined;
  /** How many times ffmpeg was started again after it died. */
  restarts: number;
  /** RTP packets and bytes received from ffmpeg since the start. */
  packets: number;
  bytes: number;
  /** Whole frames received (RTP marker bits). */
  frames: number;
  /** Frames per second over the last second. */
  framesPerSecond: number;
}

export interface VideoSourceSettings extends EncodeSettings {
  ffmpegPath: string;
}

const RESTART_DELAYS_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];
/** After running this long, a crash is news again and the backoff starts over. */
const HEALTHY_AFTER_MS = 30_000;

/** RTCP packet types (SR, RR, SDES, BYE, APP) sit where an RTP header has marker + payload type. */
const isRtcp = (packet: Buffer): boolean => packet.length > 1 && packet[1]! >= 200 && packet[1]! <= 204;
const isRtp = (packet: Buffer): boolean => packet.length >= 12 && packet[0]! >> 6 === 2;

/**
 * One source encoded once: a supervised ffmpeg sending RTP to a UDP socket on 127.0.0.1, whose packets
 * feed one shared werift track that every viewer's sender reads.
 */
export class VideoSource extends EventEmitter<{ state: [VideoSourceState]; error: [Error] }> {
  /** The shared track: add it to every viewer's peer connection; never stop it for one viewer. */
  readonly track: MediaStreamTrack;
  readonly #settings: VideoSourceSettings;
  readonly #logger: Logger;
  readonly #ssrc = randomInt(1, 2 ** 31);
  #state: VideoSourceState = 'idle';
  #socket: Socket | undefined;
  #ffmpeg: FfmpegProcess | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #rateTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #runningSince = 0;
  #restarts = 0;
  #packets = 0;
  #bytes = 0;
  #frames = 0;
  #framesAtLastTick = 0;
  #framesPerSecond = 0;

  constructor(settings: VideoSourceSettings, logger: Logger) {
    super();
    this.#settings = settings;
    this.#logger = logger;
    this.track = new MediaStreamTrack({ kind: 'video', codec: rtpCodecParameters(settings.codec) });
  }

  get state(): VideoSourceState {
    return this.#state;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  stats(): VideoSourceStats {
    return {
      state: this.#state,
      pid: this.#ffmpeg?.pid,
      restarts: this.#restarts,
      packets: this.#packets,
      bytes: this.#bytes,
      frames: this.#frames,
      framesPerSecond: this.#framesPerSecond,
    };
  }

  /** Starts ffmpeg if it is not running yet. Safe to call for every viewer. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') return;
    this.#setState('starting');
    const socket = createSocket('udp4');
    this.#socket = socket;
    socket.on('message', (packet) => this.#onPacket(packet));
    socket.on('error', (error) => this.#logger.error(`RTP socket error: ${error.message}`));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      // Loopback only: nobody on the network can inject packets into the stream.
      socket.bind({ address: '127.0.0.1', port: 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(4 * 1024 * 1024); // a keyframe arrives as a burst of packets
    } catch {
      // the kernel caps it (net.core.rmem_max); the default still works
    }
    if (this.closed) return; // closed while binding
    this.#rateTimer = setInterval(() => this.#sampleFrameRate(), 1_000).unref();
    this.#spawn();
  }

  /** Stops ffmpeg and releases the socket; the state becomes `closed` for good. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.#setState('closed');
    clearTimeout(this.#restartTimer);
    clearInterval(this.#rateTimer);
    const ffmpeg = this.#ffmpeg;
    this.#ffmpeg = undefined;
    await ffmpeg?.stop();
    this.#socket?.close();
    this.#socket = undefined;
    this.track.stop();
  }

  #spawn(): void {
    const port = this.#socket!.address().port;
    const args = buildFfmpegArgs(this.#settings, port, this.#ssrc);
    const ffmpeg = new FfmpegProcess(this.#settings.ffmpegPath, args);
    this.#ffmpeg = ffmpeg;
    this.#logger.debug(`ffmpeg started (pid ${ffmpeg.pid}): ${this.#settings.ffmpegPath} ${args.join(' ')}`);
    ffmpeg.on('line', (line) => this.#logger.debug(`ffmpeg: ${line}`));
    ffmpeg.once('exit', (exit) => this.#onExit(ffmpeg, exit));
  }

  #onPacket(packet: Buffer): void {
    if (!isRtp(packet) || isRtcp(packet)) return;
    if (this.#state === 'starting' || this.#state === 'restarting') {
      this.#runningSince = Date.now();
      this.#setState('running');
    }
    this.#packets++;
    this.#bytes += packet.length;
    if (packet[1]! & 0x80) this.#frames++;
    this.track.writeRtp(packet);
  }

  #onExit(ffmpeg: FfmpegProcess, exit: FfmpegExit): void {
    if (ffmpeg !== this.#ffmpeg || exit.stopped || this.closed) return;
    this.#ffmpeg = undefined;
    if (exit.code === 0 && endsByItself(this.#settings)) {
      this.#logger.info('the source file has ended');
      this.#setState('ended');
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
    this.#setState('restarting');
    this.#restartTimer = setTimeout(() => {
      if (this.closed) return;
      this.#restarts++;
      this.#spawn();
    }, delay);
  }

  #sampleFrameRate(): void {
    this.#framesPerSecond = this.#frames - this.#framesAtLastTick;
    this.#framesAtLastTick = this.#frames;
  }

  #setState(state: VideoSourceState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }
}
