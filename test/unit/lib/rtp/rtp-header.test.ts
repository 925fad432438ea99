import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FIXED_HEADER_LENGTH, TRANSPORT_WIDE_EXTENSION_LENGTH, writeHeader } from '../../../../lib/rtp/rtp-header.ts';
import { payloadOf, rtpHeaderLength } from '../../../../lib/rtp/rtp-packet.ts';
import { rtpPacket } from '../../helpers.ts';

/** Writes the viewer's header for `packet` into a fresh buffer (filled with 0xee, so stale bytes show) and returns it. */
function header(packet: Buffer, fields: Parameters<typeof writeHeader>[2]): Buffer {
  const out = Buffer.alloc(FIXED_HEADER_LENGTH + TRANSPORT_WIDE_EXTENSION_LENGTH, 0xee);
  const length = writeHeader(out, packet, fields);
  return out.subarray(0, length);
}

const fields = { payloadType: 102, ssrc: 0xdeadbeef, sequenceNumber: 0x1234, timestamp: 0x01020304 };

describe('writeHeader', () => {
  test('without the extension: the 12 fixed bytes, the viewer\'s payload type, SSRC, sequence number and timestamp', () => {
    const packet = rtpPacket({ payloadType: 96, ssrc: 0x11111111, sequenceNumber: 7, timestamp: 99, payload: [1, 2, 3] });
    assert.deepEqual(
      header(packet, fields),
      Buffer.from([0x80, 102, 0x12, 0x34, 0x01, 0x02, 0x03, 0x04, 0xde, 0xad, 0xbe, 0xef]),
    );
  });

  test('with the transport-wide sequence number: X set, one 0xBEDE word (RFC 8285 one-byte form), id and L = 1, one byte of padding', () => {
    const packet = rtpPacket({ payload: [1, 2, 3] });
    const out = header(packet, { ...fields, transportWide: { id: 3, sequenceNumber: 0xabcd } });
    assert.equal(out.length, 20);
    assert.deepEqual(
      out,
      Buffer.from([
        0x90, 102, 0x12, 0x34, 0x01, 0x02, 0x03, 0x04, 0xde, 0xad, 0xbe, 0xef,
        0xbe, 0xde, 0x00, 0x01, // profile, length in 32-bit words
        0x31, 0xab, 0xcd, 0x00, // id 3, len-1 = 1, the 16-bit number, padding
      ]),
    );
    // What a receiver reads back: the header length and the payload where they should be.
    const viewers = Buffer.concat([out, payloadOf(packet)]);
    assert.equal(rtpHeaderLength(viewers), 20);
    assert.deepEqual([...payloadOf(viewers)], [1, 2, 3]);
  });

  test('every id of the one-byte form (1–14) lands in the high nibble', () => {
    for (let id = 1; id <= 14; id++) {
      const out = header(rtpPacket(), { ...fields, transportWide: { id, sequenceNumber: 1 } });
      assert.equal(out[16], (id << 4) | 1, `id ${id}`);
    }
  });

  test('the marker and padding bits are the source\'s; everything else of its first two bytes is not', () => {
    for (const marker of [false, true]) {
      for (const padding of [false, true]) {
        const packet = rtpPacket({ marker, padding, payloadType: 127 });
        for (const transportWide of [undefined, { id: 1, sequenceNumber: 0 }]) {
          const out = header(packet, { ...fields, payloadType: 45, transportWide });
          assert.equal(out[0]! >> 6, 2, 'version 2');
          assert.equal((out[0]! & 0x20) !== 0, padding, 'padding bit');
          assert.equal((out[0]! & 0x10) !== 0, transportWide !== undefined, 'extension bit');
          assert.equal(out[0]! & 0x0f, 0, 'no CSRC count');
          assert.equal((out[1]! & 0x80) !== 0, marker, 'marker bit');
          assert.equal(out[1]! & 0x7f, 45, 'the viewer\'s payload type');
        }
      }
    }
  });

  test('the source\'s CSRCs and its own header extensions are dropped', () => {
    const packet = rtpPacket({ csrcs: [1, 2, 3], extension: { profile: 0xbede, words: 2 }, marker: true, payload: [0xaa, 0xbb] });
    const plain = header(packet, fields);
    assert.deepEqual(plain, Buffer.from([0x80, 0x80 | 102, 0x12, 0x34, 0x01, 0x02, 0x03, 0x04, 0xde, 0xad, 0xbe, 0xef]));
    const extended = header(packet, { ...fields, transportWide: { id: 5, sequenceNumber: 9 } });
    assert.deepEqual(extended.subarray(12), Buffer.from([0xbe, 0xde, 0x00, 0x01, 0x51, 0x00, 0x09, 0x00]), 'only ours');
    assert.deepEqual([...payloadOf(Buffer.concat([extended, payloadOf(packet)]))], [0xaa, 0xbb]);
  });

  test('sequence numbers and timestamps wrap (16 and 32 bits), whatever the caller passes', () => {
    const packet = rtpPacket();
    let out = header(packet, { ...fields, sequenceNumber: 0x1_0005, timestamp: 0x1_0000_0007, transportWide: { id: 2, sequenceNumber: 0x1_fffe } });
    assert.equal(out.readUInt16BE(2), 5);
    assert.equal(out.readUInt32BE(4), 7);
    assert.equal(out.readUInt16BE(17), 0xfffe);
    out = header(packet, { ...fields, sequenceNumber: 0xffff, timestamp: 0xffff_ffff, ssrc: -1 });
    assert.equal(out.readUInt16BE(2), 0xffff);
    assert.equal(out.readUInt32BE(4), 0xffff_ffff);
    assert.equal(out.readUInt32BE(8), 0xffff_ffff, 'a negative (signed) SSRC is written as its 32 bits');
    out = header(packet, { ...fields, timestamp: -1 });
    assert.equal(out.readUInt32BE(4), 0xffff_ffff, 'a signed timestamp too');
  });

  test('the same output buffer reused: a header without the extension after one with it says so (X clear, 12 bytes)', () => {
    const out = Buffer.alloc(20);
    const packet = rtpPacket();
    assert.equal(writeHeader(out, packet, { ...fields, transportWide: { id: 3, sequenceNumber: 1 } }), 20);
    assert.equal(writeHeader(out, packet, fields), 12);
    assert.equal(out[0]! & 0x10, 0);
  });
});
