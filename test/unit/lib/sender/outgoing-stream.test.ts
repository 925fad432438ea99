import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OutgoingStream } from '../../../../lib/sender/outgoing-stream.ts';

/** Maps one packet of source timestamp `ts` sent at `nowMs` (rebased first if asked), as VideoSender does. */
function send(stream: OutgoingStream, ts: number, nowMs: number, rebase = false): { seq: number; timestamp: number } {
  if (rebase) stream.rebase(ts, nowMs);
  const timestamp = stream.timestampFor(ts);
  return { seq: stream.take(timestamp, nowMs), timestamp };
}

describe('OutgoingStream', () => {
  test('sequence numbers follow one another from the first, across rebases, and wrap at 16 bits', () => {
    const stream = new OutgoingStream(0xfffe);
    assert.equal(stream.nextSequenceNumber, 0xfffe);
    const seqs = [
      send(stream, 1000, 0, true).seq,
      send(stream, 4000, 33).seq,
      send(stream, 555, 40, true).seq, // another source
      send(stream, 3555, 73).seq,
    ];
    assert.deepEqual(seqs, [0xfffe, 0xffff, 0, 1]);
    assert.equal(stream.nextSequenceNumber, 2);
  });

  test('a random first sequence number in the lower half when none is given (room before the first wrap)', () => {
    for (let i = 0; i < 50; i++) {
      const first = new OutgoingStream().nextSequenceNumber;
      assert.ok(Number.isInteger(first) && first >= 0 && first < 0x8000, String(first));
    }
  });

  test('the first packet is not rebased: the viewer\'s timestamps start as the source\'s', () => {
    const stream = new OutgoingStream(0);
    assert.equal(send(stream, 123_456, 500, true).timestamp, 123_456);
    assert.equal(send(stream, 126_456, 533).timestamp, 126_456);
    assert.equal(stream.lastTimestamp, 126_456);
  });

  test('a rebase carries the timeline on by the time that passed since the last packet (90 kHz)', () => {
    const stream = new OutgoingStream(0);
    send(stream, 10_000, 1000, true);
    send(stream, 13_000, 1033);
    // A switch 100 ms after the last packet to a source whose clock is somewhere else entirely.
    const first = send(stream, 4_000_000_000, 1133, true);
    assert.equal(first.timestamp, 13_000 + 100 * 90);
    assert.equal(send(stream, 4_000_003_000, 1166).timestamp, 13_000 + 9_000 + 3_000, 'the new source\'s own spacing kept');
    // And across the new source's own wrap of its 32-bit clock.
    assert.equal(send(stream, (4_000_000_000 + 300_000_000) >>> 0, 1200).timestamp, 13_000 + 9_000 + 300_000_000);
  });

  test('a rebase at the same instant still moves the timeline on by one tick (never two frames on one timestamp)', () => {
    const stream = new OutgoingStream(0);
    send(stream, 50, 10, true);
    assert.equal(send(stream, 9, 10, true).timestamp, 51);
    assert.equal(send(stream, 9, 10.001, true).timestamp, 52, 'under half a tick rounds to the 1-tick minimum');
  });

  test('timestamps stay monotonic across a switch to a source that is behind, and wrap at 32 bits', () => {
    const stream = new OutgoingStream(0);
    send(stream, 0xffff_f000, 0, true);
    const last = send(stream, 0xffff_fff0, 20);
    const switched = send(stream, 5, 30, true);
    assert.equal(switched.timestamp, (last.timestamp + 900) >>> 0, 'wrapped');
    assert.equal(switched.timestamp, 0x0000_0374);
    assert.equal(send(stream, 3005, 63).timestamp, 0x0000_0374 + 3000);
  });

  test('padding takes the last timestamp again and moves no clock: the next rebase measures from the last media packet', () => {
    const stream = new OutgoingStream(0);
    send(stream, 1000, 0, true);
    const padding = stream.take(stream.lastTimestamp); // a padding packet, same timestamp
    assert.equal(padding, 1, 'it takes a sequence number');
    assert.equal(send(stream, 77, 60, true).timestamp, 1000 + 60 * 90);
  });

  test('a rebase measures by when packets came from the source, not when they left: a dropped backlog is a jump forward', () => {
    const stream = new OutgoingStream(0);
    // Frames that came at 0 and 33 ms (and left late, behind a backlog that is then dropped)…
    send(stream, 9000, 0, true);
    send(stream, 9000 + 3000, 33);
    // …and the keyframe the stream resumes at, which came 900 ms after the first.
    assert.equal(send(stream, 500, 900, true).timestamp, 9000 + 3000 + (900 - 33) * 90);
  });
});
