/**
 * A connected peer's senders bound to the stream: what a viewer and the WHIP publisher share. The video
 * gets its own VideoSender (the best rendition its link carries, paced, NACKs and PLIs answered,
 * lib/sender/video-sender.ts), the audio a direct sender bound to the audio track; where the direct path
 * cannot be used, werift's own path gets the top rendition.
 */
import type { RTCPeerConnection } from 'werift';
import type { Rendition, StreamTrack } from '../fanout/stream-track.ts';
import type { Logger } from '../logger.ts';
import { warnNativeSrtpUnused } from '../native/index.ts';
import { DirectRtpSender } from '../sender/direct-sender.ts';
import type { RtpSink } from '../sender/rtp-sink.ts';
import { VideoSender } from '../sender/video-sender.ts';
import { weriftSink } from '../sender/werift-sink.ts';
import type { VideoCodec } from '../types.ts';
import { tapRtcp, transportWideCcId } from '../werift/rtcp-tap.ts';
import { LAYOUT_CHANGED } from '../werift/sender-access.ts';

/** How a peer's packets are sent: the addon, the same path in JavaScript, or werift's own. */
export type SendPath = 'native' | 'direct' | 'werift';

export interface MediaSendersOptions {
  codec: VideoCodec;
  /** The estimate of the link before any feedback, bit/s: it starts on the best rendition this carries. */
  startBitrate: number;
  logger: Logger;
  /** How the peer is named in log lines (`viewer 1a2b3c4d`, `publish`). */
  label: string;
}

/** The senders of one connected peer: unbound together by `stop()`. */
export interface MediaSenders {
  readonly videoSender: VideoSender | undefined;
  readonly sendPath: SendPath | undefined;
  stop(): void;
}

/** ICE's round trip under which a peer is taken to be on the same LAN, and starts on the top rendition. */
const NEARBY_RTT_MS = 10;
/** …with an estimate this many times the top rendition's bitrate (its GOP is paced out in a few ms). */
const NEARBY_START_FACTOR = 4;

const isLoopback = (address: string | undefined): boolean =>
  address !== undefined && (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'));

/** A werift whose layout the adapter does not know is said once per process, not per peer. */
let layoutWarned = false;

/**
 * Binds every sending transceiver of a connected peer connection to the stream: the video to `renditions`
 * (top first), the audio to `audio` when there is one.
 */
export function bindMediaSenders(
  pc: RTCPeerConnection,
  renditions: readonly Rendition[],
  audio: StreamTrack | undefined,
  options: MediaSendersOptions,
): MediaSenders {
  const { logger, label } = options;
  const bindings: Array<[StreamTrack, RtpSink]> = [];
  let videoSender: VideoSender | undefined;
  let sendPath: SendPath | undefined;
  for (const transceiver of pc.getTransceivers()) {
    const { sender } = transceiver;
    const track = sender.track;
    if (!track || sender.stopped) continue;
    const video = track.kind === 'video';
    const source = video ? renditions[0]?.track : audio;
    if (!source) continue;
    const direct = DirectRtpSender.attach(sender, { ownNacks: video });
    if (typeof direct === 'string') {
      if (direct.startsWith(LAYOUT_CHANGED) && !layoutWarned) {
        layoutWarned = true;
        logger.warn(`${direct}: peers get werift's own, slower send path (is werift the pinned version?)`);
      }
      logger.debug(`${label}: ${track.kind} goes through werift's sender (${direct})`);
      const sink = weriftSink(track);
      bindings.push([source, sink]);
      source.bind(sink);
      sendPath = 'werift';
      continue;
    }
    if (direct.nativeProblem) warnNativeSrtpUnused(logger, direct.nativeProblem);
    sendPath = sendPath === 'werift' ? 'werift' : direct.native ? 'native' : 'direct';
    if (!video) {
      bindings.push([source, direct]);
      source.bind(direct);
      continue;
    }
    // A peer on this machine or a few ms away starts high: its first picture need not wait for probes.
    const route = direct.access.iceRoute();
    const nearby = isLoopback(route?.remoteAddress) || (route?.rttMs ?? Number.POSITIVE_INFINITY) < NEARBY_RTT_MS;
    const created = new VideoSender(direct, renditions, {
      codec: options.codec,
      transportWideId: transportWideCcId(transceiver),
      startBitrate: nearby ? renditions[0]!.bitrate * NEARBY_START_FACTOR : options.startBitrate,
      startKnown: nearby,
      debug: (message) => logger.debug(`${label}: ${message}`),
    });
    videoSender = created;
    tapRtcp(sender, (rtcp) => created.onRtcp(rtcp));
    created.start();
  }
  let stopped = false;
  return {
    videoSender,
    sendPath,
    stop() {
      if (stopped) return;
      stopped = true;
      for (const [track, sink] of bindings) track.unbind(sink);
      videoSender?.stop();
    },
  };
}
