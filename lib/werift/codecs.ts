import { RTCRtpCodecParameters, useH264, useNACK, useOPUS, usePLI, useTWCC, useVP8 } from 'werift';
import type { VideoCodec } from '../types.ts';

/**
 * werift codec parameters for the codec ffmpeg produces. A fresh object on every call: werift assigns
 * payload types by mutating the objects it is given, so peer connections must not share them.
 */
export function rtpCodecParameters(codec: VideoCodec): RTCRtpCodecParameters {
  // NACK, PLI and transport-cc feedback (no REMB: the sender estimates from transport-cc itself).
  const rtcpFeedback = [useNACK(), usePLI(), useTWCC()];
  return codec === 'vp8' ? useVP8({ rtcpFeedback }) : useH264({ rtcpFeedback });
}

/** werift codec parameters for the audio (Opus, 48 kHz stereo, as ffmpeg sends it); fresh on every call too. */
export function opusCodecParameters(): RTCRtpCodecParameters {
  return useOPUS();
}

export const MIME_TYPES: Record<VideoCodec, string> = { vp8: 'video/VP8', h264: 'video/H264' };
