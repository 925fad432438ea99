import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StreamTrack } from '../../../../lib/fanout/stream-track.ts';
import type { RtpSink } from '../../../../lib/sender/rtp-sink.ts';
import { rtpPacket } from '../../helpers.ts';

/** A viewer's sender that keeps what it is sent. */
class RecordingSink implements RtpSink {
  readonly kind: 'audio' | 'video';
  readonly packets: Buffer[] = [];
  constructor(kind: 'audio' | 'video' = 'video') {
    this.kind = kind;
  }
  send(packet: Buffer): void {
    this.packets.push(packet);
  }
}

const packet = (sequenceNumber: number) => rtpPacket({ sequenceNumber, payload: [sequenceNumber & 0xff] });

describe('StreamTrack', () => {
  test('every packet written goes to every binding, as the same buffer', () => {
    const track = new StreamTrack('video');
    const [a, b] = [new RecordingSink(), new RecordingSink()];
    track.bind(a);
    track.bind(b);
    assert.equal(track.bindingCount, 2);
    const written = [packet(1), packet(2)];
    for (const p of written) track.write(p);
    assert.deepEqual(a.packets, written);
    assert.equal(a.packets[0], written[0], 'no copy per viewer');
    assert.equal(b.packets[1], written[1]);
  });

  test('a new binding gets the replay first, then the live packets', () => {
    const replayed = [packet(10), packet(11)];
    let replays = 0;
    const track = new StreamTrack('video', { bytes: 0, keyframeAt: 0, replay: () => (replays++, replayed.map((p) => Buffer.from(p))) });
    track.write(packet(9)); // nobody bound yet
    const sink = new RecordingSink();
    track.bind(sink);
    track.write(packet(12));
    assert.deepEqual(sink.packets.map((p) => p.readUInt16BE(2)), [10, 11, 12]);
    assert.equal(replays, 1);
    track.bind(sink);
    assert.equal(replays, 1, 'binding twice replays nothing more');
    assert.equal(track.bindingCount, 1);
    track.write(packet(13));
    assert.deepEqual(sink.packets.map((p) => p.readUInt16BE(2)), [10, 11, 12, 13], 'nor doubles the live packets');
  });

  test('unbind stops one viewer, clear stops them all', () => {
    const track = new StreamTrack('audio');
    assert.equal(track.kind, 'audio');
    const [a, b] = [new RecordingSink('audio'), new RecordingSink('audio')];
    track.bind(a);
    track.bind(b);
    track.write(packet(1));
    track.unbind(a);
    track.unbind(a); // twice is harmless
    track.write(packet(2));
    assert.equal(a.packets.length, 1);
    assert.equal(b.packets.length, 2);
    track.clear();
    assert.equal(track.bindingCount, 0);
    track.write(packet(3));
    assert.equal(b.packets.length, 2);
  });

  test('a sink unbound while a packet is handed out does not disturb the others', () => {
    const track = new StreamTrack('video');
    const b = new RecordingSink();
    const a: RtpSink = { kind: 'video', send: () => track.unbind(a) };
    track.bind(a);
    track.bind(b);
    track.write(packet(1));
    track.write(packet(2));
    assert.equal(b.packets.length, 2);
    assert.equal(track.bindingCount, 1);
  });
});
