/**
 * VideoSender in a closed loop over the links of issue 17's table (test/unit/support/viewer-harness.ts):
 * renditions of 2.5 Mbit/s, 800 kbit/s and 250 kbit/s at 30 fps, a keyframe every 30 frames 8× a delta
 * frame; 40 ms RTT; a drop-tail bottleneck as the e2e links' TBF (100 ms of queue); a Chromium-like browser
 * (transport-cc feedback every 50–100 ms, NACKs, keyframe requests) whose decodable frames give the frame
 * rate and the freezes. The viewer starts at 1 Mbit/s, as the server's START_BITRATE. Each scenario logs
 * its time series (`rendition/estimate kbit/s` per second) as a diagnostic. One seed each: the runs are
 * deterministic, and some outcomes are chaotic (a probe or a PLI a few ms apart changes the rest).
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { continuityErrors, decodeErrors, paddingErrors, ViewerHarness, type LinkOptions } from '../../support/viewer-harness.ts';

const TOP = 0;
const MIDDLE = 1;
const BOTTOM = 2;

interface Run {
  /** Per 100 ms: the rendition sent and the estimate. */
  samples: Array<{ t: number; rendition: number; estimate: number | undefined }>;
  /** Frames the browser could show: when (ms). */
  shown: number[];
  switches: Array<{ t: number; from: number; to: number }>;
  plis: number;
  nacks: { requested: number; answered: number; refused: number };
  continuity: string[];
}

const runs = new Map<string, Run>();

/** Runs a scenario once (later tests reuse it) and logs its time series. */
function simulate(t: TestContext, name: string, link: LinkOptions, durationMs: number, seed = 1): Run {
  const known = runs.get(name);
  if (known) return known;
  const h = new ViewerHarness(t, { link, startBitrate: 1_000_000, seed });
  h.start();
  h.run(durationMs);
  const switches: Run['switches'] = [];
  for (let i = 1; i < h.samples.length; i++) {
    const [a, b] = [h.samples[i - 1]!, h.samples[i]!];
    if (a.rendition !== b.rendition) switches.push({ t: b.t, from: a.rendition, to: b.rendition });
  }
  const stats = h.sender.stats();
  const run: Run = {
    samples: h.samples.map(({ t, rendition, estimate }) => ({ t, rendition, estimate })),
    shown: h.link.shown.map((frame) => frame.at),
    switches,
    plis: h.link.counts.plis,
    nacks: stats.nacks,
    continuity: [...continuityErrors(h.stream), ...decodeErrors(h.stream), ...paddingErrors(h.stream)],
  };
  h.stop();
  runs.set(name, run);
  const series = run.samples.filter((s) => Math.round(s.t) % 1000 === 0).map((s) => `${s.rendition}/${Math.round((s.estimate ?? 0) / 1000)}`);
  t.diagnostic(`${name}: ${series.join(' ')}`);
  t.diagnostic(`${name}: ${fps(run, 0, durationMs).toFixed(1)} fps shown, first at ${Math.round(run.shown[0] ?? -1)} ms, longest gap ${Math.round(longestGap(run, 0, durationMs))} ms, ${run.switches.length} switches, ${run.plis} PLIs, NACKs ${JSON.stringify(run.nacks)}`);
  return run;
}

/** Frames shown per second in [from, to). */
const fps = (run: Run, from: number, to: number) => run.shown.filter((at) => at >= from && at < to).length / ((to - from) / 1000);

/** The longest time without a new frame in [from, to), ms (the first frame counts from `from`). */
function longestGap(run: Run, from: number, to: number): number {
  const times = [from, ...run.shown.filter((at) => at >= from && at < to), to];
  let longest = 0;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
  return longest;
}

const renditionsIn = (run: Run, from: number, to = Number.POSITIVE_INFINITY) => new Set(run.samples.filter((s) => s.t >= from && s.t < to).map((s) => s.rendition));

describe('VideoSender on simulated links (40 ms RTT, 100 ms drop-tail queue, Chromium-like feedback)', () => {
  // The start estimate (1 Mbit/s) is a guess until a probe tests it: the first probes double from what the
  // link carries, one more round than from the guess, and each step up waits for its rung's keyframe. A
  // probe that showed the bar is the step up's confirmation (before: half a second more at each step, the
  // top rung from 3.7 s on; now from 2.7 s).
  test('clean link: the top rung within 3 s, and it stays; 30 fps', (t) => {
    const run = simulate(t, 'clean', {}, 8_000);
    assert.deepEqual(run.continuity, []);
    assert.deepEqual([...renditionsIn(run, 3000)], [TOP]);
    assert.ok(fps(run, 1000, 8_000) >= 29.5);
    assert.ok(longestGap(run, 1000, 8_000) < 200);
  });

  test('clean link: the first picture within 100 ms of the start (its keyframe boosted past the start pacing)', (t) => {
    // The start rung's keyframe (8 × a delta frame: ~6.7 kB here) went at 1.5 × that rung behind the bucket's
    // first 2.5 kB: shown at 155 ms. Boosted to the 1 Mbit/s start estimate: 63 ms (20 of them the one-way delay).
    const run = simulate(t, 'clean', {}, 8_000);
    assert.ok(run.shown[0]! <= 100, `first picture at ${Math.round(run.shown[0]!)} ms`);
  });

  test('2 % loss: the top rung within 4 s, NACKs repair it (≥ 29 fps)', (t) => {
    const run = simulate(t, '2% loss', { lossRate: 0.02 }, 10_000);
    assert.deepEqual(run.continuity, []);
    assert.deepEqual([...renditionsIn(run, 4000)], [TOP]);
    assert.ok(fps(run, 1000, 10_000) >= 29);
    assert.ok(run.nacks.answered >= 30, JSON.stringify(run.nacks));
  });

  test('4 Mbit/s: the top rung from 7 s on, no oscillation (its keyframes are 8× a delta frame)', (t) => {
    const run = simulate(t, '4 Mbit/s', { capacity: () => 4_000_000 }, 15_000);
    assert.deepEqual(run.continuity, []);
    assert.deepEqual([...renditionsIn(run, 7000)], [TOP]);
    assert.ok(run.switches.length <= 2, `${run.switches.length} switches`);
    assert.ok(fps(run, 1000, 15_000) >= 29.5);
  });

  test('3.6 Mbit/s, between the top rung\'s bar and the probe sent for it: the top rung most of the time from 8 s on, ≥ 29 fps', async (t) => {
    // The probe for the top rung (20 % over its bar) fills this link; what arrived of it still shows the
    // bar fits. Counted a failure, it kept the viewer on the middle rung for good (0 % of the samples).
    // Seven seeds: on this link a keyframe of the top rung now and then reads as an overuse and the viewer
    // steps down for a few seconds; which seeds do is chaos (seeds 1–16: 2–3 of them under 80 %, with or
    // without the joiner's keyframe boost, which moved seed 1 from 100 % to 47 % and seed 2 from 45 % to 63 %).
    const shares: number[] = [];
    for (let seed = 1; seed <= 7; seed++) {
      await t.test(`seed ${seed}`, (st) => {
        const run = simulate(st, `3.6 Mbit/s, seed ${seed}`, { capacity: () => 3_600_000 }, 30_000, seed);
        assert.deepEqual(run.continuity, []);
        const late = run.samples.filter((s) => s.t >= 8_000);
        shares.push(late.filter((s) => s.rendition === TOP).length / late.length);
        assert.ok(fps(run, 1000, 30_000) >= 29, `${fps(run, 1000, 30_000).toFixed(1)} fps`);
        assert.ok(longestGap(run, 1000, 30_000) < 500, `longest gap ${longestGap(run, 1000, 30_000).toFixed(0)} ms`);
      });
    }
    const percent = shares.map((share) => `${(share * 100).toFixed(0)} %`).join(', ');
    assert.ok([...shares].sort((a, b) => a - b)[3]! >= 0.75, `the median seed on the top rung ≥ 75 % of the samples: ${percent}`);
    assert.ok(Math.min(...shares) >= 0.4, `every seed ≥ 40 %: ${percent}`);
  });

  test('1.5 Mbit/s: settles on the 800k rung (≤ 2 switches after 5 s), ≥ 28 fps, no gap over 500 ms', (t) => {
    const run = simulate(t, '1.5 Mbit/s', { capacity: () => 1_500_000 }, 20_000);
    assert.deepEqual(run.continuity, []);
    assert.deepEqual([...renditionsIn(run, 5000)], [MIDDLE]);
    assert.ok(run.switches.filter((s) => s.t >= 5000).length <= 2);
    assert.ok(fps(run, 1000, 20_000) >= 28);
    assert.ok(longestGap(run, 1000, 20_000) <= 500);
  });

  test('5 % loss and a 3 Mbit/s cap: the top or middle rung from 5 s on, ≥ 25 fps', (t) => {
    const run = simulate(t, '5% loss + 3 Mbit/s', { capacity: () => 3_000_000, lossRate: 0.05 }, 20_000);
    assert.deepEqual(run.continuity, []);
    assert.ok([...renditionsIn(run, 5000)].every((r) => r === TOP || r === MIDDLE));
    assert.ok(fps(run, 1000, 20_000) >= 25);
  });

  for (const capacity of [500_000, 700_000]) {
    test(`${capacity / 1000} kbit/s under a 1 Mbit/s start guess: no step up and no pacing on the guess before a probe tests it, nothing dropped`, (t) => {
      // Before, a second of feedback made the guess a measure: paced at 1.5 Mbit/s and stepped up to the 800k
      // rung, the viewer lost 88 (500 k) and 67 (700 k) packets at the link's queue in its first 4 s.
      const h = new ViewerHarness(t, { link: { capacity: () => capacity }, startBitrate: 1_000_000, seed: 1 });
      h.start();
      h.run(4000);
      assert.equal(h.link.counts.dropped, 0, JSON.stringify(h.link.counts));
      assert.ok(h.samples.every((s) => s.rendition === BOTTOM), 'the bottom rung: the 800k one does not fit');
      assert.deepEqual([...continuityErrors(h.stream), ...decodeErrors(h.stream), ...paddingErrors(h.stream)], []);
      h.stop();
    });
  }

  test('300 kbit/s: the bottom rung throughout, ≥ 20 fps', (t) => {
    const run = simulate(t, '300 kbit/s', { capacity: () => 300_000 }, 20_000);
    assert.deepEqual(run.continuity, []);
    assert.deepEqual([...renditionsIn(run, 1000)], [BOTTOM]);
    assert.ok(fps(run, 0, 20_000) >= 20);
  });

  test('300 kbit/s: frame gaps over 500 ms ≤ 0.5 s in all', (t) => {
    const run = simulate(t, '300 kbit/s', { capacity: () => 300_000 }, 20_000);
    const times = [0, ...run.shown];
    const over = times.slice(1).reduce((sum, at, i) => sum + Math.max(0, at - times[i]! - 500), 0);
    assert.ok(over <= 500, `${Math.round(over)} ms of gaps over 500 ms`);
  });

  test('800 kbit/s: the 250k rung (the 800k one does not fit with the estimator\'s margins), ≥ 25 fps', (t) => {
    const run = simulate(t, '800 kbit/s', { capacity: () => 800_000 }, 20_000);
    assert.deepEqual(run.continuity, []);
    assert.deepEqual([...renditionsIn(run, 3000)], [BOTTOM]);
    assert.ok(fps(run, 1000, 20_000) >= 25);
  });

  const drop: LinkOptions = { capacity: (ms) => (ms >= 5000 && ms < 20_000 ? 800_000 : 100e6) };

  test('the cap falls to 800 kbit/s at 5 s and lifts at 20 s: down within ~1 s, back on the top rung ≤ 10 s after', (t) => {
    const run = simulate(t, 'cap 800k 5–20 s', drop, 30_000);
    assert.deepEqual(run.continuity, []);
    assert.deepEqual([...renditionsIn(run, 4000, 5000)], [TOP]);
    const down = run.switches.find((s) => s.t >= 5000 && s.to > s.from);
    assert.ok(down && down.t <= 6200, `down at ${down?.t} ms`);
    assert.ok(!renditionsIn(run, 6200, 20_000).has(TOP));
    const up = run.samples.find((s) => s.t >= 20_000 && s.rendition === TOP);
    assert.ok(up && up.t <= 30_000, `on top at ${up?.t} ms`);
    assert.deepEqual([...renditionsIn(run, up.t)], [TOP]);
  });

  test('the cap falls to 800 kbit/s at 5 s and lifts at 20 s: no frame gap over 2 s', (t) => {
    const run = simulate(t, 'cap 800k 5–20 s', drop, 30_000);
    assert.ok(longestGap(run, 1000, 30_000) <= 2000, `${Math.round(longestGap(run, 1000, 30_000))} ms`);
  });

  test('the cap falls to 800 kbit/s 300 ms after a step up to the top rung: down within 700 ms, no frame gap over 1 s, no probe into the queue', (t) => {
    // The step up's guard (an overuse does not cut below 0.85 × the estimate it was decided on, for a second)
    // is against the step's own burst; here the link narrowed, and the guard must give way. Before: down
    // 1.1 s after the cap in the e2e run, ~80 % of packets lost meanwhile.
    let capAt = Number.POSITIVE_INFINITY;
    /** Probes sent after the cap, with the bottleneck's queue then (ms). */
    const probes: Array<{ t: number; queueMs: number }> = [];
    const h: ViewerHarness = new ViewerHarness(t, {
      link: { capacity: (ms) => (ms >= capAt ? 800_000 : 100e6) },
      startBitrate: 1_000_000,
      seed: 1,
      debug: (message, ms) => {
        if (capAt === Number.POSITIVE_INFINITY && / → 0$/.test(message)) capAt = ms + 300;
        if (ms >= capAt && message.startsWith('probe')) probes.push({ t: ms, queueMs: h.link.queueDelay(ms) });
      },
    });
    h.start();
    h.run(12_000);
    assert.ok(Number.isFinite(capAt), 'it stepped up to the top rung');
    const down = h.samples.find((s) => s.t >= capAt && s.rendition !== TOP);
    assert.ok(down && down.t - capAt <= 700, `down ${down ? down.t - capAt : 'never'} ms after the cap`);
    const shown = h.link.shown.map((frame) => frame.at).filter((at) => at >= capAt - 1000 && at < capAt + 5000);
    const gaps = shown.slice(1).map((at, i) => at - shown[i]!);
    assert.ok(Math.max(...gaps) <= 1000, `longest gap ${Math.round(Math.max(...gaps))} ms`);
    // Right after the step down, while the old rung's queue drains (later, a keyframe's own passing queue
    // may meet a probe: 38 ms, 3.2 s after the cap, in one variant of this run).
    assert.deepEqual(probes.filter((probe) => probe.t < capAt + 2000 && probe.queueMs >= 30), [], 'no probe while a queue stands');
    assert.deepEqual([...continuityErrors(h.stream), ...decodeErrors(h.stream)], []);
    h.stop();
  });
});
