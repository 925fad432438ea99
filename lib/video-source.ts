import { createSocket, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { MediaStreamTrack } from 'werift';
import { rtpCodecParameters } from './codecs.ts';
import { buildFfmpegArgs, endsByItself, type EncodeSettings, type RawFrameGeometry } from './ffmpeg-args.ts';
import { FfmpegProcess, type FfmpegExit } from './ffmpeg-process.ts';
import { FramePump, type FramePumpStats } from './frame-pump.ts';
import type { VideoFrame } from './frames.ts';
import type { Logger } from './logger.ts';

/**
 * - `idle`: not started (ffmpeg starts with the first viewer)
 * - `starting`: ffmpeg runs (or waits for `timeDelay`, or for a first custom frame), no packet yet
 * - `running`: packets flow
 * - `restarting`: ffmpeg died; waiting to start it again
 * - `ended`: a file played once, or a custom stream, has finished
 * - `closed`: closed for good
 */
export type VideoSourceState = 'idle' | 'starting' | 'running' | 'restarting' | 'ended' | 'closed';

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
  /** For a custom stream: what its read() did, and frames dropped because ffmpeg was still busy. */
  customStream?: FramePumpStats & { framesDropped: number };
}

export interface VideoSourceSettings extends EncodeSettings {
  ffmpegPath: string;
  timeDelay: number;
}

const RESTART_DELAYS_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];
/** After running this long, a crash is news again and the backoff starts over. */
const HEALTHY_AFTER_MS = 30_000;
const RTP_CLOCK_PER_MS = 90;
/** A source that sent packets and then nothing for this long is hung (a camera or network gone quiet). */
export const STALL_LIMIT_MS = 5_000;

/** RTCP packet types (SR, RR, SDES, BYE, APP) sit where an RTP header has marker + payload type. */
const isRtcp = (packet: Buffer): boolean => packet.length > 1 && packet[1]! >= 200 && packet[1]! <= 204;
const isRtp = (packet: Buffer): boolean => packet.length >= 12 && packet[0]! >> 6 === 2;
const sameGeometry = (a: RawFrameGeometry | undefined, b: RawFrameGeometry): boolean =>
  !!a && a.width === b.width && a.height === b.height && a.format === b.format;

/**
 * One source encoded once: a supervised ffmpeg sending RTP to a UDP socket on 127.0.0.1, whose packets
 * feed one shared werift track that every viewer's sender reads. Each ffmpeg run gets its own SSRC;
 * sequence numbers and timestamps are carried on across runs, so viewers see one continuous stream
 * through restarts and re-inits (the new run starts with a keyframe).
 */
export class VideoSource extends EventEmitter<{ state: [VideoSourceState]; error: [Error]; failed: [Error] }> {
  /** The shared track: add it to every viewer's peer connection; never stop it for one viewer. */
  readonly track: MediaStreamTrack;
  readonly #settings: VideoSourceSettings;
  readonly #logger: Logger;
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
  // Continuity across ffmpeg runs.
  #runSsrc = 0;
  #continuedRun = 0;
  #seqOffset = 0;
  #timestampOffset = 0;
  #lastSeq = -1;
  #lastTimestamp = 0;
  #lastPacketAt = 0;
  // Custom streams.
  #pump: FramePump | undefined;
  #geometry: RawFrameGeometry | undefined;
  #framesDropped = 0;
  #respawning = false;
  #notBefore = 0;
  /** Whether any packet came since start(): a source that never delivered is unavailable, not restarting. */
  #everDelivered = false;
  #lastError: Error | undefined;
  /** Aborts a pending `timeDelay` on close, so no timer outlives the source. */
  readonly #closing = new AbortController();

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
      ...(this.#pump && { customStream: { ...this.#pump.stats(), framesDropped: this.#framesDropped } }),
    };
  }

  /**
   * Waits until the source delivers (`'running'`), is known to fail (`'failed'`: ffmpeg exited before a
   * first packet), or `timeoutMs` passes (`'waiting'`: a slow camera). Ended and running sources answer at once.
   */
  ready(timeoutMs: number): Promise<'running' | 'failed' | 'waiting'> {
    if (this.#everDelivered || this.#state === 'ended') return Promise.resolve('running');
    if (this.#lastError) return Promise.resolve('failed');
    return new Promise((resolve) => {
      const done = (result: 'running' | 'failed' | 'waiting') => {
        clearTimeout(timer);
        this.off('state', onState);
        this.off('failed', onFailed);
        resolve(result);
      };
      const onState = (state: VideoSourceState) => {
        if (state === 'running' || state === 'ended') done('running');
        if (state === 'closed') done('failed');
      };
      const onFailed = () => done('failed');
      const timer = setTimeout(() => done('waiting'), timeoutMs);
      this.on('state', onState);
      this.on('failed', onFailed);
    });
  }

  /** Why the source last failed, while it has never delivered. */
  get lastError(): Error | undefined {
    return this.#everDelivered ? undefined : this.#lastError;
  }

  /** Starts reading the source if it is not running yet. Safe to call for every viewer. */
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
    void this.#begin();
  }

  /** Stops ffmpeg and releases the socket; the state becomes `closed` for good. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.#setState('closed');
    this.#closing.abort();
    clearTimeout(this.#restartTimer);
    clearInterval(this.#rateTimer);
    const ffmpeg = this.#ffmpeg;
    this.#ffmpeg = undefined;
    await Promise.all([ffmpeg?.stop(), this.#pump?.stop()]);
    this.#socket?.close();
    this.#socket = undefined;
    this.track.stop();
  }

  /** After `timeDelay`: spawn ffmpeg on the source, or start pulling custom frames. */
  async #begin(): Promise<void> {
    if (this.#settings.timeDelay > 0) {
      try {
        await sleep(this.#settings.timeDelay * 1000, undefined, { signal: this.#closing.signal });
      } catch {
        return; // closed during the delay
      }
    }
    if (this.closed) return;
    const { source } = this.#settings;
    if (source.kind !== 'frames') {
      this.#spawn();
      return;
    }
    // A custom stream: ffmpeg starts with the first frame, whose size and format it must be told.
    const pump = new FramePump(source.stream, this.#settings.framerate ?? 30, this.#logger);
    this.#pump = pump;
    pump.on('frame', (frame) => this.#onFrame(frame));
    pump.on('end', () => {
      if (this.#ffmpeg) this.#ffmpeg.endInput();
      else this.#setState('ended');
    });
    pump.start();
  }

  #onFrame(frame: VideoFrame): void {
    if (this.closed || this.#respawning) return;
    const geometry = { width: frame.width, height: frame.height, format: frame.format };
    if (!sameGeometry(this.#geometry, geometry)) {
      if (Date.now() < this.#notBefore) return; // backing off after a crash
      void this.#respawnFor(geometry, frame);
      return;
    }
    if (!this.#ffmpeg?.writeFrame(frame.data)) this.#framesDropped++;
  }

  /** A new frame size or format: a new encoder, same stream for the viewers. */
  async #respawnFor(geometry: RawFrameGeometry, frame: VideoFrame): Promise<void> {
    this.#respawning = true;
    const previous = this.#ffmpeg;
    this.#ffmpeg = undefined;
    if (previous) {
      this.#logger.info(
        `custom frames changed to ${geometry.width}x${geometry.height} ${geometry.format}: restarting the encoder`,
      );
      await previous.stop();
      this.#restarts++;
    }
    this.#respawning = false;
    if (this.closed) return;
    this.#geometry = geometry;
    this.#spawn(geometry).writeFrame(frame.data);
  }

  #spawn(raw?: RawFrameGeometry): FfmpegProcess {
    const port = this.#socket!.address().port;
    this.#runSsrc = randomInt(1, 2 ** 31 - 1); // ffmpeg takes -ssrc as a signed 32-bit integer
    const args = buildFfmpegArgs(this.#settings, port, this.#runSsrc, raw);
    const ffmpeg = new FfmpegProcess(this.#settings.ffmpegPath, args);
    this.#ffmpeg = ffmpeg;
    this.#logger.debug(`ffmpeg started (pid ${ffmpeg.pid}): ${this.#settings.ffmpegPath} ${args.join(' ')}`);
    ffmpeg.on('line', (line) => this.#logger.debug(`ffmpeg: ${line}`));
    ffmpeg.once('exit', (exit) => this.#onExit(ffmpeg, exit));
    return ffmpeg;
  }

  #onPacket(packet: Buffer): void {
    if (!isRtp(packet) || isRtcp(packet)) return;
    const ssrc = packet.readUInt32BE(8);
    if (ssrc !== this.#runSsrc) return; // a late packet of a previous run, or not ours
    const now = Date.now();
    if (this.#continuedRun !== ssrc) {
      // First packet of this run: continue where the last run stopped, advanced by the time between.
      const seq = packet.readUInt16BE(2);
      const timestamp = packet.readUInt32BE(4);
      if (this.#lastSeq < 0) {
        this.#seqOffset = 0;
        this.#timestampOffset = 0;
      } else {
        const gap = Math.max(1, Math.round((now - this.#lastPacketAt) * RTP_CLOCK_PER_MS));
        this.#seqOffset = (this.#lastSeq + 1 - seq) & 0xffff;
        this.#timestampOffset = (this.#lastTimestamp + gap - timestamp) >>> 0;
      }
      this.#continuedRun = ssrc;
    }
    const seq = (packet.readUInt16BE(2) + this.#seqOffset) & 0xffff;
    const timestamp = (packet.readUInt32BE(4) + this.#timestampOffset) >>> 0;
    packet.writeUInt16BE(seq, 2);
    packet.writeUInt32BE(timestamp, 4);
    this.#lastSeq = seq;
    this.#lastTimestamp = timestamp;
    this.#lastPacketAt = now;

    if (this.#state === 'starting' || this.#state === 'restarting') {
      this.#runningSince = now;
      this.#everDelivered = true;
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
      this.#logger.info('the source has ended');
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
    if (!this.#everDelivered) {
      this.#lastError = error;
      this.emit('failed', error);
    }
    this.#setState('restarting');
    if (this.#settings.source.kind === 'frames') {
      // The next custom frame starts a new encoder, once the backoff has passed.
      this.#geometry = undefined;
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

  #sampleFrameRate(): void {
    this.#framesPerSecond = this.#frames - this.#framesAtLastTick;
    this.#framesAtLastTick = this.#frames;
    // A hung ffmpeg (a camera or stream gone quiet without closing) is killed, which restarts it.
    // Custom streams are exempt: a slow read() is theirs to have.
    const hung = this.#state === 'running' && Date.now() - this.#lastPacketAt > STALL_LIMIT_MS;
    if (hung && this.#settings.source.kind !== 'frames' && this.#ffmpeg) {
      this.#logger.warn(`no packet from ffmpeg for ${STALL_LIMIT_MS} ms: restarting it`);
      this.#ffmpeg.kill();
    }
  }

  #setState(state: VideoSourceState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }
}
