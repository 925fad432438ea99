/**
 * Test publishers for the WebRTC sources: a werift peer that publishes ffmpeg's test pattern over WHIP, as
 * OBS or any WHIP client would, and Chromium's /publish page with a fake camera. Real ffmpeg (recorded once, replayed in real time), real werift, real HTTP;
 * nothing here is a mock.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { WhipStats, WebGearRtc } from 'webgear-rtc';
import { vp8PictureIdField } from '../../lib/rtp/rtp-payload.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './helpers.ts';
import { MediaStream, MediaStreamTrack, RTCPeerConnection, useH264, useNACK, useOPUS, usePLI, useVP8, type RTCRtpSender } from 'werift';

export interface WeriftPublisher {
  pc: RTCPeerConnection;
  sender: RTCRtpSender;
  /** The publication's resource (absolute), its ETag, and the answer. */
  resourceUrl: string;
  etag: string | null;
  answerSdp: string;
  /** Keyframe requests (PLI) the server sent us. */
  readonly plis: number[];
  /** RTP packets written into the track. */
  packets: number;
  /** The video it sends, frame by frame: each frame's packet payloads, as hashes (a keyframe every 30 frames). */
  frames: string[][];
  connected: Promise<void>;
  /** DELETE, then close. */
  close(): Promise<void>;
  /** Gone without a word (a killed OBS): no DELETE, the connection just stops. */
  kill(): Promise<void>;
}

export interface PublisherOptions {
  codec?: 'vp8' | 'h264';
  size?: [number, number];
  token?: string;
  /** Also an Opus track (ffmpeg's sine). */
  audio?: boolean;
  /** The codec the offer lists, when not `codec`: e.g. only H.264 offered to a VP8 server. */
  offerCodec?: 'vp8' | 'h264';
  /** The video's bitrate, bit/s (default 800 000). */
  bitrate?: number;
  /**
   * Share of its outgoing packets (RTP, RTCP, DTLS) lost on the way, in percent: werift's own loss
   * simulation, after its retransmission buffer (a NACK can still recover them).
   */
  lossPercent?: number;
  /** Plays the clip this many times faster than real time (benchmarks: many packets a second). Default 1. */
  speed?: number;
}

const open = new Set<WeriftPublisher>();

/** Every publisher a test left open, closed (for `after` hooks). */
export async function closePublishers(): Promise<void> {
  await Promise.all([...open].map((publisher) => publisher.kill()));
}

/** One recorded RTP packet and when it is due, in ms from the clip's start (from its RTP timestamp). */
interface Recorded {
  packet: Buffer;
  atMs: number;
}

/** A few seconds of RTP, recorded once per kind and replayed in a loop: no encoder runs while a test does. */
interface Clip {
  packets: Recorded[];
  /** The clip's length: the next turn starts this long after the previous one. */
  durationMs: number;
  clockRate: number;
}

const CLIP_SECONDS = 3;
const clips = new Map<string, Promise<Clip>>();

/**
 * ffmpeg's RTP for `seconds` of the test pattern (VP8 or H.264, a keyframe every 30 frames, so that every
 * turn starts with one) or of a 440 Hz tone (Opus), received on a socket of ours as fast as ffmpeg
 * encodes. Replaying it costs no encoding, so a publisher keeps its 30 fps on a busy machine.
 */
function recordClip(kind: 'vp8' | 'h264' | 'opus', [width, height]: [number, number], bitrate = 800_000): Promise<Clip> {
  const key = `${kind} ${width}x${height} ${bitrate}`;
  let clip = clips.get(key);
  if (!clip) {
    clip = new Promise<Clip>((resolve, reject) => {
      const socket = createSocket('udp4');
      const packets: Buffer[] = [];
      socket.on('message', (packet) => packets.push(packet));
      socket.bind(0, '127.0.0.1', () => {
        try {
          socket.setRecvBufferSize(16 * 1024 * 1024);
        } catch {
          // the kernel's cap; a few seconds still fit
        }
        const target = `rtp://127.0.0.1:${socket.address().port}?pkt_size=1200`;
        const input = kind === 'opus'
          ? ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${CLIP_SECONDS}`, '-c:a', 'libopus', '-ac', '2', '-payload_type', '111']
          : ['-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30:duration=${CLIP_SECONDS}`, ...(kind === 'vp8'
            ? ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', String(bitrate), '-g', '30', '-keyint_min', '30']
            : ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-bf', '0', '-g', '30', '-b:v', String(bitrate)]),
          '-payload_type', '96'];
        const ffmpeg: ChildProcess = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...input, '-f', 'rtp', target], { stdio: 'ignore' });
        ffmpeg.once('exit', (code) => {
          setTimeout(() => {
            socket.close();
            if (code !== 0 || packets.length === 0) return reject(new Error(`ffmpeg could not record the ${key} clip (exit ${code})`));
            const clockRate = kind === 'opus' ? 48_000 : 90_000;
            const first = packets[0]!.readUInt32BE(4);
            const recorded = packets.map((packet) => ({ packet, atMs: (((packet.readUInt32BE(4) - first) >>> 0) * 1000) / clockRate }));
            const frameMs = kind === 'opus' ? 20 : 1000 / 30;
            resolve({ packets: recorded, durationMs: recorded.at(-1)!.atMs + frameMs, clockRate });
          }, 100); // the last datagrams
        });
      });
    });
    clips.set(key, clip);
  }
  return clip;
}

/**
 * A payload's fingerprint, its VP8 PictureID left out: each viewer numbers its own pictures
 * (lib/sender/picture-ids.ts), so after a replay or a switch the same picture carries another number. An
 * H.264 payload never matches (its first byte's top bit, F, is 0).
 */
export function payloadHash(payload: Uint8Array): string {
  const field = vp8PictureIdField(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), 0);
  if (field < 0) return createHash('sha1').update(payload).digest('base64');
  const copy = Buffer.from(payload);
  copy.fill(0, field & 0xffff, (field & 0xffff) + (field >> 16));
  return createHash('sha1').update(copy).digest('base64');
}

/** A video clip's frames (packets sharing a timestamp), each as its payloads' hashes in order. */
function framesOf(clip: Clip): string[][] {
  const frames = new Map<number, string[]>();
  for (const { packet } of clip.packets) {
    const timestamp = packet.readUInt32BE(4);
    if (!frames.has(timestamp)) frames.set(timestamp, []);
    frames.get(timestamp)!.push(payloadHash(packet.subarray(12)));
  }
  return [...frames.values()];
}

/** Plays a clip into `track` in real time, turn after turn, as one continuous stream (sequence numbers and timestamps go on). */
function replay(clip: Clip, track: MediaStreamTrack, count: () => void, speed = 1): () => void {
  const started = performance.now();
  let index = 0;
  let turn = 0;
  let seq = 0;
  const ssrc = (Math.random() * 2 ** 32) >>> 0;
  const timer = setInterval(() => {
    const elapsed = (performance.now() - started) * speed;
    while (turn * clip.durationMs + clip.packets[index]!.atMs <= elapsed) {
      const { packet, atMs } = clip.packets[index]!;
      const copy = Buffer.from(packet);
      copy.writeUInt16BE(seq++ & 0xffff, 2);
      const timestamp = Math.round(((turn * clip.durationMs + atMs) * clip.clockRate) / 1000);
      copy.writeUInt32BE(timestamp >>> 0, 4);
      copy.writeUInt32BE(ssrc, 8);
      track.writeRtp(copy);
      count();
      if (++index === clip.packets.length) {
        index = 0;
        turn++;
      }
    }
  }, 5);
  return () => clearInterval(timer);
}

/** A werift publisher: its offer POSTed to `whipUrl`, the test pattern sent once connected. */
export async function publishWithWerift(whipUrl: string, options: PublisherOptions = {}): Promise<WeriftPublisher> {
  const codec = options.codec ?? 'vp8';
  const offered = options.offerCodec ?? codec;
  const rtcpFeedback = [useNACK(), usePLI()];
  const pc = new RTCPeerConnection({
    codecs: {
      video: [offered === 'vp8' ? useVP8({ rtcpFeedback }) : useH264({ rtcpFeedback })],
      audio: options.audio ? [useOPUS()] : [],
    },
    bundlePolicy: 'max-bundle',
    iceServers: [],
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
    // werift drops when `outboundPacketLoss / 100 < Math.random()`: 97 loses 3 %.
    ...(options.lossPercent ? { debug: { outboundPacketLoss: 100 - options.lossPercent } } : {}),
  });
  const video = new MediaStreamTrack({ kind: 'video' });
  const sound = options.audio ? new MediaStreamTrack({ kind: 'audio' }) : undefined;
  const stream = new MediaStream([video, ...(sound ? [sound] : [])]);
  const { sender } = pc.addTransceiver(video, { direction: 'sendonly', streams: [stream] });
  if (sound) pc.addTransceiver(sound, { direction: 'sendonly', streams: [stream] });
  const plis: number[] = [];
  sender.onPictureLossIndication.subscribe(() => plis.push(performance.now()));
  const size = options.size ?? [640, 360];
  const clipsReady = Promise.all([recordClip(codec, size, options.bitrate), options.audio ? recordClip('opus', [0, 0]) : undefined]);
  const stops: Array<() => void> = [];
  const publisher: WeriftPublisher = {
    pc,
    sender,
    resourceUrl: '',
    etag: null,
    answerSdp: '',
    plis,
    packets: 0,
    frames: [],
    connected: new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the publisher did not connect within 10 s')), 10_000);
      pc.connectionStateChange.subscribe((state) => {
        if (state !== 'connected') return;
        clearTimeout(timer);
        resolve();
      });
    }),
    async close() {
      if (publisher.resourceUrl) {
        await fetch(publisher.resourceUrl, { method: 'DELETE', headers: authorization(options.token) }).catch(() => undefined);
      }
      await publisher.kill();
    },
    async kill() {
      open.delete(publisher);
      for (const stop of stops.splice(0)) stop();
      await pc.close();
    },
  };
  open.add(publisher);
  publisher.connected.catch(() => {});
  await pc.setLocalDescription(await pc.createOffer());
  const response = await fetch(whipUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', ...authorization(options.token) },
    body: pc.localDescription!.sdp,
  });
  const body = await response.text();
  if (response.status !== 201) {
    await publisher.kill();
    throw Object.assign(new Error(`POST ${new URL(whipUrl).pathname} answered ${response.status}: ${body}`), { status: response.status });
  }
  publisher.resourceUrl = new URL(response.headers.get('location')!, whipUrl).href;
  publisher.etag = response.headers.get('etag');
  publisher.answerSdp = body;
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  const [videoClip, audioClip] = await clipsReady;
  publisher.frames = framesOf(videoClip);
  void publisher.connected.then(() => {
    if (!open.has(publisher)) return;
    stops.push(replay(videoClip, video, () => publisher.packets++, options.speed));
    if (audioClip && sound) stops.push(replay(audioClip, sound, () => {}));
  });
  return publisher;
}

const authorization = (token: string | undefined): Record<string, string> => (token ? { Authorization: `Bearer ${token}` } : {});

/** Chromium with a fake camera and microphone (a moving test pattern, a beep) it may use without asking. */
export const PUBLISHER_ARGS = ['--use-fake-device-for-media-stream=fps=30', '--use-fake-ui-for-media-stream'];

/** `origin`: a page origin other than localhost allowed a camera (browsers allow one only to secure origins). */
export function launchPublisher(origin?: string): Promise<Browser> {
  const secure = origin ? [`--unsafely-treat-insecure-origin-as-secure=${origin}`] : [];
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...PUBLISHER_ARGS, ...secure], headless: true });
}

/** Opens /publish and publishes the fake camera (simulcast, sound), as a person clicking "Publish" would. */
export async function publishFromPage(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/publish`);
  await page.click('#start');
  await page.waitForFunction(() => (window as unknown as { webgearPublish: { state: string } }).webgearPublish.state === 'connected', undefined, { timeout: 15_000 });
}

export function whipStats(server: { rtc: WebGearRtc }): WhipStats {
  const stats = server.rtc.stats().source.webrtc;
  assert.equal(stats?.kind, 'whip');
  return stats as WhipStats;
}
