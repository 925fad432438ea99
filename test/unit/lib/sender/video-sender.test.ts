/**
 * VideoSender end to end without I/O (test/unit/support/viewer-harness.ts): real IngestStreams, GOP caches
 * and StreamTracks, a fake writer in place of DirectRtpSender, RTCP built byte by byte, virtual time.
 * Every test also checks the stream's promise: one sequence number after the other, timestamps that never
 * go back (a squeezed GOP replay included: its frames are one tick apart, forward), every switch, replay
 * or resumption starting at a keyframe, and one transport-wide number after the other across media, padding
 * and retransmissions.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { fir, pli } from '../../support/rtcp-builder.ts';
import { continuityErrors, decodeErrors, paddingErrors, transportWideErrors, ViewerHarness, type HarnessOptions, type SentPacket } from '../../support/viewer-harness.ts';

/** The stream's promises, whatever happened. */
function assertContinuous(harness: ViewerHarness): void {
  assert.deepEqual(continuityErrors(harness.stream).slice(0, 5), []);
  assert.deepEqual(decodeErrors(harness.stream).slice(0, 5), [], 'every switch, replay and resumption starts at a keyframe');
  assert.deepEqual(paddingErrors(harness.stream).slice(0, 5), [], 'probe padding only between frames');
  if (harness.writer.sent[0]?.transportWide !== undefined) assert.deepEqual(transportWideErrors(harness.writer.sent).slice(0, 5), []);
}

/** Only the current rung (and one waiting for its keyframe) is bound to the viewer. */
function assertBindings(harness: ViewerHarness, pending?: number): void {
  const current = harness.sender.stats().rendition;
  harness.source.streams.forEach((stream, rung) => {
    assert.equal(stream.track.bindingCount, rung === current || rung === pending ? 1 : 0, `rung ${rung}'s binding (current ${current})`);
  });
}

const media = (packets: readonly SentPacket[]) => packets.filter((p) => p.kind === 'media');
/** Frames in the order their first packets were sent: "rung:frame". */
const frames = (packets: readonly SentPacket[]) => media(packets).filter((p) => p.index === 0).map((p) => `${p.rung}:${p.frame}`);

function harness(t: TestContext, options: HarnessOptions): ViewerHarness {
  return new ViewerHarness(t, options);
}

describe('VideoSender', () => {
  test('a joiner gets its start rendition\'s GOP first (paced, squeezed to its sending time), then the live packets, one stream from the first packet', (t) => {
    const h = harness(t, { startBitrate: 2_000_000, browserRuns: false, prefillFrames: 10 });
    assert.equal(h.sender.stats().rendition, 1, 'half of 2 Mbit/s carries the 800k rung, not the top');
    h.start();
    h.run(900);
    const sent = media(h.writer.sent);
    assert.ok(sent.every((p) => p.rung === 1), 'only the start rendition');
    assert.deepEqual(frames(sent).slice(0, 14), ['1:0', '1:1', '1:2', '1:3', '1:4', '1:5', '1:6', '1:7', '1:8', '1:9', '1:10', '1:11', '1:12', '1:13']);
    assert.ok(sent[0]!.keyframeStart && !sent[0]!.live, 'a keyframe from the GOP cache first');
    const replay = sent.filter((p) => !p.live);
    assert.ok(replay.every((p) => p.frame < 10) && sent.slice(replay.length).every((p) => p.live), 'the replay, then only live packets');
    // Not rebased (the first packet) and squeezed to end at the newest frame, each frame as far from the one
    // before it as the pacer takes to send it: the browser gets each frame when its timestamp says.
    const ts9 = h.source.timestampOf(1, 9);
    assert.equal(replay.at(-1)!.timestamp, ts9, 'the newest frame keeps its timestamp');
    const lastOf = (frame: number) => replay.filter((p) => p.frame === frame).at(-1)!;
    for (let frame = 1; frame <= 9; frame++) {
      const [before, after] = [lastOf(frame - 1), lastOf(frame)];
      const stampedMs = ((after.timestamp - before.timestamp) >>> 0) / 90;
      assert.ok(Math.abs(stampedMs - (after.at - before.at)) <= 20, `frame ${frame}: ${stampedMs} ms after the one before by its timestamp, sent ${after.at - before.at} ms after it`);
    }
    const live = sent.find((p) => p.live)!;
    assert.equal(live.timestamp, h.source.timestampOf(1, 10), 'the live frames on the source\'s own timeline');
    // Paced: the GOP (a keyframe 8× a delta frame, 9 deltas ≈ 46 kB) before any feedback goes at no more than
    // 1.5 × the start rung's 800 kbit/s (the start estimate is a guess): ≈ 300 ms, not 0.
    const span = replay.at(-1)!.at - replay[0]!.at;
    assert.ok(span > 250 && span < 400, `the replay took ${span} ms`);
    assertContinuous(h);
    assertBindings(h);
  });

  test('without transport-cc: the top rendition, unpaced, no extension, no estimate', (t) => {
    const h = harness(t, { transportWide: false, startBitrate: 300_000, browserRuns: false });
    h.start();
    assert.equal(h.sender.stats().rendition, 0);
    h.run(2);
    assert.ok(h.writer.sent.length > 50 && h.writer.sent.every((p) => p.at <= 2), 'the whole GOP within a tick of the pacer\'s clock');
    h.run(500);
    assert.ok(h.writer.sent.every((p) => p.transportWide === undefined));
    const stats = h.sender.stats();
    assert.equal(stats.estimate, undefined);
    assert.equal(stats.pacer.rate, undefined);
    assert.equal(stats.pacer.queuedPackets, 0);
    assertContinuous(h);
  });

  test('transport-cc negotiated but no feedback for 3 s: the top rendition, unpaced, at the first RTCP after that', (t) => {
    const h = harness(t, { startBitrate: 2_000_000, browser: { feedback: false } });
    h.start();
    h.run(3000);
    assert.equal(h.sender.stats().rendition, 1, 'the start rung while it waits');
    h.run(100); // the receiver report of about 3.05 s
    const stats = h.sender.stats();
    assert.equal(stats.rendition, 0);
    assert.equal(stats.estimate, undefined);
    assert.equal(stats.pacer.rate, undefined);
    const first = media(h.writer.sent).find((p) => p.rung === 0)!;
    assert.ok(first.at > 3000 && first.keyframeStart && !first.live, 'at once, from the top rung\'s GOP');
    h.run(1500);
    // Unpaced: every frame leaves in the millisecond it came.
    const top = media(h.writer.sent).filter((p) => p.rung === 0 && p.live);
    const firstOfFrame = new Map<number, number>();
    for (const p of top) firstOfFrame.set(p.frame, firstOfFrame.get(p.frame) ?? p.at);
    assert.ok(top.every((p) => p.at === firstOfFrame.get(p.frame)));
    assertContinuous(h);
    assertBindings(h);
  });

  test('transport-cc feedback that does not parse is no feedback: the top rendition, unpaced, after 3 s; counted in stats', (t) => {
    const h = harness(t, { startBitrate: 2_000_000, browser: { feedback: 'malformed' } });
    h.start();
    h.run(2000);
    assert.equal(h.sender.stats().rendition, 1, 'the start rung while it waits');
    assert.ok(h.sender.stats().feedback.malformed > 10 && h.sender.stats().feedback.received === 0, JSON.stringify(h.sender.stats().feedback));
    h.run(1500);
    const stats = h.sender.stats();
    assert.equal(stats.rendition, 0);
    assert.equal(stats.estimate, undefined);
    assert.equal(stats.pacer.rate, undefined);
    assertContinuous(h);
  });

  test('a PLI replays the current GOP (what waited is dropped), at most every 250 ms; a FIR too; another SSRC\'s is not ours', (t) => {
    const h = harness(t, { startBitrate: 2_000_000, browserRuns: false, prefillFrames: 1 });
    const ssrc = h.writer.access.ssrc;
    h.start();
    h.run(1002); // frame 30, a keyframe (≈ 21.6 kB, 69 ms at 2.5 Mbit/s), is on its way out
    assert.ok(h.sender.stats().pacer.queuedPackets > 0);
    const before = h.writer.sent.length;
    h.rtcp(pli(0x0b0b, ssrc));
    let stats = h.sender.stats();
    assert.equal(stats.keyframeRequests, 1);
    assert.ok(stats.pacer.dropped > 0, 'the rest of the live keyframe is dropped: the replay starts with it again');
    h.run(30);
    let after = media(h.writer.sent.slice(before));
    assert.ok(after[0]!.keyframeStart && !after[0]!.live && after[0]!.frame === 30, 'the GOP again, from its keyframe');

    const second = h.writer.sent.length;
    h.run(70);
    h.rtcp(pli(0x0b0b, ssrc)); // 100 ms after the first
    h.rtcp(pli(0x0b0b, 0x0bad)); // not our stream
    assert.equal(h.sender.stats().keyframeRequests, 1, 'too soon: ignored');
    h.run(100);
    assert.ok(!media(h.writer.sent.slice(second)).some((p) => p.keyframeStart && !p.live), 'no second replay');

    h.run(60); // 260 ms after the first
    const third = h.writer.sent.length;
    h.rtcp(fir(0x0b0b, [ssrc]));
    stats = h.sender.stats();
    assert.equal(stats.keyframeRequests, 2);
    h.run(50);
    after = media(h.writer.sent.slice(third));
    assert.ok(after[0]!.keyframeStart && !after[0]!.live && after[0]!.frame === 30);
    assertContinuous(h);
    assertBindings(h);
  });

  test('NACKs go through the budget: answered from the history with a new transport-wide number, refused when too soon, too old or over budget', (t) => {
    const h = harness(t, { startBitrate: 2_000_000, browserRuns: false });
    h.start();
    h.run(1500);
    const sent = media(h.writer.sent);
    // No round trip measured yet: the estimator's default (200 ms) makes "too soon" 160 ms.
    const now = h.elapsed;
    const old = sent.filter((p) => now - p.at > 1000).slice(-2).map((p) => p.seq);
    const recent = sent.filter((p) => now - p.at < 100).slice(0, 2).map((p) => p.seq);
    const fair = sent.filter((p) => now - p.at > 300 && now - p.at < 600).map((p) => p.seq).slice(0, 20);
    assert.ok(old.length === 2 && recent.length === 2 && fair.length === 20);
    h.writer.nack([...old, ...recent, ...fair]);
    h.run(150); // they leave at the pacing rate (1.3 × the 800k start rung before feedback measures the link), ahead of the media
    const rtx = h.writer.sent.filter((p) => p.kind === 'rtx');
    // 30 % of the estimate over 200 ms, in full packets: twelve at 2 Mbit/s, fewer as the estimate decays
    // without feedback (×0.8 a second after the first second).
    const budget = rtx.length;
    assert.ok(budget >= 8 && budget <= 12, String(budget));
    assert.deepEqual(rtx.map((p) => p.seq), fair.slice(0, budget));
    assert.deepEqual(h.sender.stats().nacks, { requested: 24, answered: budget, refused: 24 - budget });
    for (const p of rtx) {
      const original = sent.find((o) => o.seq === p.seq)!;
      assert.equal(p.timestamp, original.timestamp);
      assert.notEqual(p.transportWide, original.transportWide);
    }
    h.run(150); // the budget refills
    h.writer.nack(fair.slice(budget));
    h.run(60);
    const again = h.writer.sent.filter((p) => p.kind === 'rtx').length - budget;
    assert.ok(again >= 4 && again <= 20 - budget, `${again} more after 210 ms`);
    // Just sent again (under 160 ms ago): too soon for another copy.
    const refused = h.sender.stats().nacks.refused;
    h.writer.nack(fair.slice(budget, budget + 2));
    assert.equal(h.sender.stats().nacks.refused, refused + 2);
    assertContinuous(h);
  });

  test('a switch down replays the lower rung\'s GOP at once and drops the old rung; one step to the rung the estimate carries', (t) => {
    const switches: Array<{ t: number; message: string }> = [];
    const h = harness(t, {
      startBitrate: 5_000_000,
      link: { capacity: (ms) => (ms < 4000 ? 20e6 : 1_200_000) },
      debug: (message, ms) => void (message.includes('rendition') || message.includes('lower') ? switches.push({ t: ms, message }) : undefined),
      seed: 2,
    });
    h.start();
    h.run(4000);
    assert.equal(h.sender.stats().rendition, 0);
    const before = h.sender.stats().switches;
    h.run(2000);
    const stats = h.sender.stats();
    assert.equal(stats.rendition, 1, `the 800k rung fits 1.2 Mbit/s: ${JSON.stringify(switches)}`);
    assert.equal(stats.switches, before + 1, `one step: ${JSON.stringify(switches)}`);
    const down = media(h.writer.sent).filter((p) => p.at >= 4000);
    const first = down.findIndex((p) => p.rung === 1);
    assert.ok(first >= 0 && down[first]!.at - 4000 < 1000, `down ${down[first]?.at} ms`);
    assert.ok(down[first]!.keyframeStart && !down[first]!.live, 'from the lower rung\'s GOP cache: a picture at once');
    assert.ok(down.slice(first).every((p) => p.rung === 1), 'nothing of the old rung after it');
    const replayed = frames(down.slice(first)).map((f) => Number(f.split(':')[1]));
    assert.deepEqual(replayed.slice(0, 5), [0, 1, 2, 3, 4].map((k) => replayed[0]! + k), 'its frames in order from its keyframe');
    assertContinuous(h);
    assertBindings(h);
  });

  test('a switch\'s own GOP replay is no overflow: the rung the estimate chose, and no rung left bound behind it', (t) => {
    // The top rung's link falls to 1.1 Mbit/s: the estimate (≈ 0.9 Mbit/s) chooses the 800k rung, whose GOP
    // (≈ 100 kB) is ≈ 0.9 s at that estimate, over the pacer's 500 ms bound the moment it is queued.
    const lines: Array<{ t: number; message: string }> = [];
    const h = harness(t, {
      startBitrate: 5_000_000,
      link: { capacity: (ms) => (ms < 5000 ? 20e6 : 1_100_000) },
      debug: (message, ms) => void lines.push({ t: ms, message }),
      seed: 3,
    });
    h.start();
    h.run(5000);
    for (let i = 0; i < 20; i++) {
      h.run(100);
      assertBindings(h);
    }
    const down = lines.find((line) => / rendition 0 → 1/.test(line.message));
    assert.ok(down, lines.map((line) => `${line.t} ${line.message}`).join('\n'));
    const overflow = lines.find((line) => line.message.includes('a rung lower') && line.t - down.t < 1000);
    assert.equal(overflow, undefined, `the replay's burst taken for an overflow at ${overflow?.t} ms`);
    assertContinuous(h);
  });

  test('a PLI\'s GOP replay is no overflow either, however long it takes at the estimate', (t) => {
    const h = harness(t, { startBitrate: 2_000_000, browserRuns: false, prefillFrames: 1 });
    h.start();
    for (let i = 0; i < 19; i++) {
      h.run(100);
      h.acknowledge({ capacity: 1_200_000 });
    }
    // Frame 59 is out: the GOP holds 30 frames of the 800k rung, ≈ 100 kB, ≈ 0.7 s at the estimate.
    h.run(66);
    h.acknowledge({ capacity: 1_200_000 });
    const gop = h.source.streams[1]!.track.gop!.bytes;
    const estimate = h.sender.stats().estimate!;
    assert.ok((gop * 8) / (estimate / 1000) > 500, `${gop} bytes at ${estimate} bit/s`);
    h.rtcp(pli(0x0b0b, h.writer.access.ssrc));
    const stats = h.sender.stats();
    assert.equal(stats.keyframeRequests, 1);
    assert.equal(stats.rendition, 1, 'no step down');
    assert.equal(stats.switches, 0);
    assertBindings(h);
    h.run(1000);
    assertContinuous(h);
  });

  /** Every step up the viewer decided, with whether the new rung's GOP was cheap to send at the estimate then. */
  function upDecisions(options: HarnessOptions, t: TestContext, ms: number) {
    const decisions: Array<{ t: number; from: number; to: number; cheap: boolean }> = [];
    let h: ViewerHarness | undefined = undefined;
    h = harness(t, {
      ...options,
      debug: (message, at) => {
        const match = /estimate (\d+) kbit\/s .*rendition (\d) → (\d)/.exec(message);
        if (!match || Number(match[3]) >= Number(match[2])) return;
        const gop = h!.source.streams[Number(match[3])]!.track.gop!.bytes;
        decisions.push({ t: at, from: Number(match[2]), to: Number(match[3]), cheap: (gop * 8) / Number(match[1]) <= 150 });
      },
    });
    h.start();
    h.run(ms);
    return { h, decisions };
  }

  for (const { name, options, path } of [
    { name: 'big GOPs (keyframes 8× a delta frame): at the next keyframe', options: { startBitrate: 1_000_000 }, path: 'waited' },
    { name: 'cheap GOPs (small rungs, a small keyframe every 5 frames): at once', options: { ladder: [300_000, 150_000, 100_000], keyframeInterval: 5, keyframeFactor: 1, startBitrate: 200_000 }, path: 'immediate' },
  ] as const) {
    test(`a switch up waits for the new rung's keyframe unless its GOP takes ≤ 150 ms at the estimate; ${name}`, (t) => {
      const { h, decisions } = upDecisions(options, t, 6000);
      assert.equal(h.sender.stats().rendition, 0, 'on top in the end');
      assert.ok(decisions.some((d) => (path === 'immediate') === d.cheap), JSON.stringify(decisions));
      const sent = media(h.writer.sent);
      let exercised = 0;
      for (const decision of decisions) {
        const next = decisions.find((d) => d.t > decision.t)?.t ?? Number.POSITIVE_INFINITY;
        const firstUp = sent.find((p) => p.at >= decision.t && p.rung === decision.to);
        if (!firstUp || firstUp.at > next) continue; // the room went away before its keyframe came
        if (decision.cheap === (path === 'immediate') && (decision.cheap || firstUp.at - decision.t > 20)) exercised++;
        if (decision.cheap) {
          // At once: behind the pacer's budget at most (a few ms), not waiting for a keyframe (here ≥ 33 ms).
          assert.ok(firstUp.at - decision.t <= 15, `at once (${firstUp.at - decision.t} ms later, behind what the pacer held)`);
          assert.ok(firstUp.keyframeStart && !firstUp.live, 'from its GOP cache');
        } else {
          assert.ok(firstUp.keyframeStart && firstUp.live, `its next live keyframe (${JSON.stringify(firstUp)})`);
          const between = sent.filter((p) => p.at >= decision.t && p.at < firstUp.at);
          assert.ok(between.every((p) => p.rung === decision.from), 'the old rung until then');
        }
      }
      assert.ok(exercised > 0, `the ${path} path taken: ${JSON.stringify(decisions)}`);
      assertContinuous(h);
      assertBindings(h);
    });
  }

  // Was a todo: the first probe went at the first feedback, on top of the GOP still leaving. It passes since the
  // start estimate counts as a guess until a probe or a cut tests it.
  test('a probe does not ride on a backlog: the joiner\'s first probe waits until its GOP has left', (t) => {
    // A probe cluster's rate is media and padding together (the estimator plans the padding from what was
    // sent lately): with the pacer still draining the GOP on top, the link sees more than the rate probed,
    // and a link that could carry the probe may be judged saturated.
    const probes = new Map<number, { t: number; bitrate: number }>();
    const outcomes: Array<{ id: number; sendBitrate: number; saturated: boolean }> = [];
    const h = harness(t, {
      startBitrate: 1_000_000,
      link: { capacity: () => 2_500_000 },
      debug: (message, ms) => {
        const probe = /^probe (\d+) at (\d+) kbit\/s .*last: (\{.*\})?/.exec(message);
        if (!probe) return;
        probes.set(Number(probe[1]), { t: ms, bitrate: Number(probe[2]) * 1000 });
        if (probe[3]) outcomes.push(JSON.parse(probe[3]));
      },
    });
    h.start();
    h.run(3000);
    const first = probes.get(1);
    assert.ok(first, 'it probed for the top rung');
    // The join's replay: what was sent before the first live packet (a later step up replays its rung's GOP too).
    const sent = media(h.writer.sent);
    const replay = sent.slice(0, sent.findIndex((p) => p.live));
    assert.ok(replay.length > 0 && first.t >= replay.at(-1)!.at, `probe at ${first.t} ms, the GOP left until ${replay.at(-1)?.at} ms`);
    const outcome = outcomes.find((o) => o.id === 1)!;
    assert.ok(outcome.sendBitrate <= 1.25 * first.bitrate, `sent at ${Math.round(outcome.sendBitrate / 1000)} kbit/s to probe ${first.bitrate / 1000}`);
    assert.equal(outcome.saturated, false, 'the probe fits a 2.5 Mbit/s link');
    assertContinuous(h);
  });

  test('the pacer\'s queue over 500 ms at the estimate steps down (a scene change the estimate did not foresee)', (t) => {
    const lines: string[] = [];
    const h = harness(t, {
      startBitrate: 2_000_000,
      link: { capacity: () => 1_200_000 },
      browser: { plis: false }, // a PLI's replay would hold the queue's check for a second
      sizeScale: (rung, ms) => (rung === 1 && ms >= 4000 ? 5 : 1),
      debug: (message, ms) => void lines.push(`${ms.toFixed(0)} ${message}`),
    });
    h.start();
    h.run(4000);
    assert.equal(h.sender.stats().rendition, 1);
    h.run(1500);
    const overflow = lines.find((line) => line.includes('dropped, a rung lower'));
    assert.ok(overflow, lines.join('\n'));
    assert.equal(h.sender.stats().rendition, 2);
    assert.ok(h.sender.stats().pacer.dropped > 0);
    assertContinuous(h);
    assertBindings(h);
  });

  test('on the lowest rung an overflowing queue is dropped and the stream resumes at that rung\'s next keyframe', (t) => {
    const h = harness(t, {
      ladder: [250_000],
      startBitrate: 300_000,
      link: { capacity: () => 300_000 },
      browser: { plis: false }, // a PLI's replay would hold the queue's check for a second
      sizeScale: (_, ms) => (ms >= 3000 && ms < 5000 ? 8 : 1),
    });
    h.start();
    h.run(6500);
    const stats = h.sender.stats();
    assert.ok(stats.pacer.dropped > 0, JSON.stringify(stats));
    assert.equal(stats.switches, 0);
    // After each drop, the next media packet is a keyframe's first (live: no replay on this path).
    const sent = media(h.writer.sent).filter((p) => p.at >= 3000);
    const resumes = sent.filter((p, i) => i > 0 && p.frame > sent[i - 1]!.frame + 1);
    assert.ok(resumes.length > 0);
    assert.ok(resumes.every((p) => p.keyframeStart && p.live), JSON.stringify(resumes.map((p) => [p.at, p.frame])));
    // The viewer's timeline jumps by the frames dropped, as if they had been lost live: what it shows next is
    // in step with the source, not held back by the time the backlog took (Chromium froze seconds on that).
    for (const resume of resumes) {
      const before = sent[sent.indexOf(resume) - 1]!;
      const advanced = ((resume.timestamp - before.timestamp) >>> 0) / 3000; // in frames of 33 ms (90 kHz)
      const skipped = resume.frame - before.frame;
      assert.ok(Math.abs(advanced - skipped) <= 1.5, `frame ${before.frame} → ${resume.frame}: the timeline advanced ${advanced.toFixed(1)} frames`);
    }
    assertContinuous(h);
  });

  test('stop(): nothing more is sent and every rung lets go of the viewer', (t) => {
    const h = harness(t, { startBitrate: 1_000_000 });
    h.start();
    h.run(1000);
    h.sender.stop();
    h.sender.stop();
    const count = h.writer.sent.length;
    h.run(500);
    assert.equal(h.writer.sent.length, count);
    assert.ok(h.source.streams.every((stream) => stream.track.bindingCount === 0));
  });
});
