/**
 * Test publishers for the WebRTC sources: a werift peer that publishes ffmpeg's test pattern over WHIP, as
 * OBS or any WHIP client would. Real ffmpeg, real werift, real HTTP; nothing here is a mock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
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
  /** Extra bytes in the offer's codec list: e.g. only H.264 offered to a VP8 server. */
  offerCodec?: 'vp8' | 'h264';
}

const open = new Set<WeriftPublisher>();

/** Every publisher a test left open, closed (for `after` hooks). */
export async function closePublishers(): Promise<void> {
  await Promise.all([...open].map((publisher) => publisher.kill()));
}

/** ffmpeg sending the test pattern (and a tone) as RTP to a UDP socket of ours, fed into werift tracks. */
function ffmpegRtp(codec: 'vp8' | 'h264', [width, height]: [number, number], audio: boolean, video: MediaStreamTrack, sound: MediaStreamTrack | undefined, count: () => void) {
  const videoSocket = createSocket('udp4');
  const audioSocket = createSocket('udp4');
  videoSocket.on('message', (packet) => {
    count();
    video.writeRtp(packet);
  });
  audioSocket.on('message', (packet) => sound?.writeRtp(packet));
  const bound = Promise.all([videoSocket, audioSocket].map((socket) => new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))));
  let ffmpeg: ChildProcess | undefined;
  const started = bound.then(() => {
    const port = (socket: Socket) => socket.address().port;
    const encoder = codec === 'vp8'
      ? ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '800k', '-g', '30', '-error-resilient', '1']
      : ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-bf', '0', '-g', '30', '-b:v', '800k'];
    ffmpeg = spawn('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`,
      ...(audio ? ['-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'] : []),
      '-map', '0:v', ...encoder, '-an', '-payload_type', '96', '-f', 'rtp', `rtp://127.0.0.1:${port(videoSocket)}?pkt_size=1200`,
      ...(audio ? ['-map', '1:a', '-c:a', 'libopus', '-ar', '48000', '-ac', '2', '-vn', '-payload_type', '111', '-f', 'rtp', `rtp://127.0.0.1:${port(audioSocket)}`] : []),
    ], { stdio: 'ignore' });
  });
  return {
    started,
    stop() {
      ffmpeg?.kill('SIGKILL');
      videoSocket.close();
      audioSocket.close();
    },
  };
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
  });
  const video = new MediaStreamTrack({ kind: 'video' });
  const sound = options.audio ? new MediaStreamTrack({ kind: 'audio' }) : undefined;
  const stream = new MediaStream([video, ...(sound ? [sound] : [])]);
  const { sender } = pc.addTransceiver(video, { direction: 'sendonly', streams: [stream] });
  if (sound) pc.addTransceiver(sound, { direction: 'sendonly', streams: [stream] });
  const plis: number[] = [];
  sender.onPictureLossIndication.subscribe(() => plis.push(performance.now()));
  let media: ReturnType<typeof ffmpegRtp> | undefined;
  const publisher: WeriftPublisher = {
    pc,
    sender,
    resourceUrl: '',
    etag: null,
    answerSdp: '',
    plis,
    packets: 0,
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
      media?.stop();
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
  void publisher.connected.then(async () => {
    if (!open.has(publisher)) return;
    media = ffmpegRtp(codec, options.size ?? [640, 360], !!options.audio, video, sound, () => publisher.packets++);
    await media.started;
  });
  return publisher;
}

const authorization = (token: string | undefined): Record<string, string> => (token ? { Authorization: `Bearer ${token}` } : {});
