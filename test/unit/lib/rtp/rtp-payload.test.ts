import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { payloadOf } from '../../../../lib/rtp/rtp-packet.ts';
import { h264SpsSize, rtpPictureSize, startsKeyframe, vp8KeyframeSize } from '../../../../lib/rtp/rtp-payload.ts';
import { rtpFixtures, rtpPacket, spsFixtures } from '../../helpers.ts';

const { vp8, h264 } = rtpFixtures();

/** The VP8 frame bytes of ffmpeg's packet (after its 4-byte descriptor: X=1, I=1, M=1). */
const vp8Frame = (packet: Buffer) => {
  const payload = payloadOf(packet);
  assert.deepEqual([...payload.subarray(0, 2)], [0x90, 0x80], 'ffmpeg writes X=1, S=1, PID 0, then I=1');
  assert.equal(payload[2]! & 0x80, 0x80, '15-bit picture ID');
  return payload.subarray(4);
};
/** A STAP-A payload (RFC 6184 §5.7.1) aggregating `nals`. */
const stapA = (...nals: Buffer[]) =>
  Buffer.concat([Buffer.from([0x18]), ...nals.flatMap((nal) => [Buffer.from([nal.length >> 8, nal.length & 0xff]), nal])]);
const AUD = Buffer.from([0x09, 0xf0]);
const SEI = Buffer.from([0x06, 0x05, 0x01, 0x00, 0x80]);
const PPS = Buffer.from([0x68, 0xce, 0x3c, 0x80]);
/** An RTP packet carrying `frame` behind `descriptor`. */
const vp8Packet = (descriptor: number[], frame: Buffer) => rtpPacket({ payload: Buffer.concat([Buffer.from(descriptor), frame]) });

describe('VP8', () => {
  test("a real keyframe's first packet announces its size (1278x718)", () => {
    assert.deepEqual(vp8KeyframeSize(payloadOf(vp8.keyframeStart)), vp8.size);
    assert.deepEqual(rtpPictureSize('vp8', vp8.keyframeStart), vp8.size);
    assert.equal(startsKeyframe('vp8', vp8.keyframeStart), true);
  });

  test('the middle of a keyframe and an interframe start announce nothing and start no keyframe', () => {
    for (const packet of [vp8.keyframeMiddle, vp8.interframeStart]) {
      assert.equal(rtpPictureSize('vp8', packet), undefined);
      assert.equal(startsKeyframe('vp8', packet), false);
    }
  });

  test('every payload descriptor form (RFC 7741 §4.2) is skipped', () => {
    const frame = vp8Frame(vp8.keyframeStart);
    const descriptors: Record<string, number[]> = {
      'no extension (1 byte)': [0x10],
      'non-reference bit set': [0x30],
      'X with nothing in it': [0x90, 0x00],
      '7-bit picture ID': [0x90, 0x80, 0x05],
      '15-bit picture ID': [0x90, 0x80, 0x81, 0x23],
      'TL0PICIDX': [0x90, 0x40, 0x07],
      'TID/KEYIDX (T)': [0x90, 0x20, 0x40],
      'TID/KEYIDX (K)': [0x90, 0x10, 0x03],
      'everything: I (15-bit), L, T, K': [0x90, 0xf0, 0x80, 0x01, 0x07, 0x40],
    };
    for (const [form, descriptor] of Object.entries(descriptors)) {
      const packet = vp8Packet(descriptor, frame);
      assert.deepEqual(rtpPictureSize('vp8', packet), vp8.size, form);
      assert.equal(startsKeyframe('vp8', packet), true, form);
    }
  });

  test('an interframe behind a short descriptor is no keyframe', () => {
    const packet = vp8Packet([0x10], vp8Frame(vp8.interframeStart));
    assert.equal(startsKeyframe('vp8', packet), false);
    assert.equal(rtpPictureSize('vp8', packet), undefined);
  });

  test('only the start (S=1) of partition 0 starts a frame', () => {
    const frame = vp8Frame(vp8.keyframeStart);
    assert.equal(startsKeyframe('vp8', vp8Packet([0x00], frame)), false, 'S=0');
    assert.equal(startsKeyframe('vp8', vp8Packet([0x11], frame)), false, 'S=1 but partition 1');
    assert.equal(rtpPictureSize('vp8', vp8Packet([0x11], frame)), undefined);
  });

  test('a keyframe without its start code, or cut short, announces no size', () => {
    const frame = Buffer.from(vp8Frame(vp8.keyframeStart));
    frame[4] = 0x00; // 9d 01 2a → 9d 00 2a
    assert.equal(rtpPictureSize('vp8', vp8Packet([0x10], frame)), undefined);
    assert.equal(rtpPictureSize('vp8', vp8Packet([0x10], vp8Frame(vp8.keyframeStart).subarray(0, 9))), undefined);
    assert.equal(vp8KeyframeSize(Buffer.from([0x10])), undefined);
  });

  test('the sizes are the low 14 bits (the top 2 are the scaling mode)', () => {
    const frame = Buffer.from(vp8Frame(vp8.keyframeStart));
    frame.writeUInt16LE(0xc000 | 640, 6);
    frame.writeUInt16LE(0x4000 | 480, 8);
    assert.deepEqual(rtpPictureSize('vp8', vp8Packet([0x10], frame)), { width: 640, height: 480 });
  });

  test('packets with no payload start nothing', () => {
    assert.equal(startsKeyframe('vp8', rtpPacket({ payload: [] })), false);
    assert.equal(startsKeyframe('vp8', rtpPacket({ csrcs: [1], payload: [] })), false);
    assert.equal(rtpPictureSize('vp8', rtpPacket({ csrcs: [1], payload: [] })), undefined);
  });
});

describe('H.264 SPS sizes (h264SpsSize)', () => {
  for (const fixture of spsFixtures) {
    test(`${fixture.name}: ${fixture.width}x${fixture.height} (${fixture.description})`, () => {
      assert.deepEqual(h264SpsSize(Buffer.from(fixture.sps, 'hex')), { width: fixture.width, height: fixture.height });
    });
  }

  test('the fixtures cover what they claim', () => {
    const byName = new Map(spsFixtures.map((fixture) => [fixture.name, fixture]));
    const sps = (name: string) => Buffer.from(byName.get(name)!.sps, 'hex');
    assert.equal(sps('baseline-1080p')[1], 66);
    assert.equal(sps('high-scaling-lists-odd-crop')[1], 100);
    assert.equal(sps('high444-odd')[1], 244);
    assert.equal(sps('high422-odd-height')[1], 122);
    // 42 00 1f d4 00 00 03 …: the escape sits before the size fields (POC type 1's offset_for_non_ref_pic).
    assert.match(byName.get('baseline-poc1-emulation-prevention')!.sps.slice(0, 16), /000003/);
  });

  test('1080p: 120x68 macroblocks cropped by 8 lines', () => {
    const fixture = spsFixtures.find((f) => f.name === 'baseline-1080p')!;
    assert.deepEqual(h264SpsSize(Buffer.from(fixture.sps, 'hex')), { width: 1920, height: 1080 });
  });

  test('a truncated or empty SPS gives undefined rather than a wrong size', () => {
    for (const fixture of spsFixtures) {
      const sps = Buffer.from(fixture.sps, 'hex');
      assert.equal(h264SpsSize(sps.subarray(0, 6)), undefined, fixture.name);
    }
    assert.equal(h264SpsSize(Buffer.from([0x67])), undefined);
    assert.equal(h264SpsSize(Buffer.alloc(40)), undefined, 'all zeros: an Exp-Golomb code that never ends');
  });
});

describe('H.264 in RTP (RFC 6184)', () => {
  test("ffmpeg's STAP-A with the SPS starts a keyframe and announces 1920x1080", () => {
    assert.equal(payloadOf(h264.parameterSets)[0]! & 0x1f, 24);
    assert.equal(startsKeyframe('h264', h264.parameterSets), true);
    assert.deepEqual(rtpPictureSize('h264', h264.parameterSets), h264.size);
  });

  test("an IDR's first FU-A (start bit) starts a keyframe; its other fragments do not", () => {
    assert.equal(startsKeyframe('h264', h264.idrStart), true);
    assert.equal(startsKeyframe('h264', h264.idrMiddle), false);
    assert.equal(rtpPictureSize('h264', h264.idrStart), undefined);
  });

  test('a P frame (STAP-A of non-IDR slices) starts nothing', () => {
    assert.equal(startsKeyframe('h264', h264.nonIdrStart), false);
    assert.equal(rtpPictureSize('h264', h264.nonIdrStart), undefined);
  });

  test('single NAL unit packets: SPS and IDR start a keyframe, a non-IDR slice or PPS does not', () => {
    const sps = Buffer.from(spsFixtures.find((f) => f.name === 'baseline-1080p')!.sps, 'hex');
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: sps })), true);
    assert.deepEqual(rtpPictureSize('h264', rtpPacket({ payload: sps })), { width: 1920, height: 1080 });
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: [0x65, 0x88, 0x84] })), true, 'IDR slice');
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: [0x41, 0x9a, 0x20] })), false, 'non-IDR slice');
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: [0x68, 0xce, 0x3c, 0x80] })), false, 'PPS');
  });

  test('FU-A: the start bit and the fragmented type both count', () => {
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: [0x7c, 0x85, 0x88] })), true, 'S=1, IDR');
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: [0x7c, 0x05, 0x88] })), false, 'S=0, IDR');
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: [0x7c, 0x45, 0x88] })), false, 'E=1 only, IDR');
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: [0x5c, 0x81, 0x9a] })), false, 'S=1, non-IDR');
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: [0x7c] })), false, 'no FU header');
  });

  test('the SPS is found anywhere in a STAP-A, and with CSRCs and a header extension', () => {
    const sps = Buffer.from(spsFixtures.find((f) => f.name === 'high-crop-rect')!.sps, 'hex');
    const packet = rtpPacket({ csrcs: [1, 2], extension: { profile: 0xbede, words: 1 }, payload: stapA(AUD, sps, PPS) });
    assert.deepEqual(rtpPictureSize('h264', packet), { width: 1272, height: 708 });
  });

  test('a STAP-A holding an SPS or IDR after an access unit delimiter or SEI starts a keyframe', () => {
    // A passthrough source without extradata keeps its own order (AUD, SPS, PPS, …): the group must start here,
    // not at the IDR after it, or a joiner gets the IDR without its parameter sets.
    const sps = Buffer.from(spsFixtures.find((f) => f.name === 'baseline-1080p')!.sps, 'hex');
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: stapA(AUD, sps, PPS) })), true, 'AUD, SPS, PPS');
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: stapA(SEI, sps, PPS) })), true, 'SEI, SPS, PPS');
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: stapA(AUD, Buffer.from([0x65, 0x88])) })), true, 'AUD, IDR');
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: stapA(AUD, Buffer.from([0x41, 0x9a])) })), false, 'AUD, P slice');
    assert.equal(startsKeyframe('h264', rtpPacket({ payload: stapA(AUD, SEI, PPS) })), false, 'no SPS, no IDR');
  });

  test('a STAP-A whose sizes run past the end yields no SPS', () => {
    assert.equal(rtpPictureSize('h264', rtpPacket({ payload: [0x18, 0x00, 0x40, 0x67, 0x42] })), undefined);
    assert.equal(rtpPictureSize('h264', rtpPacket({ payload: [0x18, 0x00] })), undefined);
  });
});
