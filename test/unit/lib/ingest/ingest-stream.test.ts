import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IngestStream } from '../../../../lib/ingest/ingest-stream.ts';
import { sequenceNumberOf, ssrcOf, timestampOf } from '../../../../lib/rtp/rtp-packet.ts';
import type { RtpSink } from '../../../../lib/sender/rtp-sink.ts';
import { restamp, rtpFixtures, rtpPacket } from '../../helpers.ts';

const { vp8 } = rtpFixtures();

class RecordingSink implements RtpSink {
  readonly kind = 'video' as const;
  readonly packets: Buffer[] = [];
  send(packet: Buffer): void {
    this.packets.push(Buffer.from(packet)); // what it was when sent
  }
}

/** A VP8 frame of one packet (marker set) from a sender: a keyframe or an interframe. */
const frame = (keyframe: boolean, ssrc: number, seq: number, timestamp: number) =>
  restamp(keyframe ? vp8.keyframeStart : vp8.interframeStart, { ssrc, sequenceNumber: seq, timestamp, marker: true });

describe('IngestStream (video)', () => {
  test('a joiner gets the GOP since the last keyframe, then the live packets, in order and renumbered', () => {
    const ingest = new IngestStream('vp8');
    assert.equal(ingest.track.kind, 'video');
    const t0 = 1_000;
    ingest.push(frame(false, 1, 50, 0), t0); // before any keyframe: not cached
    ingest.push(frame(true, 1, 51, 3_000), t0 + 33);
    ingest.push(frame(false, 1, 52, 6_000), t0 + 66);
    ingest.push(frame(false, 1, 53, 9_000), t0 + 100);

    const sink = new RecordingSink();
    ingest.track.bind(sink);
    assert.deepEqual(sink.packets.map(sequenceNumberOf), [51, 52, 53], 'the GOP');
    assert.deepEqual(sink.packets.map(timestampOf), [8_998, 8_999, 9_000], 'squeezed to end now');

    // A new sender (a restarted ffmpeg): renumbered to continue the stream.
    ingest.push(frame(true, 2, 7, 777), t0 + 200);
    ingest.push(frame(false, 2, 8, 3_777), t0 + 233);
    assert.deepEqual(sink.packets.slice(3).map(sequenceNumberOf), [54, 55]);
    assert.deepEqual(sink.packets.slice(3).map(timestampOf), [9_000 + 100 * 90, 9_000 + 100 * 90 + 3_000]);
    assert.ok(sink.packets.every((p) => ssrcOf(p) === 1 || ssrcOf(p) === 2), 'the SSRC is the sender\'s (each viewer\'s sender sets its own)');

    // The new keyframe started a new GOP: a second joiner gets only that.
    const late = new RecordingSink();
    ingest.track.bind(late);
    assert.deepEqual(late.packets.map(sequenceNumberOf), [54, 55]);
  });

  test('unbind stops the packets; clear() drops the GOP and every binding', () => {
    const ingest = new IngestStream('vp8');
    const sink = new RecordingSink();
    ingest.push(frame(true, 1, 1, 0), 0);
    ingest.track.bind(sink);
    ingest.push(frame(false, 1, 2, 3_000), 33);
    ingest.track.unbind(sink);
    ingest.push(frame(false, 1, 3, 6_000), 66);
    assert.deepEqual(sink.packets.map(sequenceNumberOf), [1, 2]);

    const other = new RecordingSink();
    ingest.track.bind(other);
    ingest.clear();
    assert.equal(ingest.track.bindingCount, 0);
    ingest.push(frame(false, 1, 4, 9_000), 100);
    assert.equal(other.packets.length, 3, 'GOP of 3, nothing after clear()');
    const joiner = new RecordingSink();
    ingest.track.bind(joiner);
    assert.equal(joiner.packets.length, 0, 'no GOP after clear() until a keyframe');
  });

  test('counters: packets, bytes, frames (marker bits) and per-second rates from sample()', () => {
    const ingest = new IngestStream('vp8');
    assert.deepEqual(ingest.counts(), { packets: 0, bytes: 0, frames: 0, framesPerSecond: 0, bitrate: 0 });
    const first = restamp(vp8.keyframeStart, { sequenceNumber: 1, timestamp: 0, marker: false });
    const second = frame(true, 0x1234_5678, 2, 0);
    ingest.push(first, 0);
    ingest.push(second, 0);
    for (let i = 0; i < 29; i++) ingest.push(frame(false, 0x1234_5678, 3 + i, 3_000 * (i + 1)), 33 * (i + 1));
    const bytes = first.length + second.length + 29 * vp8.interframeStart.length;
    assert.deepEqual(ingest.counts(), { packets: 31, bytes, frames: 30, framesPerSecond: 0, bitrate: 0 }, 'rates wait for sample()');
    ingest.sample();
    assert.deepEqual(ingest.counts(), { packets: 31, bytes, frames: 30, framesPerSecond: 30, bitrate: bytes * 8 });
    ingest.push(frame(false, 0x1234_5678, 40, 100_000), 1_100);
    ingest.sample();
    assert.deepEqual(ingest.counts(), {
      packets: 32, bytes: bytes + vp8.interframeStart.length, frames: 31, framesPerSecond: 1, bitrate: vp8.interframeStart.length * 8,
    });
    ingest.sample();
    assert.equal(ingest.counts().framesPerSecond, 0);
    assert.equal(ingest.counts().bitrate, 0);
  });

  test('rate: the target until the stream has sent for 3 s, then what it sent, never under half the target', () => {
    const ingest = new IngestStream('vp8', 800_000);
    assert.equal(ingest.rate, 800_000, 'before it has sent: its target');
    // An encoder's first seconds: less than it will send (300 kbit/s of an 800 kbit/s rung).
    const second = (bytes: number) => {
      ingest.push(rtpPacket({ sequenceNumber: 1, timestamp: 0, marker: true, payload: Buffer.alloc(bytes - 12) }), 0);
      ingest.sample();
    };
    second(37_500);
    assert.equal(ingest.rate, 800_000, 'one second in: still its target, not the 300 kbit/s of a start');
    second(37_500);
    assert.equal(ingest.rate, 800_000, 'two seconds in');
    second(37_500);
    assert.equal(ingest.rate, 400_000, 'three seconds in: what it sends, floored at half its target');
    second(125_000);
    second(125_000);
    second(125_000);
    assert.equal(ingest.rate, 1_000_000, 'above its target when it sends more');
  });

  test('counts() is a copy', () => {
    const ingest = new IngestStream('vp8');
    const counts = ingest.counts();
    counts.packets = 99;
    assert.equal(ingest.counts().packets, 0);
  });
});

describe('IngestStream (audio)', () => {
  test('has no GOP: a joiner starts with the live packets, renumbered at 48 kHz', () => {
    const ingest = new IngestStream(undefined);
    assert.equal(ingest.track.kind, 'audio');
    const opus = (ssrc: number, seq: number, timestamp: number) =>
      rtpPacket({ ssrc, sequenceNumber: seq, timestamp, payloadType: 111, marker: seq === 0, payload: [0xfc, 0xff, 0xfe] });
    ingest.push(opus(5, 0, 0), 0);
    ingest.push(opus(5, 1, 960), 20);
    const sink = new RecordingSink();
    ingest.track.bind(sink);
    assert.equal(sink.packets.length, 0);
    ingest.push(opus(6, 300, 48_000), 520); // a new run, 500 ms after the last packet
    assert.deepEqual(sink.packets.map(sequenceNumberOf), [2]);
    assert.deepEqual(sink.packets.map(timestampOf), [960 + 500 * 48]);
    assert.equal(ingest.counts().frames, 1, 'marker bits count as frames here too');
  });
});
