import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  buildRtpPacket, hasMarker, isRtcp, isRtp, payloadOf, rtpHeaderLength, sequenceNumberOf, ssrcOf, timestampOf,
} from '../../../../lib/rtp/rtp-packet.ts';
import { rtpFixtures, rtpPacket } from '../../helpers.ts';

describe('rtpHeaderLength', () => {
  test('12 bytes for the fixed header alone', () => {
    assert.equal(rtpHeaderLength(rtpPacket({ payload: [1, 2, 3] })), 12);
  });

  test('counts 4 bytes per CSRC (up to 15)', () => {
    assert.equal(rtpHeaderLength(rtpPacket({ csrcs: [1, 2] })), 20);
    assert.equal(rtpHeaderLength(rtpPacket({ csrcs: Array.from({ length: 15 }, (_, i) => i) })), 12 + 60);
  });

  test('counts the extension header and its words (one-byte and two-byte profiles alike)', () => {
    assert.equal(rtpHeaderLength(rtpPacket({ extension: { profile: 0xbede, words: 2 } })), 12 + 4 + 8);
    assert.equal(rtpHeaderLength(rtpPacket({ extension: { profile: 0x1000, words: 0 } })), 12 + 4);
  });

  test('CSRCs and an extension together', () => {
    const packet = rtpPacket({ csrcs: [7, 8, 9], extension: { profile: 0xbede, words: 3 }, payload: [0xaa, 0xbb] });
    assert.equal(rtpHeaderLength(packet), 12 + 12 + 4 + 12);
    assert.deepEqual([...payloadOf(packet)], [0xaa, 0xbb]);
  });

  test('a header that fills the whole packet (empty payload) is still a header', () => {
    assert.equal(rtpHeaderLength(rtpPacket({ csrcs: [1], payload: [] })), 16);
  });

  test('malformed packets give 0', () => {
    assert.equal(rtpHeaderLength(Buffer.alloc(0)), 0);
    assert.equal(rtpHeaderLength(Buffer.alloc(11)), 0, 'shorter than the fixed header');
    const csrcsCut = rtpPacket({ csrcs: [1, 2, 3], payload: [] }).subarray(0, 20);
    assert.equal(rtpHeaderLength(csrcsCut), 0, 'CSRC count beyond the end');
    const extensionCut = rtpPacket({ extension: { profile: 0xbede, words: 4 }, payload: [] }).subarray(0, 20);
    assert.equal(rtpHeaderLength(extensionCut), 0, 'extension words beyond the end');
    const extensionHeaderCut = rtpPacket({ csrcs: [1], extension: { profile: 0xbede, words: 0 }, payload: [] }).subarray(0, 18);
    assert.equal(rtpHeaderLength(extensionHeaderCut), 0, 'extension header itself cut');
  });

  test('payloadOf is empty for a malformed packet', () => {
    assert.equal(payloadOf(Buffer.alloc(8)).length, 0);
  });
});

describe('header fields', () => {
  test('read from a real ffmpeg packet', () => {
    const packet = rtpFixtures().vp8.keyframeStart;
    assert.equal(ssrcOf(packet), 305419896, 'the -ssrc the fixture was made with');
    assert.equal(packet[1]! & 0x7f, 96);
    assert.equal(typeof sequenceNumberOf(packet), 'number');
    assert.equal(typeof timestampOf(packet), 'number');
  });

  test('sequence number, timestamp, SSRC and marker', () => {
    const packet = rtpPacket({ sequenceNumber: 0xfffe, timestamp: 0xfedc_ba98, ssrc: 0x8000_0001, marker: true });
    assert.equal(sequenceNumberOf(packet), 0xfffe);
    assert.equal(timestampOf(packet), 0xfedc_ba98);
    assert.equal(ssrcOf(packet), 0x8000_0001);
    assert.equal(hasMarker(packet), true);
    assert.equal(hasMarker(rtpPacket({ marker: false, payloadType: 127 })), false);
  });
});

describe('isRtp / isRtcp', () => {
  test('RTP: version 2 and at least 12 bytes', () => {
    assert.equal(isRtp(rtpPacket()), true);
    assert.equal(isRtp(rtpFixtures().h264.idrStart), true);
    assert.equal(isRtp(rtpPacket().subarray(0, 11)), false);
    const version1 = rtpPacket();
    version1[0] = 0x40;
    assert.equal(isRtp(version1), false);
    const version0 = rtpPacket();
    version0[0] = 0x00;
    assert.equal(isRtp(version0), false);
  });

  test('RTCP: packet types 200-204 (SR, RR, SDES, BYE, APP)', () => {
    // A receiver report with no blocks: 81 c9 00 01 + SSRC; a sender report 80 c8 00 06 + ...
    assert.equal(isRtcp(Buffer.from('80c9000112345678', 'hex')), true);
    assert.equal(isRtcp(Buffer.from('80c8000612345678' + '00'.repeat(20), 'hex')), true);
    for (const type of [200, 201, 202, 203, 204]) assert.equal(isRtcp(Buffer.from([0x80, type, 0, 1])), true, `type ${type}`);
    for (const type of [199, 205, 206, 207]) assert.equal(isRtcp(Buffer.from([0x80, type, 0, 1])), false, `type ${type}`);
  });

  test('RTP payload types never read as RTCP, with or without the marker', () => {
    assert.equal(isRtcp(rtpPacket({ payloadType: 96 })), false);
    assert.equal(isRtcp(rtpPacket({ payloadType: 111, marker: true })), false);
    assert.equal(isRtcp(rtpPacket({ payloadType: 96, marker: true })), false, 'marker + 96 = 224');
    assert.equal(isRtcp(rtpFixtures().vp8.interframeStart), false);
    assert.equal(isRtcp(Buffer.from([0x80])), false, 'too short to tell');
  });
});

describe('buildRtpPacket', () => {
  test('a 12-byte header (version 2, no CSRC, extension or padding) and the payload copied', () => {
    const payload = Buffer.from([1, 2, 3]);
    const packet = buildRtpPacket({ marker: true, payloadType: 96, sequenceNumber: 0x1_0005, timestamp: 2 ** 32 + 7, ssrc: 0xdeadbeef }, payload);
    assert.equal(rtpHeaderLength(packet), 12);
    assert.equal(packet[0], 0x80);
    assert.deepEqual([hasMarker(packet), packet[1]! & 0x7f, sequenceNumberOf(packet), timestampOf(packet), ssrcOf(packet)], [true, 96, 5, 7, 0xdeadbeef]);
    assert.deepEqual([...payloadOf(packet)], [1, 2, 3]);
    payload[0] = 9;
    assert.equal(payloadOf(packet)[0], 1, 'a copy');
  });
});
