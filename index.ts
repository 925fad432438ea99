export { webgearRtc, type WebGearRtc } from './middleware/webgear-rtc.ts';
export type { WebGearRtcOptions, VideoCodec, IceServer } from './lib/options.ts';
export type { Logger } from './lib/logger.ts';
export type { BroadcastStats } from './lib/broadcast.ts';
export type { VideoSourceStats, VideoSourceState } from './lib/video-source.ts';
export type { ViewerStats, ViewerState } from './lib/viewer.ts';
export { WebGearRtcOptionError, SignalingError, FfmpegNotFoundError } from './lib/errors.ts';
export { resolveFfmpegPath } from './lib/ffmpeg-path.ts';
