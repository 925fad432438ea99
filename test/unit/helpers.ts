/** What the unit tests share: RTP packets built field by field, and the media fixtures (see fixtures/). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RtpFields {
  sequenceNumber?: number;
  timestamp?: number;
  ssrc?: number;
  payloadType?: number;
  marker?: boolean;
  csrcs?: number[];
  /** A header extension (RFC 3550 §5.3.1): its profile and its 32-bit words. */
  extension?: { profile: number; words: number };
  padding?: boolean;
  payload?: Buffer | number[];
}

/** A serialized RTP packet (version 2). */
export function rtpPacket(fields: RtpFields = {}): Buffer {
  const csrcs = fields.csrcs ?? [];
  const payload = Buffer.from(fields.payload ?? [0x00]);
  const extensionBytes = fields.extension ? 4 + 4 * fields.extension.words : 0;
  const header = Buffer.alloc(12 + 4 * csrcs.length + extensionBytes);
  header[0] = 0x80 | (fields.padding ? 0x20 : 0) | (fields.extension ? 0x10 : 0) | csrcs.length;
  header[1] = (fields.marker ? 0x80 : 0) | (fields.payloadType ?? 96);
  header.writeUInt16BE(fields.sequenceNumber ?? 0, 2);
  header.writeUInt32BE(fields.timestamp ?? 0, 4);
  header.writeUInt32BE(fields.ssrc ?? 0x1234_5678, 8);
  csrcs.forEach((csrc, i) => header.writeUInt32BE(csrc, 12 + 4 * i));
  if (fields.extension) {
    const at = 12 + 4 * csrcs.length;
    header.writeUInt16BE(fields.extension.profile, at);
    header.writeUInt16BE(fields.extension.words, at + 2);
    for (let i = 0; i < fields.extension.words; i++) header.writeUInt32BE(0xa0b0c0d0 + i, at + 4 + 4 * i);
  }
  return Buffer.concat([header, payload]);
}

/** `packet` (copied) with a new sequence number, timestamp, SSRC or marker. */
export function restamp(packet: Buffer, fields: Pick<RtpFields, 'sequenceNumber' | 'timestamp' | 'ssrc' | 'marker'>): Buffer {
  const copy = Buffer.from(packet);
  if (fields.sequenceNumber !== undefined) copy.writeUInt16BE(fields.sequenceNumber, 2);
  if (fields.timestamp !== undefined) copy.writeUInt32BE(fields.timestamp >>> 0, 4);
  if (fields.ssrc !== undefined) copy.writeUInt32BE(fields.ssrc >>> 0, 8);
  if (fields.marker !== undefined) copy[1] = (copy[1]! & 0x7f) | (fields.marker ? 0x80 : 0);
  return copy;
}

const fixture = (name: string): unknown => JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8'));

interface RtpFixtureFile {
  vp8: { size: { width: number; height: number }; keyframeStart: string; keyframeMiddle: string; interframeStart: string };
  h264: { size: { width: number; height: number }; parameterSets: string; idrStart: string; idrMiddle: string; nonIdrStart: string };
}
const rtpFile = fixture('rtp-packets.json') as RtpFixtureFile;
const decoded = <T extends Record<string, unknown>>(group: T) =>
  Object.fromEntries(Object.entries(group).filter(([, v]) => typeof v === 'string').map(([k, v]) => [k, Buffer.from(v as string, 'base64')]));

/**
 * RTP packets ffmpeg sent (fixtures/make-fixtures.ts): VP8 1278x718 as ffmpeg packetizes it (extended
 * descriptor, 15-bit picture ID), H.264 1920x1080 libx264 baseline zerolatency (two slices per frame).
 * Each call returns fresh copies.
 */
export function rtpFixtures() {
  return {
    vp8: { size: rtpFile.vp8.size, ...(decoded(rtpFile.vp8) as Record<'keyframeStart' | 'keyframeMiddle' | 'interframeStart', Buffer>) },
    h264: { size: rtpFile.h264.size, ...(decoded(rtpFile.h264) as Record<'parameterSets' | 'idrStart' | 'idrMiddle' | 'nonIdrStart', Buffer>) },
  };
}

/** H.264 SPS NAL units with the size ffprobe reported for a stream carrying each (fixtures/make-fixtures.ts). */
export const spsFixtures = (fixture('h264-sps.json') as { sps: { name: string; description: string; sps: string; width: number; height: number }[] }).sps;

/** A logger that keeps what it is told. */
export function recordingLogger() {
  const lines: { level: 'debug' | 'info' | 'warn' | 'error'; message: string }[] = [];
  const at = (level: (typeof lines)[number]['level']) => (message: string) => void lines.push({ level, message });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
