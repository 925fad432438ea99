import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GopCache } from '../../../../lib/ingest/gop-cache.ts';
import { sequenceNumberOf, timestampOf } from '../../../../lib/rtp/rtp-packet.ts';
import { restamp, rtpFixtures } from '../../helpers.ts';

const { vp8, h264 } = rtpFixtures();
let seq = 0;
/** A copy of a real packet with the next sequence number and this timestamp. */
const at = (packet: Buffer, timestamp: number) => restamp(packet, { sequenceNumber: seq++ & 0xffff, timestamp });

describe('GopCache', () => {
  test('holds nothing until a keyframe starts a group', () => {
    const cache = new GopCache('vp8');
    cache.push(at(vp8.interframeStart, 0));
    cache.push(at(vp8.keyframeMiddle, 0));
    assert.equal(cache.size, 0);
    assert.deepEqual(cache.replay(), []);
    cache.push(at(vp8.keyframeStart, 3_000));
    cache.push(at(vp8.keyframeMiddle, 3_000));
    cache.push(at(vp8.interframeStart, 6_000));
    assert.equal(cache.size, 3);
  });

  test('a new keyframe starts a new group', () => {
    const cache = new GopCache('vp8');
    cache.push(at(vp8.keyframeStart, 0));
    for (let frame = 1; frame < 30; frame++) cache.push(at(vp8.interframeStart, frame * 3_000));
    assert.equal(cache.size, 30);
    const keyframe = at(vp8.keyframeStart, 90_000);
    cache.push(keyframe);
    cache.push(at(vp8.keyframeMiddle, 90_000));
    assert.equal(cache.size, 2);
    assert.deepEqual(cache.replay()[0], keyframe);
  });

  test("H.264: the SPS/PPS STAP-A, the IDR's slices and their fragments share one timestamp and start one group", () => {
    const cache = new GopCache('h264');
    const group = [
      at(h264.parameterSets, 1_000),
      at(h264.idrStart, 1_000), // starts a keyframe too, but the same one
      at(h264.idrMiddle, 1_000),
      at(h264.idrStart, 1_000), // the second slice's first fragment
      at(h264.idrMiddle, 1_000),
      at(h264.nonIdrStart, 4_000),
    ];
    for (const packet of group) cache.push(packet);
    assert.equal(cache.size, group.length);
    assert.deepEqual(cache.replay().map(sequenceNumberOf), group.map(sequenceNumberOf));
    // The next keyframe (a new timestamp) replaces the group, starting at its parameter sets.
    cache.push(at(h264.parameterSets, 91_000));
    cache.push(at(h264.idrStart, 91_000));
    assert.equal(cache.size, 2);
  });

  test('H.264 joined mid-keyframe: an IDR fragment without its start waits for the next keyframe', () => {
    const cache = new GopCache('h264');
    cache.push(at(h264.idrMiddle, 0));
    cache.push(at(h264.nonIdrStart, 3_000));
    assert.equal(cache.size, 0);
  });

  test('a group over 4 MB is dropped, and nothing is held until the next keyframe', () => {
    const cache = new GopCache('vp8');
    const packetBytes = vp8.interframeStart.length;
    const fit = Math.floor((4 * 1024 * 1024) / packetBytes);
    // The keyframe packet has its own size: fill up to the cap exactly with packets of one size.
    const keyframe = at(vp8.keyframeStart, 0).subarray(0, packetBytes);
    cache.push(keyframe);
    for (let i = 1; i < fit; i++) cache.push(at(vp8.interframeStart, i * 3_000));
    assert.equal(cache.size, fit, 'up to 4 MB is kept');
    cache.push(at(vp8.interframeStart, fit * 3_000));
    assert.equal(cache.size, 0, 'one packet more and the group is gone');
    assert.deepEqual(cache.replay(), []);
    cache.push(at(vp8.interframeStart, (fit + 1) * 3_000));
    assert.equal(cache.size, 0, 'no keyframe yet');
    cache.push(at(vp8.keyframeStart, (fit + 2) * 3_000));
    assert.equal(cache.size, 1, 'the next keyframe starts again');
  });

  test('replay() gives copies whose frame timestamps end at the newest, 1 tick apart', () => {
    const cache = new GopCache('vp8');
    const pushed = [
      at(vp8.keyframeStart, 10_000),
      at(vp8.keyframeMiddle, 10_000),
      at(vp8.interframeStart, 13_000),
      at(vp8.interframeStart, 16_000),
      at(vp8.interframeStart, 19_000),
    ];
    const originals = pushed.map((packet) => Buffer.from(packet));
    for (const packet of pushed) cache.push(packet);

    const replay = cache.replay();
    assert.deepEqual(replay.map(timestampOf), [18_997, 18_997, 18_998, 18_999, 19_000]);
    assert.deepEqual(replay.map(sequenceNumberOf), pushed.map(sequenceNumberOf), 'sequence numbers are kept');
    replay.forEach((packet, i) => {
      assert.notEqual(packet, pushed[i], 'a copy');
      assert.deepEqual(packet.subarray(8), pushed[i]!.subarray(8), 'SSRC and payload as pushed');
    });
    assert.deepEqual(pushed, originals, 'the cached packets are untouched');

    for (const packet of replay) packet.fill(0); // a viewer's sender may do what it likes with its copy
    assert.deepEqual(pushed, originals, 'copies share no bytes with the cache');
    assert.deepEqual(cache.replay().map(timestampOf), [18_997, 18_997, 18_998, 18_999, 19_000], 'a second replay is the same');
    assert.deepEqual(cache.replay()[0], restamp(originals[0]!, { timestamp: 18_997 }));
  });

  test('replay(bitrate): each frame as far from the one before it as it takes to send at that rate (a paced link)', () => {
    const cache = new GopCache('vp8');
    const pushed = [at(vp8.keyframeStart, 10_000), at(vp8.keyframeMiddle, 10_000), at(vp8.interframeStart, 13_000), at(vp8.interframeStart, 16_000)];
    for (const packet of pushed) cache.push(packet);
    const bitrate = 300_000;
    /** Ticks (90 kHz) to send `bytes` at `bitrate`. */
    const ticks = (bytes: number) => Math.round(((bytes * 8) / bitrate) * 90_000);
    const [, , second, third] = pushed.map((packet) => packet.length);
    // The newest frame keeps its timestamp; the one before it arrives `third`'s sending time earlier, and so on.
    const expected = [16_000 - ticks(third!) - ticks(second!), 16_000 - ticks(third!) - ticks(second!), 16_000 - ticks(third!), 16_000];
    assert.deepEqual(cache.replay(bitrate).map(timestampOf), expected);
    assert.ok(expected[3]! - expected[2]! > 1, 'more than a tick apart');
    // Fast enough to send at once: 1 tick apart, as without a rate.
    assert.deepEqual(cache.replay(1e12).map(timestampOf), cache.replay().map(timestampOf));
  });

  test('replay() squeezes across a timestamp wrap', () => {
    const cache = new GopCache('vp8');
    cache.push(at(vp8.keyframeStart, 0xffff_f000));
    cache.push(at(vp8.interframeStart, (0xffff_f000 + 3_000) >>> 0));
    cache.push(at(vp8.interframeStart, (0xffff_f000 + 6_000) >>> 0));
    const newest = (0xffff_f000 + 6_000) >>> 0;
    assert.deepEqual(cache.replay().map(timestampOf), [(newest - 2) >>> 0, (newest - 1) >>> 0, newest]);
    // And when the newest is just past the wrap, the older ones land just before it.
    const wrapped = new GopCache('vp8');
    wrapped.push(at(vp8.keyframeStart, 0xffff_fff0));
    wrapped.push(at(vp8.interframeStart, 1));
    assert.deepEqual(wrapped.replay().map(timestampOf), [0, 1]);
    const wrapping = new GopCache('vp8');
    wrapping.push(at(vp8.keyframeStart, 0xffff_fff0));
    wrapping.push(at(vp8.interframeStart, 2));
    wrapping.push(at(vp8.interframeStart, 0));
    assert.deepEqual(wrapping.replay().map(timestampOf), [0xffff_fffe, 0xffff_ffff, 0], 'frames keep their order, not their values');
  });

  test('clear() forgets the group and the keyframe', () => {
    const cache = new GopCache('vp8');
    cache.push(at(vp8.keyframeStart, 0));
    cache.clear();
    assert.equal(cache.size, 0);
    cache.push(at(vp8.interframeStart, 3_000));
    assert.equal(cache.size, 0);
    cache.push(at(vp8.keyframeStart, 0)); // the same timestamp as before the clear still starts a group
    assert.equal(cache.size, 1);
  });
});
