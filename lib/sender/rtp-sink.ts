/** Where the shared stream's packets go for one viewer's video or audio: one call per RTP packet. */
export interface RtpSink {
  readonly kind: 'audio' | 'video';
  /** Sends one serialized RTP packet (the shared buffer: a sink never changes it). */
  send(packet: Buffer): void;
}
