/** What a video RTP payload says: where a keyframe starts, and the picture size it announces. */
import type { PictureSize, VideoCodec } from '../types.ts';
import { payloadOf } from './rtp-packet.ts';

/**
 * The VP8 frame a payload starts, when it starts one: the bytes after the RFC 7741 payload descriptor
 * of a packet with S=1 and partition 0. Undefined for a packet in the middle of a frame.
 */
function vp8FrameStart(payload: Buffer): Buffer | undefined {
  if (payload.length < 2) return undefined;
  let offset = 1;
  if (payload[0]! & 0x80) {
    const x = payload[1]!;
    offset = 2 + (x & 0x80 ? (payload[2]! & 0x80 ? 2 : 1) : 0) + (x & 0x40 ? 1 : 0) + (x & 0x30 ? 1 : 0);
  }
  const startOfPartition = (payload[0]! & 0x10) !== 0 && (payload[0]! & 0x07) === 0;
  return startOfPartition && payload.length > offset ? payload.subarray(offset) : undefined;
}

/**
 * Where a VP8 payload descriptor (RFC 7741 §4.2) carries its PictureID: `(bytes << 16) | offset`, with
 * `bytes` 1 (7 bits) or 2 (15 bits, M=1) and `offset` from the payload's start; −1 when it carries none.
 */
export function vp8PictureIdField(packet: Buffer, payloadOffset: number): number {
  if (packet.length < payloadOffset + 3) return -1;
  const first = packet[payloadOffset]!;
  if (!(first & 0x80) || !(packet[payloadOffset + 1]! & 0x80)) return -1; // no X, or X without I
  if (packet[payloadOffset + 2]! & 0x80) return packet.length < payloadOffset + 4 ? -1 : (2 << 16) | 2;
  return (1 << 16) | 2;
}

/**
 * The picture size a VP8 RTP payload announces, when it starts a keyframe (RFC 7741 payload descriptor,
 * then the RFC 6386 keyframe header: start code 9d 01 2a and two 14-bit sizes).
 */
export function vp8KeyframeSize(payload: Buffer): PictureSize | undefined {
  const frame = vp8FrameStart(payload);
  if (!frame || frame.length < 10) return undefined;
  const isKeyframe = !(frame[0]! & 0x01) && frame[3] === 0x9d && frame[4] === 0x01 && frame[5] === 0x2a;
  if (!isKeyframe) return undefined;
  return { width: frame.readUInt16LE(6) & 0x3fff, height: frame.readUInt16LE(8) & 0x3fff };
}

/** Reads the Exp-Golomb coded fields of an H.264 parameter set (ITU-T H.264 §9.1). */
class BitReader {
  readonly bytes: Uint8Array;
  #bit = 0;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
  bits(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) {
      const byte = this.bytes[this.#bit >> 3];
      if (byte === undefined) throw new RangeError('parameter set ends early');
      value = value * 2 + ((byte >> (7 - (this.#bit & 7))) & 1);
      this.#bit++;
    }
    return value;
  }
  unsigned(): number {
    let zeros = 0;
    while (this.bits(1) === 0) zeros++;
    return 2 ** zeros - 1 + this.bits(zeros);
  }
  signed(): number {
    const code = this.unsigned();
    return code % 2 ? (code + 1) / 2 : -code / 2;
  }
}

/** Profiles whose SPS carries chroma format, bit depths and scaling matrices. */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** The cropped picture size an H.264 sequence parameter set (NAL type 7, header byte included) declares. */
export function h264SpsSize(nal: Uint8Array): PictureSize | undefined {
  // Drop emulation-prevention bytes (00 00 03 → 00 00) and the NAL header.
  const rbsp: number[] = [];
  for (let i = 1; i < nal.length; i++) {
    if (i >= 3 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
    rbsp.push(nal[i]!);
  }
  try {
    const r = new BitReader(Uint8Array.from(rbsp));
    const profile = r.bits(8);
    r.bits(16); // constraint flags, level
    r.unsigned(); // seq_parameter_set_id
    let chromaFormat = 1;
    if (HIGH_PROFILES.has(profile)) {
      chromaFormat = r.unsigned();
      if (chromaFormat === 3) r.bits(1); // separate_colour_plane_flag
      r.unsigned(); // bit_depth_luma_minus8
      r.unsigned(); // bit_depth_chroma_minus8
      r.bits(1); // qpprime_y_zero_transform_bypass_flag
      if (r.bits(1)) {
        for (let list = 0; list < (chromaFormat === 3 ? 12 : 8); list++) {
          if (!r.bits(1)) continue;
          let last = 8;
          let next = 8;
          for (let j = 0; j < (list < 6 ? 16 : 64) && next !== 0; j++) {
            next = (last + r.signed() + 256) % 256;
            last = next === 0 ? last : next;
          }
        }
      }
    }
    r.unsigned(); // log2_max_frame_num_minus4
    const pocType = r.unsigned();
    if (pocType === 0) r.unsigned();
    else if (pocType === 1) {
      r.bits(1);
      r.signed();
      r.signed();
      const cycle = r.unsigned();
      for (let i = 0; i < cycle; i++) r.signed();
    }
    r.unsigned(); // max_num_ref_frames
    r.bits(1); // gaps_in_frame_num_value_allowed_flag
    const widthInMacroblocks = r.unsigned() + 1;
    const heightInMapUnits = r.unsigned() + 1;
    const frameMbsOnly = r.bits(1);
    if (!frameMbsOnly) r.bits(1); // mb_adaptive_frame_field_flag
    r.bits(1); // direct_8x8_inference_flag
    let [left, right, top, bottom] = [0, 0, 0, 0];
    if (r.bits(1)) [left, right, top, bottom] = [r.unsigned(), r.unsigned(), r.unsigned(), r.unsigned()];
    const cropX = chromaFormat === 0 || chromaFormat === 3 ? 1 : 2;
    const cropY = (chromaFormat === 1 ? 2 : 1) * (2 - frameMbsOnly);
    return {
      width: widthInMacroblocks * 16 - cropX * (left + right),
      height: (2 - frameMbsOnly) * heightInMapUnits * 16 - cropY * (top + bottom),
    };
  } catch {
    return undefined;
  }
}

/** The first NAL unit of one of `types` aggregated in a STAP-A payload (RFC 6184 §5.7.1), if any. */
function stapANal(payload: Buffer, types: readonly number[]): Buffer | undefined {
  for (let offset = 1; offset + 2 < payload.length; ) {
    const size = payload.readUInt16BE(offset);
    const nal = payload.subarray(offset + 2, offset + 2 + size);
    if (nal.length > 0 && types.includes(nal[0]! & 0x1f)) return nal;
    offset += 2 + size;
  }
  return undefined;
}

/** The SPS inside an H.264 RTP payload (RFC 6184): a single NAL unit, or one aggregated in a STAP-A. */
function h264SpsIn(payload: Buffer): Uint8Array | undefined {
  const type = payload[0]! & 0x1f;
  if (type === 7) return payload;
  return type === 24 ? stapANal(payload, [7]) : undefined;
}

/** NAL unit types a decoder can start from: an IDR slice, or the SPS ahead of it. */
const KEYFRAME_NALS = [5, 7];

/**
 * Whether an RTP packet is the first of a keyframe, where a decoder can start: a VP8 keyframe's first
 * packet, or an H.264 access unit's parameter sets (SPS) or IDR slice start (RFC 6184: single NAL,
 * STAP-A, or FU-A with the start bit).
 */
export function startsKeyframe(codec: VideoCodec, packet: Buffer): boolean {
  if (packet.length <= 12) return false;
  const payload = payloadOf(packet);
  if (payload.length === 0) return false;
  if (codec === 'vp8') {
    const frame = vp8FrameStart(payload);
    return !!frame && !(frame[0]! & 0x01);
  }
  const type = payload[0]! & 0x1f;
  if (type === 7 || type === 5) return true;
  // Anywhere in the aggregate: a source sent as is may put an access unit delimiter or SEI first.
  if (type === 24) return stapANal(payload, KEYFRAME_NALS) !== undefined;
  if (type === 28) return payload.length > 1 && (payload[1]! & 0x80) !== 0 && (payload[1]! & 0x1f) === 5;
  return false;
}

/**
 * The picture size an RTP packet announces, if it is the packet that does (a VP8 keyframe start, an
 * H.264 SPS): lets a placeholder picture match the size viewers were watching.
 */
export function rtpPictureSize(codec: VideoCodec, packet: Buffer): PictureSize | undefined {
  if (packet.length <= 12) return undefined;
  const payload = payloadOf(packet);
  if (payload.length === 0) return undefined;
  if (codec === 'vp8') return vp8KeyframeSize(payload);
  const sps = h264SpsIn(payload);
  return sps && h264SpsSize(sps);
}
