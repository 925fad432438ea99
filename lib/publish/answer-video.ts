/**
 * Whether the endpoint's answer takes our video. An SFU room set up for another codec refuses it in its own
 * way: port 0 (RFC 3264), or (Janus) `a=inactive` with no codec; werift would then only say "no common
 * codec". Read with sdp-transform.
 */
import { parse } from 'sdp-transform';

/** Why the answer refuses a video sent as `codec` (`VP8`, `H264`), or undefined when it takes it. */
export function videoRefusal(answer: string, codec: string): string | undefined {
  const video = parse(answer).media.find((media) => media.type === 'video');
  if (!video) return 'its answer has no video section';
  if (video.port === 0) return 'it answered the video section with port 0';
  if (video.direction === 'inactive' || video.direction === 'sendonly') return `it answered the video ${video.direction}`;
  if (!video.rtp.some((rtp) => rtp.codec.toLowerCase() === codec.toLowerCase())) return `its answer has no ${codec} (${video.rtp.map((rtp) => rtp.codec).join(', ') || 'no codec'})`;
  return undefined;
}
