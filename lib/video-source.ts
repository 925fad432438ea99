import { createSocket, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { MediaStreamTrack } from 'werift';
import { opusCodecParameters, rtpCodecParameters } from './codecs.ts';
import { buildFfmpegArgs, endsByItself, type EncodeSettings, type RawFrameGeometry } from './ffmpeg-args.ts';
import { resolveFfprobePath } from './ffmpeg-path.ts';
import { FfmpegProcess, type FfmpegExit } from './ffmpeg-process.ts';
import { FramePump, type FramePumpStats } from './frame-pump.ts';
import { GopCache } from './gop-cache.ts';
import type { VideoFrame } from './frames.ts';
import type { Logger } from './logger.ts';
import { encodingNeeds, type ResolvedOptions, type SourceSpec } from './options.ts';
import { rtpPictureSize, type PictureSize } from './rtp-payload.ts';
import { RtpContinuity } from './rtp-continuity.ts';
import type { RtpSink } from './rtp-sender.ts';
import { Slate } from './slate.ts';
import { passthroughProblem, probeSource, sourceTarget, type SourceStreams } from './source-probe.ts';

/**
 * - `idle`: not started (ffmpeg starts with the first viewer)
 * - `starting`: ffmpeg runs (or waits for `timeDelay`, or for a first custom frame), no packet yet
 * - `running`: packets flow
 * - `restarting`: ffmpeg died; waiting to start it again
 * - `ended`: a file played once, or a custom stream, has finished
 * - `failed`: the source cannot be streamed as configured (`transcode: 'never'` on a source that needs encoding)
 * - `closed`: closed for good
 */
export type VideoSourceState = 'idle' | 'starting' | 'running' | 'restarting' | 'ended' | 'failed' | 'closed';

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
  customStream?: FramePumpStats & { framesDropped: number };
  /**
   * The audio (Opus) RTP packets and bytes received from ffmpeg since the start, not counted above;
   * undefined when the stream has no audio (or before that is known).
   */
  audio: { packets: number; bytes: number } | undefined;
}

export interface VideoSourceSettings
  extends EncodeSettings, Pick<ResolvedOptions, 'timeDelay' | 'enableInfiniteFrames' | 'transcode'> {
  ffmpegPath: string;
}

/** How long "The End" is shown when a source finishes without `enableInfiniteFrames`. */
const THE_END_SECONDS = 1;

const RESTART_DELAYS_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];
/** After running this long, a crash is news again and the backoff starts over. */
const HEALTHY_AFTER_MS = 30_000;
/**
 * A source that ends by itself while its audio goes on (an endless extra audio input, a soundtrack
 * longer than the picture) has ended once no video came for this long: ffmpeg is stopped then.
 */
const VIDEO_ENDED_AFTER_MS = 2_000;
/** A source that sent packets and then nothing for this long is hung (a camera or network gone quiet). */
export const STALL_LIMIT_MS = 5_000;

/** RTCP packet types (SR, RR, SDES, BYE, APP) sit where an RTP header has marker + payload type. */
const isRtcp = (packet: Buffer): boolean => packet.length > 1 && packet[1]! >= 200 && packet[1]! <= 204;
const isRtp = (packet: Buffer): boolean => packet.length >= 12 && packet[0]! >> 6 === 2;
/** A frame's bytes as a Uint8Array (a canvas gives a Uint8ClampedArray over the same memory). */
const bytesOf = (frame: VideoFrame): Uint8Array =>
  frame.data instanceof Uint8Array ? frame.data : new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
/** Sends one RTP packet to every viewer's sink; they all read the same buffer. */
function fanOut(packet: Buffer, sinks: ReadonlySet<RtpSink>): void {
  for (const sink of sinks) sink.send(packet);
}
const sameGeometry = (a: RawFrameGeometry | undefined, b: RawFrameGeometry): boolean =>
  !!a && a.width === b.width && a.height === b.height && a.format === b.format;

/**
 * One source encoded once: a supervised ffmpeg sending RTP to a UDP socket on 127.0.0.1, whose packets
 * go to every viewer's track. A viewer who joins first gets the packets since the last keyframe (the
 * GOP cache), so it shows a picture at once; then the live stream. Each ffmpeg run gets its own SSRC;
 * sequence numbers and timestamps are carried on across runs, so viewers see one continuous stream
 * through restarts and re-inits (the new run starts with a keyframe). A stream with audio has the same
 * ffmpeg send Opus to the same socket under a second SSRC, for the audio tracks of viewers who asked.
 */
export class VideoSource extends EventEmitter<{ state: [VideoSourceState]; error: [Error]; failed: [Error] }> {
  readonly #sinks = new Set<RtpSink>();
  readonly #gop: GopCache;
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
  #bytesAtLastTick = 0;
  #bitrate = 0;
  // Continuity across ffmpeg runs.
  #runSsrc = 0;
  readonly #continuity = new RtpContinuity(90_000);
  #lastSourcePacketAt = 0;
  // Audio: the sinks of the viewers whose offer asked for it, fed every packet (no GOP cache needed).
  readonly #audioSinks = new Set<RtpSink>();
  /** Whether the stream has audio: decided once (probing a source's own audio), see hasAudio(). */
  #audioDecision: Promise<boolean> | undefined;
  #hasAudio: boolean | undefined;
  /** SSRC of this run's audio output; 0 when none. */
  #audioSsrc = 0;
  readonly #audioContinuity = new RtpContinuity(48_000);
  #audioPackets = 0;
  #audioBytes = 0;
  /** ffprobe's answer on the source, asked once for both the passthrough and the audio decisions. */
  #probe: Promise<SourceStreams> | undefined;
  /** The picture size the source last announced, for a slate of the same size. */
  #pictureSize: PictureSize | undefined;
  #slate: Slate | undefined;
  /** Send the source as is (decided once, by probing it, for `transcode: 'auto' | 'never'`). */
  #copy: boolean | undefined;
  // Custom streams.
  #pump: FramePump | undefined;
  #geometry: RawFrameGeometry | undefined;
  #framesDropped = 0;
  #pumpEnded = false;
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
    this.#gop = new GopCache(settings.codec);
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
      bitrate: this.#bitrate,
      transcoding: this.#copy === undefined ? undefined : !this.#copy,
      slate: this.#slate?.showing,
      ...(this.#pump && { customStream: { ...this.#pump.stats(), framesDropped: this.#framesDropped } }),
      audio: this.#hasAudio ? { packets: this.#audioPackets, bytes: this.#audioBytes } : undefined,
    };
  }

  /**
   * Waits until the source delivers (`'running'`), is known to fail (`'failed'`: ffmpeg exited before a
   * first packet), or `timeoutMs` passes (`'waiting'`: a slow camera). Ended and running sources answer at once.
   */
  ready(timeoutMs: number): Promise<'running' | 'failed' | 'waiting'> {
    if (this.#everDelivered || this.#state === 'ended') return Promise.resolve('running');
    if (this.#lastError || this.#state === 'failed') return Promise.resolve('failed');
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

  /** Why the source last failed, while it has never delivered. */
  get lastError(): Error | undefined {
    return this.#everDelivered ? undefined : this.#lastError;
  }

  /** A track for one viewer's peer connection. It carries nothing until `startSending()`. */
  createTrack(): MediaStreamTrack {
    return new MediaStreamTrack({ kind: 'video', codec: rtpCodecParameters(this.#settings.codec) });
  }

  /** An audio (Opus) track for one viewer, for a stream with audio (see hasAudio()). Nothing until `startSending()`. */
  createAudioTrack(): MediaStreamTrack {
    return new MediaStreamTrack({ kind: 'audio', codec: opusCodecParameters() });
  }

  /**
   * Whether the stream carries audio: an extra `audio` input does; the source's own audio is looked for
   * once with ffprobe (a source that cannot be probed is taken as silent). Safe to call for every viewer.
   */
  hasAudio(): Promise<boolean> {
    this.#audioDecision ??= this.#decideAudio().then((hasAudio) => (this.#hasAudio = hasAudio));
    return this.#audioDecision;
  }

  /**
   * Sends the packets since the last keyframe to a viewer's video `sink` (it decodes a picture at once),
   * then the live stream; an audio sink gets the live audio. Call it when the viewer's connection is up:
   * packets sent before are lost.
   */
  startSending(sink: RtpSink): void {
    if (this.closed || this.#sinks.has(sink) || this.#audioSinks.has(sink)) return;
    if (sink.kind === 'audio') {
      this.#audioSinks.add(sink);
      return;
    }
    for (const packet of this.#gop.replay()) sink.send(packet);
    this.#sinks.add(sink);
  }

  /** Stops sending to `sink`. */
  stopSending(sink: RtpSink): void {
    this.#sinks.delete(sink);
    this.#audioSinks.delete(sink);
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
    this.#slate = new Slate(this.#settings, socket.address().port, this.#logger);
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
    await Promise.all([ffmpeg?.stop(), this.#pump?.stop(), this.#slate?.close()]);
    this.#socket?.close();
    this.#socket = undefined;
    this.#sinks.clear();
    this.#audioSinks.clear();
    this.#gop.clear();
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
    await this.hasAudio(); // every run of ffmpeg sends audio, or none does
    if (this.closed) return;
    const { source } = this.#settings;
    if (source.kind !== 'frames') {
      this.#copy = await this.#decideCopy();
      if (this.#copy !== undefined && !this.closed) this.#spawn();
      return;
    }
    this.#copy = false;
    // A custom stream: ffmpeg starts with the first frame, whose size and format it must be told.
    const pump = new FramePump(source.stream, this.#settings.framerate ?? 30, this.#logger);
    this.#pump = pump;
    pump.on('frame', (frame) => this.#onFrame(frame));
    pump.on('end', () => {
      this.#pumpEnded = true; // with an endless audio input, ffmpeg is stopped once its video has drained
      if (this.#ffmpeg) this.#ffmpeg.endInput();
      else this.#end();
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
    if (!this.#ffmpeg?.writeFrame(bytesOf(frame))) this.#framesDropped++;
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
    this.#spawn(geometry).writeFrame(bytesOf(frame));
  }

  #spawn(raw?: RawFrameGeometry): FfmpegProcess {
    const port = this.#socket!.address().port;
    this.#runSsrc = randomInt(1, 2 ** 31 - 1); // ffmpeg takes -ssrc as a signed 32-bit integer
    // The audio goes to the same port: its own SSRC tells its packets apart.
    this.#audioSsrc = this.#hasAudio ? (this.#runSsrc % (2 ** 31 - 2)) + 1 : 0;
    const audioSsrc = this.#audioSsrc || undefined;
    const args = buildFfmpegArgs(this.#settings, port, this.#runSsrc, { raw, copy: this.#copy, audioSsrc });
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
    if (ssrc === this.#audioSsrc && ssrc !== 0) {
      this.#onAudioPacket(packet);
      return;
    }
    const fromSource = ssrc === this.#runSsrc;
    // Anything else is a late packet of a previous run or slate, or not ours.
    if (!fromSource && (ssrc !== this.#slate?.ssrc || ssrc === 0)) return;
    const now = Date.now();
    if (fromSource) {
      if (this.#slate?.showing) this.#slate.hide(); // the source is back
      this.#lastSourcePacketAt = now;
      this.#pictureSize = rtpPictureSize(this.#settings.codec, packet) ?? this.#pictureSize;
    }
    this.#continuity.rewrite(packet, now);

    if (fromSource && (this.#state === 'starting' || this.#state === 'restarting')) {
      this.#runningSince = now;
      this.#everDelivered = true;
      this.#setState('running');
    }
    this.#packets++;
    this.#bytes += packet.length;
    if (packet[1]! & 0x80) this.#frames++;
    this.#gop.push(packet);
    fanOut(packet, this.#sinks);
  }

  /**
   * An audio packet: one continuous stream across ffmpeg runs, like the video, then to every audio
   * track. It says nothing of the video's health (state, stalls, the slate).
   */
  #onAudioPacket(packet: Buffer): void {
    this.#audioContinuity.rewrite(packet);
    this.#audioPackets++;
    this.#audioBytes += packet.length;
    fanOut(packet, this.#audioSinks);
  }

  #onExit(ffmpeg: FfmpegProcess, exit: FfmpegExit): void {
    if (ffmpeg !== this.#ffmpeg || exit.stopped || this.closed) return;
    this.#ffmpeg = undefined;
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
    this.#bitrate = (this.#bytes - this.#bytesAtLastTick) * 8;
    this.#bytesAtLastTick = this.#bytes;
    if (this.#videoEndedBeforeAudio()) return;
    // A hung ffmpeg (a camera or stream gone quiet without closing) is killed, which restarts it.
    // Custom streams are exempt: a slow read() is theirs to have.
    const hung = this.#state === 'running' && Date.now() - this.#lastSourcePacketAt > STALL_LIMIT_MS;
    if (hung && this.#settings.source.kind !== 'frames' && this.#ffmpeg) {
      this.#logger.warn(`no packet from ffmpeg for ${STALL_LIMIT_MS} ms: restarting it`);
      this.#ffmpeg.kill();
    }
  }

  /**
   * A source that ends by itself (a file played once, a custom stream that returned null) whose audio
   * goes on has ended with its picture: ffmpeg is stopped. Otherwise an endless audio input would keep
   * it running, or the stall watchdog would play the file again.
   */
  #videoEndedBeforeAudio(): boolean {
    const ffmpeg = this.#ffmpeg;
    const ended =
      this.#hasAudio &&
      ffmpeg &&
      this.#state === 'running' &&
      endsByItself(this.#settings) &&
      (this.#settings.source.kind !== 'frames' || this.#pumpEnded) &&
      Date.now() - this.#lastSourcePacketAt > VIDEO_ENDED_AFTER_MS;
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

  #showSlate(text: string, seconds?: number): void {
    const size = this.#pictureSize ?? this.#expectedSize();
    this.#slate?.show(text, size, this.#settings.framerate ?? 30, seconds);
  }

  /** The size the source should have, before a first keyframe told: known for the test pattern and custom frames. */
  #expectedSize(): PictureSize {
    const [width, height] = this.#geometry
      ? [this.#geometry.width, this.#geometry.height]
      : (this.#settings.resolution ?? [1280, 720]);
    const factor = (100 - this.#settings.frameSizeReduction) / 100;
    return { width: Math.trunc((width * factor) / 2) * 2, height: Math.trunc((height * factor) / 2) * 2 };
  }

  /**
   * Whether this source is sent as is: `transcode: 'auto'` probes an H.264 source that nothing in the
   * options needs encoded. Undefined when `transcode: 'never'` meets a source that needs encoding (the
   * source has failed then).
   */
  async #decideCopy(): Promise<boolean | undefined> {
    const { source, transcode, codec } = this.#settings;
    if (transcode === 'always' || source.kind === 'frames' || source.kind === 'testsrc') return false;
    if (encodingNeeds(source, codec, this.#settings)) return false; // 'never' was refused with the options
    let problem: string | undefined;
    try {
      const { video } = await this.#probeSource(source);
      if (!video) throw new Error(`no video stream found in ${sourceTarget(source)}`);
      problem = passthroughProblem(video);
    } catch (error) {
      // Unreadable now: ffmpeg will say why, and restarts; copying is what was asked for or allowed.
      this.#logger.debug(`could not probe the source: ${(error as Error).message}`);
      return transcode === 'never';
    }
    if (this.closed) return undefined;
    if (!problem) {
      this.#logger.info('the source is H.264 without B-frames: sending it as is, without encoding');
      return true;
    }
    if (transcode === 'auto') {
      this.#logger.info(`encoding the source: ${problem}`);
      return false;
    }
    const error = new Error(`the source cannot be sent without encoding (transcode: "never"): ${problem}`);
    this.#logger.error(error.message);
    this.#lastError = error;
    if (this.listenerCount('error') > 0) this.emit('error', error);
    this.emit('failed', error);
    this.#setState('failed');
    return undefined;
  }

  /** Whether the stream has audio: an extra input has; a file or URL is probed for its own. */
  async #decideAudio(): Promise<boolean> {
    const { audio, source } = this.#settings;
    if (audio.kind !== 'source' || source.kind === 'frames' || source.kind === 'testsrc') return audio.kind === 'input';
    try {
      const streams = await this.#probeSource(source);
      if (streams.audio) this.#logger.info(`the source has audio (${streams.audio.codec}): sending it as Opus`);
      return streams.audio !== undefined;
    } catch (error) {
      this.#logger.debug(`could not probe the source for audio; sending none: ${(error as Error).message}`);
      return false;
    }
  }

  /** ffprobe on the source, run once: the passthrough and the audio decisions both read it. */
  #probeSource(source: Exclude<SourceSpec, { kind: 'frames' | 'testsrc' }>): Promise<SourceStreams> {
    this.#probe ??= Promise.resolve().then(() =>
      probeSource(resolveFfprobePath(this.#settings.ffmpegPath), source),
    );
    return this.#probe;
  }

  #setState(state: VideoSourceState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }
}
