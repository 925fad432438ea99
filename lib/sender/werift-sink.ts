/** werift's own send path: a track written packet by packet, for what the direct path does not cover. */
import type { MediaStreamTrack } from 'werift';
import type { RtpSink } from './rtp-sink.ts';

export const weriftSink = (track: MediaStreamTrack): RtpSink => ({
  kind: track.kind === 'audio' ? 'audio' : 'video',
  send: (packet) => track.writeRtp(packet),
});
