import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { Pacer, PacerClock, type PacerOutput, type QueuedPacket } from '../../../../lib/sender/pacer.ts';
import { useVirtualTime } from '../../support/virtual-time.ts';

/** What a pacer sent, in order, and when. */
type Sent =
  | { kind: 'media'; id: number; at: number; bytes: number }
  | { kind: 'rtx'; seq: number; at: number; bytes: number }
  | { kind: 'padding'; size: number; cluster: number; at: number; bytes: number };

/** A pacer output that records everything; media packets are identified by their first payload byte pair. */
function recordingOutput(): PacerOutput & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    sendMedia(entry: QueuedPacket, at: number): number {
      const bytes = entry.packet.length + 24;
      sent.push({ kind: 'media', id: entry.packet.readUInt32BE(0), at, bytes });
      return bytes;
    },
    sendRetransmission(seq: number, at: number): number {
      sent.push({ kind: 'rtx', seq, at, bytes: 1224 });
      return 1224;
    },
    sendPadding(size: number, cluster: number, at: number): number {
      sent.push({ kind: 'padding', size, cluster, at, bytes: size });
      return size;
    },
  };
}

/** A media packet of `size` bytes whose first 4 bytes say `id`. */
const media = (id: number, size = 1200): QueuedPacket => {
  const packet = Buffer.alloc(size);
  packet.writeUInt32BE(id, 0);
  return { packet, rebase: false };
};

/** Virtual time, a clock of its own (2 ms), and a pacer at `rate` on it. */
function setup(t: TestContext, rate: number, options: { maxQueueMs?: number } = {}) {
  const time = useVirtualTime(t);
  const clock = new PacerClock(2);
  const output = recordingOutput();
  const pacer = new Pacer(output, rate, { clock, ...options });
  t.after(() => {
    pacer.close();
    time.advance(4); // the clock sees the closed pacer and stops its timer before the mock timers go
  });
  return { time, clock, output, pacer };
}

describe('Pacer', () => {
  test('idle and within budget: a packet goes out at once, inside enqueue()', (t) => {
    const { time, output, pacer } = setup(t, 1_000_000);
    time.advance(10); // the bucket fills
    pacer.enqueue(media(1));
    assert.deepEqual(output.sent.map((s) => s.kind === 'media' && s.id), [1]);
    assert.equal(output.sent[0]!.at, time.now());
    assert.equal(pacer.queuedPackets, 0);
    assert.deepEqual(pacer.counts, { packets: 1, bytes: 1224, dropped: 0 });
  });

  test('a burst is queued behind the budget and leaves in order, spread at the rate', (t) => {
    const { time, output, pacer } = setup(t, 1_000_000);
    time.advance(100); // the bucket is full: 20 ms at the rate (2500 bytes)
    for (let id = 1; id <= 20; id++) pacer.enqueue(media(id));
    assert.equal(output.sent.length, 3, 'what the bucket holds at once (it may end in debt), the rest waits');
    assert.equal(pacer.queuedPackets, 17);
    assert.ok(Math.abs(pacer.queueMs - (17 * 1224 * 8) / 1000) < 1e-9, `queueMs ${pacer.queueMs}`);
    time.advance(500);
    assert.deepEqual(output.sent.map((s) => s.kind === 'media' && s.id), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(pacer.queuedPackets, 0);
    assert.equal(pacer.queueMs, 0);
    // 20 packets of 1224 bytes at 1 Mbit/s: ≈ 196 ms, less what the bucket held at the start (2.5 kB, 20 ms).
    const span = output.sent.at(-1)!.at - output.sent[0]!.at;
    assert.ok(span >= 165 && span <= 185, `sent over ${span} ms`);
  });

  test('retransmissions go ahead of the media that waits', (t) => {
    const { time, output, pacer } = setup(t, 1_000_000);
    for (let id = 1; id <= 5; id++) pacer.enqueue(media(id));
    pacer.retransmit(700);
    pacer.retransmit(701);
    time.advance(200);
    const order = output.sent.map((s) => (s.kind === 'rtx' ? `r${s.seq}` : s.kind === 'media' ? `m${s.id}` : 'p'));
    assert.deepEqual(order, ['m1', 'r700', 'r701', 'm2', 'm3', 'm4', 'm5']);
  });

  test('a retransmission with nothing else waiting leaves at the next tick', (t) => {
    const { time, output, pacer } = setup(t, 1_000_000);
    time.advance(10);
    pacer.retransmit(9);
    assert.equal(output.sent.length, 0);
    time.advance(2);
    assert.deepEqual(output.sent.map((s) => s.kind === 'rtx' && s.seq), [9]);
  });

  for (const rate of [300_000, 1_000_000, 2_500_000, 6_250_000]) {
    test(`the rate is kept over time: ${rate / 1000} kbit/s with more offered than that`, (t) => {
      const { time, output, pacer } = setup(t, rate);
      // Offered at twice the rate, in frames every 33 ms, for 3 s; measured over 2 s once the queue is there.
      const offered = (2 * rate) / 8 / 30;
      let id = 0;
      for (let frame = 0; frame < 90; frame++) {
        for (let bytes = offered; bytes > 0; bytes -= 1200) pacer.enqueue(media(id++, Math.min(1200, Math.ceil(bytes))));
        time.advance(100 / 3, 2);
      }
      const window = output.sent.filter((s) => s.at >= 10_000 + 1000 && s.at < 10_000 + 3000);
      const bytes = window.reduce((sum, s) => sum + s.bytes, 0);
      const ratio = (bytes * 8) / 2 / rate;
      assert.ok(ratio > 0.97 && ratio < 1.03, `${(ratio * 100).toFixed(1)} % of the rate over 2 s`);
      // No 100 ms interval gets much more than its share (the bucket holds 20 ms, at least two packets).
      for (let from = 11_000; from < 13_000; from += 100) {
        const slice = window.filter((s) => s.at >= from && s.at < from + 100).reduce((sum, s) => sum + s.bytes, 0);
        const share = rate / 8 / 10;
        assert.ok(slice <= share + Math.max(2500, rate / 8 / 50) + 1224, `${slice} bytes in 100 ms at ${from}`);
      }
    });
  }

  test('a new rate applies from then on', (t) => {
    const { time, output, pacer } = setup(t, 4_000_000);
    for (let id = 0; id < 400; id++) pacer.enqueue(media(id));
    time.advance(500);
    const fast = output.sent.length;
    pacer.rate = 1_000_000;
    assert.equal(pacer.rate, 1_000_000);
    time.advance(500);
    const slow = output.sent.length - fast;
    assert.ok(Math.abs(fast - 4_000_000 / 8 / 2 / 1224) <= 5, `${fast} packets in 500 ms at 4 Mbit/s`);
    assert.ok(Math.abs(slow - 1_000_000 / 8 / 2 / 1224) <= 5, `${slow} packets in 500 ms at 1 Mbit/s`);
    pacer.rate = 1;
    assert.equal(pacer.rate, 10_000, 'never under 10 kbit/s');
  });

  test('probe padding goes out on its own schedule, beside the paced media', (t) => {
    const { time, output, pacer } = setup(t, 300_000);
    for (let id = 0; id < 30; id++) pacer.enqueue(media(id));
    time.advance(20);
    const before = output.sent.length;
    pacer.probe(7, 10, 250, 40); // 10 packets of 250 bytes over 40 ms: 500 kbit/s of padding, above the pacing rate
    time.advance(60);
    const padding = output.sent.slice(before).filter((s) => s.kind === 'padding');
    assert.equal(padding.length, 10);
    assert.ok(padding.every((s) => s.kind === 'padding' && s.cluster === 7 && s.size === 250));
    const at = padding.map((s) => s.at - padding[0]!.at);
    assert.ok(at.at(-1)! >= 34 && at.at(-1)! <= 38, `spread over ${at.at(-1)} ms (36 due): ${at}`);
    const mediaBytes = output.sent.slice(before).filter((s) => s.kind === 'media').reduce((sum, s) => sum + s.bytes, 0);
    assert.ok(mediaBytes >= 1224 && mediaBytes <= 3 * 1224, `the media kept its own pace (${mediaBytes} bytes in 60 ms at 300 kbit/s)`);
    assert.equal(pacer.counts.packets, output.sent.length, 'padding is counted');
  });

  test('padding the output may not send now (a frame half sent) waits: none is lost, none counted before it goes', (t) => {
    const { time, output, pacer } = setup(t, 1_000_000);
    let open = false;
    const sendPadding = output.sendPadding.bind(output);
    output.sendPadding = (size, cluster, at) => (open ? sendPadding(size, cluster, at) : undefined);
    time.advance(10);
    pacer.probe(3, 5, 200, 10);
    time.advance(12);
    assert.equal(output.sent.filter((s) => s.kind === 'padding').length, 0, 'nothing while the output refuses');
    assert.equal(pacer.counts.packets, 0);
    open = true;
    time.advance(12);
    assert.equal(output.sent.filter((s) => s.kind === 'padding').length, 5, 'all of it once the output takes it');
    assert.equal(pacer.counts.packets, 5);
  });

  test('a probe with no media at all still goes out, and holds media behind the queue only while it runs', (t) => {
    const { time, output, pacer } = setup(t, 1_000_000);
    time.advance(10);
    pacer.probe(1, 4, 200, 8);
    pacer.enqueue(media(1));
    assert.equal(output.sent.length, 0, 'queued while the probe runs');
    time.advance(12);
    assert.deepEqual(output.sent.map((s) => s.kind).sort(), ['media', 'padding', 'padding', 'padding', 'padding']);
    assert.equal(output.sent[0]!.kind, 'padding', 'a tick sends the probe\'s due padding first');
    time.advance(5);
    pacer.enqueue(media(2));
    assert.equal(output.sent.at(-1)!.kind, 'media', 'once it is over, straight out again');
    pacer.probe(2, 0, 200, 8);
    pacer.enqueue(media(3));
    assert.equal(output.sent.length, 7, 'an empty probe is none');
  });

  test('clear() drops the media that waits, keeps the retransmissions, and counts the drop', (t) => {
    const { time, output, pacer } = setup(t, 500_000);
    for (let id = 0; id < 10; id++) pacer.enqueue(media(id));
    pacer.retransmit(42);
    assert.equal(pacer.queuedPackets, 10);
    assert.equal(pacer.clear(), 9);
    assert.equal(pacer.queuedPackets, 1);
    assert.equal(pacer.queueMs, 0);
    assert.equal(pacer.counts.dropped, 9);
    time.advance(100);
    assert.deepEqual(output.sent.map((s) => (s.kind === 'rtx' ? `r${s.seq}` : s.kind === 'media' ? `m${s.id}` : 'p')), ['m0', 'r42']);
    // Partly drained, then cleared: only what still waited is dropped.
    for (let id = 10; id < 30; id++) pacer.enqueue(media(id));
    time.advance(50);
    const waiting = pacer.queuedPackets;
    assert.ok(waiting > 0 && waiting < 20);
    assert.equal(pacer.clear(), waiting);
    assert.equal(pacer.counts.dropped, 9 + waiting);
    pacer.enqueue(media(99));
    time.advance(50);
    const last = output.sent.at(-1)!;
    assert.equal(last.kind === 'media' && last.id, 99, 'the queue works on after a clear');
  });

  test('overflow() is what waits measured against the link\'s rate, not the pacing rate', (t) => {
    const { pacer } = setup(t, 2_500_000, { maxQueueMs: 500 });
    pacer.linkRate = 1_000_000;
    for (let id = 0; id < 60; id++) pacer.enqueue(media(id)); // one leaves, 59 × 1224 bytes wait: 578 ms at 1 Mbit/s
    assert.ok(Math.abs(pacer.queueMs - (59 * 1224 * 8) / 1000) < 1e-6, String(pacer.queueMs));
    assert.equal(pacer.overflow(), true);
    pacer.linkRate = 2_000_000;
    assert.ok(Math.abs(pacer.queueMs - (59 * 1224 * 8) / 2000) < 1e-6);
    assert.equal(pacer.overflow(), false, 'the same queue on a faster link');
    pacer.clear();
    assert.equal(pacer.overflow(), false);
  });

  test('a queue past its bound that drains is no overflow, up to twice the bound; one that does not drain is', (t) => {
    // Paced at 400 kbit/s, measured against a 300 kbit/s link, 250 kbit/s of media coming in: a replayed GOP
    // (24 packets) leaves the queue at 150 kbit/s net.
    const { time, pacer } = setup(t, 400_000, { maxQueueMs: 500 });
    pacer.linkRate = 300_000;
    let id = 0;
    for (; id < 24; id++) pacer.enqueue(media(id));
    assert.ok(pacer.queueMs > 500 && pacer.queueMs < 1000, String(pacer.queueMs));
    assert.equal(pacer.overflow(time.now()), true, 'at first nothing says it drains');
    // 250 kbit/s of 1224-byte packets (one every ~39 ms) for 1.5 s: once a quarter second shows it shrinking,
    // no overflow while it is over the bound.
    const start = time.now();
    let overBound = 0;
    for (let at = 0; at < 1500; at += 39) {
      time.advance(39);
      pacer.enqueue(media(id++));
      const overflow = pacer.overflow(time.now());
      if (time.now() - start >= 250) {
        if (pacer.queueMs > 500) overBound++;
        assert.equal(overflow, false, `${time.now() - start} ms in: ${pacer.queueMs.toFixed(0)} ms waiting`);
      }
    }
    assert.ok(overBound > 3, 'it was over the bound for a while');
    assert.ok(pacer.queueMs < 500, 'it drained');
    // The link slows under the media: the queue grows past the bound, and that is an overflow.
    pacer.rate = 200_000;
    let overflowed = false;
    for (let i = 0; i < 100 && !overflowed; i++) {
      time.advance(39);
      pacer.enqueue(media(id++));
      overflowed = pacer.overflow(time.now());
    }
    assert.ok(overflowed && pacer.queueMs > 500 && pacer.queueMs <= 1000, String(pacer.queueMs));
    // Past twice the bound, even a draining queue overflows.
    pacer.clear();
    pacer.rate = 400_000;
    for (let i = 0; i < 80; i++) pacer.enqueue(media(id++));
    time.advance(300);
    pacer.overflow(time.now());
    time.advance(300);
    assert.ok(pacer.queueMs > 1000, String(pacer.queueMs));
    assert.equal(pacer.overflow(time.now()), true);
  });

  test('a keyframe landing on a queue that drains on average is no overflow: the trend is over a second', (t) => {
    // As above: paced at 400 kbit/s, a 300 kbit/s link, 250 kbit/s of media; a joiner's GOP (30 packets, ~980 ms
    // at the link's rate) drains at 150 kbit/s net. Half a second in, a keyframe (5 packets) lands on it: the
    // queue grew over the last quarter second (judged so, it was dropped and the picture froze till the next
    // keyframe: a 300 kbit/s join froze 1.3 s), not over the last second.
    const { time, pacer } = setup(t, 400_000, { maxQueueMs: 500 });
    pacer.linkRate = 300_000;
    let id = 0;
    for (; id < 30; id++) pacer.enqueue(media(id));
    pacer.overflow(time.now()); // the first sample
    const start = time.now();
    let afterKeyframeMs = 0;
    for (let at = 0; at < 1000; at += 39) {
      time.advance(39);
      pacer.enqueue(media(id++));
      if (afterKeyframeMs === 0 && time.now() - start >= 520) {
        for (let k = 0; k < 5; k++) pacer.enqueue(media(id++));
        afterKeyframeMs = pacer.queueMs;
      }
      const overflow = pacer.overflow(time.now());
      if (time.now() - start >= 250) assert.equal(overflow, false, `${time.now() - start} ms in: ${pacer.queueMs.toFixed(0)} ms waiting`);
    }
    assert.ok(afterKeyframeMs > 500 && afterKeyframeMs < 1000, `${afterKeyframeMs.toFixed(0)} ms waiting after the keyframe: over the bound`);
  });

  test('restartTrend(): a burst queued at once (a GOP replay) is judged from its whole queue, not from its first packet', (t) => {
    // VideoSender asks overflow() at every packet, the replay's too: the first sample found the queue nearly
    // empty, and a second later (the replay's grace over) the draining replay read as grown: dropped.
    const { time, pacer } = setup(t, 400_000, { maxQueueMs: 500 });
    pacer.linkRate = 300_000;
    let id = 0;
    const run = (restart: boolean) => {
      pacer.clear();
      time.advance(300); // a sample is due: the first packet of the burst takes it
      for (const end = id + 33; id < end; id++) {
        pacer.enqueue(media(id)); // ~1080 ms at the link's rate
        pacer.overflow(time.now());
      }
      if (restart) pacer.restartTrend(time.now());
      let overflow = false;
      for (let at = 0; at < 800; at += 39) { // its grace, as VideoSender gives a replay (shortened)
        time.advance(39);
        pacer.enqueue(media(id++));
        overflow = pacer.overflow(time.now());
      }
      return { overflow, queueMs: pacer.queueMs };
    };
    const plain = run(false);
    assert.equal(plain.overflow, true, `judged from the first packet, it grew (${plain.queueMs.toFixed(0)} ms waiting)`);
    const restarted = run(true);
    assert.ok(restarted.queueMs > 500, `${restarted.queueMs.toFixed(0)} ms still waiting: over the bound`);
    assert.equal(restarted.overflow, false, 'draining since the burst');
  });

  test('after clear() a new queue past the bound is not taken for the old one draining', (t) => {
    const { time, pacer } = setup(t, 10_000, { maxQueueMs: 500 });
    pacer.linkRate = 300_000;
    let id = 0;
    for (; id < 30; id++) pacer.enqueue(media(id)); // ~950 ms at 300 kbit/s
    pacer.overflow(time.now());
    pacer.clear();
    time.advance(250);
    for (let i = 0; i < 20; i++) pacer.enqueue(media(id++)); // ~630 ms: less than before the clear
    assert.ok(pacer.queueMs > 500 && pacer.queueMs < 1000, String(pacer.queueMs));
    assert.equal(pacer.overflow(time.now()), true);
  });

  test('boostFrame(): the rest of the frame at the head leaves at the boost\'s rate; what follows waits out the debt', async (t) => {
    // A joiner's replay at 300 kbit/s: a 5-packet keyframe, then a 1-packet frame. The bucket lets ~2.5 kB
    // out at once; without a boost the keyframe's last packet left ~65 ms later, with it ~20 ms.
    const frame = (first: number, count: number) =>
      Array.from({ length: count }, (_, i) => {
        const entry = media(first + i);
        if (i === count - 1) entry.packet[1]! |= 0x80; // the marker: the frame's last packet
        return entry;
      });
    const sendTimes = async (name: string, boost: { rate: number; maxBytes: number } | undefined) => {
      let times: number[] = [];
      await t.test(name, (st) => {
        times = sendTimesIn(st, boost);
      });
      return times;
    };
    const sendTimesIn = (st: TestContext, boost: { rate: number; maxBytes: number } | undefined) => {
      const { time, output, pacer } = setup(st, 300_000);
      time.advance(100); // the bucket is full
      const start = time.now();
      for (const entry of [...frame(1, 5), ...frame(6, 1)]) pacer.enqueue(entry);
      if (boost) pacer.boostFrame(boost.rate, boost.maxBytes);
      time.advance(400);
      pacer.close();
      return output.sent.map((s) => (s.kind === 'media' ? s.at - start : -1));
    };
    const plain = await sendTimes('paced', undefined);
    const boosted = await sendTimes('boosted', { rate: 1_000_000, maxBytes: 12_000 });
    assert.ok(plain[4]! >= 60, `unboosted, the keyframe's last packet at ${plain[4]} ms`);
    assert.ok(boosted[4]! <= 30, `boosted, at ${boosted[4]} ms (${boosted.join(', ')})`);
    assert.ok(boosted[5]! >= plain[5]! - 2, `the next frame no sooner than paced: ${boosted[5]} ms against ${plain[5]}`);
    assert.ok(boosted[5]! <= plain[5]! + 30, `nor much later: ${boosted[5]} ms against ${plain[5]}`);
    // A frame over maxBytes is not boosted at all (a boost ended part way would hold its last packets back).
    assert.deepEqual(await sendTimes('over maxBytes', { rate: 1_000_000, maxBytes: 2_000 }), plain);
  });

  test('close() stops everything: nothing queued leaves, nothing new is taken', (t) => {
    const { time, output, pacer } = setup(t, 500_000);
    for (let id = 0; id < 5; id++) pacer.enqueue(media(id));
    pacer.retransmit(1);
    pacer.probe(3, 5, 100, 10);
    pacer.close();
    pacer.enqueue(media(50));
    pacer.retransmit(2);
    pacer.probe(4, 5, 100, 10);
    time.advance(100);
    assert.equal(output.sent.length, 1);
    assert.equal(pacer.queuedPackets, 0);
  });
});

describe('PacerClock', () => {
  test('one timer for all its pacers, running only while one of them has work', (t) => {
    const time = useVirtualTime(t);
    const intervals = t.mock.method(globalThis, 'setInterval');
    const clears = t.mock.method(globalThis, 'clearInterval');
    const clock = new PacerClock(2);
    const [a, b] = [recordingOutput(), recordingOutput()];
    const pacers = [new Pacer(a, 500_000, { clock }), new Pacer(b, 500_000, { clock })];
    const drains = pacers.map((pacer) => t.mock.method(pacer, 'drain'));
    time.advance(10);
    pacers[0]!.enqueue(media(1)); // at once: no timer needed
    assert.equal(intervals.mock.callCount(), 0, 'nothing waits: no timer');

    for (const pacer of pacers) for (let id = 2; id < 6; id++) pacer.enqueue(media(id));
    assert.equal(intervals.mock.callCount(), 1, 'one timer for both');
    time.advance(200);
    assert.equal(a.sent.length, 5);
    assert.equal(b.sent.length, 4);
    assert.equal(clears.mock.callCount(), 1, 'stopped once both were done');
    const calls = drains.map((drain) => drain.mock.callCount());
    time.advance(200);
    assert.deepEqual(drains.map((drain) => drain.mock.callCount()), calls, 'no tick while idle');

    pacers[1]!.retransmit(5);
    assert.equal(intervals.mock.callCount(), 2, 'woken again: a new timer');
    time.advance(10);
    assert.equal(b.sent.at(-1)!.kind, 'rtx');
    assert.equal(clears.mock.callCount(), 2);

    // A pacer closed with work waiting lets the clock stop too.
    for (let id = 10; id < 20; id++) pacers[0]!.enqueue(media(id));
    pacers[0]!.close();
    time.advance(10);
    assert.equal(clears.mock.callCount(), 3);
    pacers[1]!.close();
  });
});
