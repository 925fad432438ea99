/**
 * The estimator against the simulated links of issue 17's table (test/unit/support/link-simulator.ts):
 * 40 ms RTT, a 100 ms drop-tail queue, Chromium-style feedback every 50–100 ms. Two senders: one that
 * follows the estimate (an encoder), one that picks a rendition of [2.5 M, 800 k, 250 k] and probes to
 * go up (what the server does).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BandwidthEstimator } from '../../../../../lib/sender/bwe/bandwidth-estimator.ts';
import { parseTwccFeedback } from '../../../../../lib/sender/bwe/twcc-feedback.ts';
import { encodeTwcc } from '../../../support/rtcp-builder.ts';
import { between, firstTime, ratios, runScenario, type Sample } from '../../../support/link-simulator.ts';

const TOP = 2_500_000;
const bitrates = (samples: Sample[]) => samples.map((s) => s.estimate.bitrate);

for (const capacity of [1_500_000, 800_000, 300_000]) {
  test(`a 2.5 Mbit/s sender on a ${capacity / 1000} kbit/s link: below capacity within 1 s, then 0.6–1.0 × capacity`, () => {
    for (const seed of [1, 2]) {
      const { samples } = runScenario({ durationMs: 25_000, capacity: () => capacity, sender: 'follow', seed });
      const detect = firstTime(samples, 0, (s) => s.estimate.bitrate < capacity);
      assert.ok(detect !== undefined && detect <= 1000, `detected at ${detect} ms`);
      const steady = ratios(between(samples, 3000, 25_000));
      assert.ok(steady.min >= 0.6, `min ${steady.min}`);
      assert.ok(steady.median >= 0.75 && steady.median <= 1.0, `median ${steady.median}`);
      // AIMD finds the capacity by crossing it a little (at 300 k one packet per RTT + 100 ms is 20 %/s).
      assert.ok(steady.max <= 1.2, `max ${steady.max}`);
    }
  });

  test(`the rendition ladder on a ${capacity / 1000} kbit/s link: down within 1 s to a rung that fits, and stays`, () => {
    const result = runScenario({ durationMs: 25_000, capacity: () => capacity, sender: 'ladder', seed: 3 });
    const fits = firstTime(result.samples, 0, (s) => s.mediaRate <= capacity);
    assert.ok(fits !== undefined && fits <= 1000, `fitting rung at ${fits} ms`);
    const later = between(result.samples, 2000, 25_000);
    assert.ok(later.every((s) => s.mediaRate <= capacity), 'never back on a rung above the link');
    assert.ok(result.switches <= 2, `${result.switches} switches`);
    const steady = ratios(later);
    assert.ok(steady.min >= 0.6 && steady.max <= 1.05, JSON.stringify(steady));
    assert.ok(result.probes >= 1, 'it probed for the rung above');
  });
}

test('2 % random loss on a clean link: no collapse, the top rung stays', () => {
  for (const sender of ['follow', 'ladder'] as const) {
    const { samples } = runScenario({ durationMs: 25_000, capacity: () => 20e6, lossRate: 0.02, sender, seed: 4 });
    const later = between(samples, 1000, 25_000);
    assert.ok(Math.min(...bitrates(later)) >= TOP, `${sender}: min ${Math.min(...bitrates(later))}`);
    assert.ok(later.every((s) => s.mediaRate === TOP), sender);
  }
});

test('5 % random loss and a 3 Mbit/s cap: a usable estimate, not a collapse', () => {
  // The ladder sends 2.5 M under the cap; an encoder free to go to 5 M has to find the cap under loss.
  const ladder = runScenario({ durationMs: 25_000, capacity: () => 3e6, lossRate: 0.05, sender: 'ladder', seed: 5 });
  const later = between(ladder.samples, 1000, 25_000);
  assert.ok(Math.min(...bitrates(later)) >= 1e6);
  assert.ok(later.filter((s) => s.mediaRate === TOP).length >= 0.95 * later.length, 'top rung 95 % of the time');
  const free = runScenario({ durationMs: 25_000, capacity: () => 3e6, lossRate: 0.05, sender: 'follow', ladder: [5e6, 800e3, 250e3], maxBitrate: 6e6, seed: 5 });
  const steady = ratios(between(free.samples, 3000, 25_000));
  assert.ok(steady.min * 3e6 >= 1e6 && steady.median >= 0.7 && steady.max <= 1.15, JSON.stringify(steady));
});

test('800 kbit/s for 15 s, then lifted: down within 1 s, back on the top rung within 10 s by probing', () => {
  const result = runScenario({ durationMs: 35_000, capacity: (t) => (t >= 5000 && t < 20_000 ? 800_000 : 20e6), sender: 'ladder', seed: 6 });
  const down = firstTime(result.samples, 5000, (s) => s.estimate.bitrate < 800_000 && s.mediaRate < 800_000);
  assert.ok(down !== undefined && down - 5000 <= 1000, `down after ${down! - 5000} ms`);
  const during = between(result.samples, down! + 500, 20_000);
  assert.ok(during.every((s) => s.mediaRate <= 800_000));
  const up = firstTime(result.samples, 20_000, (s) => s.mediaRate === TOP && s.estimate.bitrate > TOP);
  assert.ok(up !== undefined && up - 20_000 <= 10_000, `up after ${up === undefined ? 'never' : up - 20_000} ms`);
  assert.ok(between(result.samples, up!, 35_000).every((s) => s.mediaRate === TOP), 'stays up');
});

test('RTT and queueing delay are reported; the receiver\'s reference time wraps during the run without harm', () => {
  const { samples } = runScenario({ durationMs: 10_000, capacity: () => 20e6, sender: 'follow', seed: 7 });
  const last = samples.at(-1)!.estimate;
  assert.ok(Math.abs(last.rttMs - 40) < 5, String(last.rttMs));
  assert.ok(last.queueDelayMs < 5, String(last.queueDelayMs));
  // The simulated receiver clock passes 2^24 × 64 ms at 6.4 s: the estimate must not notice.
  assert.ok(between(samples, 6000, 10_000).every((s) => s.estimate.bitrate >= TOP && s.estimate.state !== 'overusing'));
});

test('options are checked; garbage and repeated feedback neither throw nor poison the estimate', () => {
  assert.throws(() => new BandwidthEstimator({ startBitrate: 0, minBitrate: 1, maxBitrate: 2 }), /startBitrate must be a positive/);
  assert.throws(() => new BandwidthEstimator({ startBitrate: 1, minBitrate: 5, maxBitrate: 2 }), /minBitrate \(5\) is above maxBitrate/);
  const bwe = new BandwidthEstimator({ startBitrate: 1e6, minBitrate: 1e5, maxBitrate: 5e6 });
  for (let i = 0; i < 100; i++) bwe.onPacketSent(i, 1000, i * 2);
  const fci = encodeTwcc(Array.from({ length: 100 }, (_, i) => ({ sequence: i, arrivalUs: 1e6 + i * 2000 })), 0)!;
  const feedback = parseTwccFeedback(fci)!;
  bwe.onFeedback(feedback, 250);
  bwe.onFeedback(feedback, 260); // duplicate
  const unknown = parseTwccFeedback(encodeTwcc(Array.from({ length: 50 }, (_, i) => ({ sequence: 30_000 + i, arrivalUs: i })), 1)!)!;
  bwe.onFeedback(unknown, 270); // never sent
  bwe.onRtt(Number.NaN);
  bwe.onReceiverReport(7, 280);
  const e = bwe.estimate(300);
  for (const [k, v] of Object.entries(e)) if (typeof v === 'number') assert.ok(Number.isFinite(v), `${k} = ${v}`);
  assert.ok(e.acknowledged > 3e6 && e.acknowledged < 5e6, String(e.acknowledged)); // 1000 B per 2 ms = 4 Mbit/s
  assert.equal(e.lossRate, 0);
});

test('no feedback while sending: the estimate decays towards the minimum', () => {
  const bwe = new BandwidthEstimator({ startBitrate: 2e6, minBitrate: 1e5, maxBitrate: 5e6 });
  for (let t = 0; t <= 4000; t += 10) bwe.onPacketSent(t / 10, 1000, t);
  const e = bwe.estimate(4000);
  assert.ok(e.bitrate < 2e6 * 0.8 ** 2.5 && e.bitrate >= 1e5, String(e.bitrate));
});

test('no probe into a full link (a standing queue and heavy loss), even once the delay trend is flat again; one when it has drained', () => {
  // 4 Mbit/s (1000 B every 2 ms), feedback every 50 ms. From 1 s the path holds a 60 ms queue that stays and
  // drops a third of the packets (a link that narrowed under a full drop-tail buffer); from 3 s it is gone.
  // A standing queue without loss (a busy receiver) holds no probe back.
  const bwe = new BandwidthEstimator({ startBitrate: 2e6, minBitrate: 1e5, maxBitrate: 20e6 });
  const queueAt = (ms: number) => (ms >= 1000 && ms < 3000 ? 60 : 0);
  const lostAt = (ms: number, i: number) => ms >= 1000 && ms < 3000 && i % 3 === 0;
  let seq = 0;
  let feedbacks = 0;
  const probeAt = (ms: number) => {
    const cluster = bwe.requestProbe(8e6, ms);
    return { ms, probe: cluster !== undefined, state: bwe.estimate(ms).state, queueMs: bwe.estimate(ms).queueDelayMs };
  };
  const seen: Array<ReturnType<typeof probeAt>> = [];
  for (let ms = 0; ms < 4000; ms += 50) {
    const batch = Array.from({ length: 25 }, (_, i) => {
      const sentMs = ms + 2 * i;
      bwe.onPacketSent(seq & 0xffff, 1000, sentMs);
      return { sequence: seq++ & 0xffff, arrivalUs: lostAt(sentMs, i) ? undefined : (1000 + sentMs + 20 + queueAt(sentMs)) * 1000 };
    });
    bwe.onFeedback(parseTwccFeedback(encodeTwcc(batch, feedbacks++ & 0xff)!)!, ms + 50 + 20 + queueAt(ms));
    if (ms >= 1500 && ms % 500 === 0) seen.push(probeAt(ms + 70));
  }
  const standing = seen.filter((s) => s.ms < 3000);
  assert.ok(standing.some((s) => s.state === 'normal'), `the trend flattened: ${JSON.stringify(standing)}`);
  assert.ok(standing.every((s) => !s.probe && s.queueMs >= 30), JSON.stringify(standing));
  assert.ok(seen.some((s) => s.ms >= 3000 && s.probe), JSON.stringify(seen));

  // The same standing queue without loss: probes go.
  const busy = new BandwidthEstimator({ startBitrate: 2e6, minBitrate: 1e5, maxBitrate: 20e6 });
  let probed = false;
  for (let ms = 0, n = 0; ms < 3000; ms += 50) {
    const batch = Array.from({ length: 25 }, (_, i) => {
      const sentMs = ms + 2 * i;
      busy.onPacketSent(n & 0xffff, 1000, sentMs);
      return { sequence: n++ & 0xffff, arrivalUs: (1000 + sentMs + 20 + queueAt(sentMs)) * 1000 };
    });
    busy.onFeedback(parseTwccFeedback(encodeTwcc(batch, (ms / 50) & 0xff)!)!, ms + 70 + queueAt(ms));
    if (ms >= 2000 && busy.estimate(ms + 70).queueDelayMs >= 30 && busy.requestProbe(8e6, ms + 70)) probed = true;
  }
  assert.ok(probed, 'a probe over a standing queue without loss');
});
