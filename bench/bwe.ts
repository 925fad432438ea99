/**
 * The bandwidth estimator's cost and its curves (not part of the tests): `node bench/bwe.ts`.
 *
 * - onPacketSent: ns per call over 10 M sends (medians of 7 runs);
 * - onFeedback: µs per feedback and ns per reported packet, Chromium-sized feedback (~20 packets) and
 *   large ones (~200), parsing included;
 * - the issue-17 scenarios on the simulated link (test/unit/support/link-simulator.ts): time to detect,
 *   steady estimate / capacity, time to recover.
 */
import { BandwidthEstimator } from '../lib/sender/bwe/bandwidth-estimator.ts';
import { parseTwccFeedback } from '../lib/sender/bwe/twcc-feedback.ts';
import { encodeTwcc } from '../test/unit/support/rtcp-builder.ts';
import { between, curve, firstTime, ratios, runScenario } from '../test/unit/support/link-simulator.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

function benchSend(): number {
  const runs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const bwe = new BandwidthEstimator({ startBitrate: 2.5e6, minBitrate: 1e5, maxBitrate: 5e6 });
    const n = 10_000_000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) bwe.onPacketSent(i & 0xffff, 1200, i * 0.4);
    runs.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return median(runs);
}

function benchFeedback(perFeedback: number): { usPerFeedback: number; nsPerPacket: number } {
  const runs: number[] = [];
  const feedbacks = 5000;
  // Prebuilt feedback bytes for consecutive packets: 1 ms apart, 1 % lost.
  const bytes: Buffer[] = [];
  for (let f = 0; f < feedbacks; f++) {
    const packets = Array.from({ length: perFeedback }, (_, i) => {
      const seq = f * perFeedback + i;
      return { sequence: seq & 0xffff, arrivalUs: seq % 100 === 37 ? undefined : 10_000_000 + seq * 1000 + 20_000 };
    });
    bytes.push(encodeTwcc(packets, f)!);
  }
  for (let r = 0; r < 7; r++) {
    const bwe = new BandwidthEstimator({ startBitrate: 2.5e6, minBitrate: 1e5, maxBitrate: 5e6 });
    let elapsed = 0n;
    for (let f = 0; f < feedbacks; f++) {
      for (let i = 0; i < perFeedback; i++) {
        const seq = f * perFeedback + i;
        bwe.onPacketSent(seq & 0xffff, 1200, seq);
      }
      const t0 = process.hrtime.bigint();
      const fb = parseTwccFeedback(bytes[f]!);
      bwe.onFeedback(fb!, (f + 1) * perFeedback + 20);
      elapsed += process.hrtime.bigint() - t0;
    }
    runs.push(Number(elapsed) / feedbacks);
  }
  const ns = median(runs);
  return { usPerFeedback: ns / 1000, nsPerPacket: ns / perFeedback };
}

const k = (bps: number) => `${Math.round(bps / 1000)}k`;
const pct = (r: { min: number; median: number; max: number }) => `${r.min.toFixed(2)} / ${r.median.toFixed(2)} / ${r.max.toFixed(2)}`;

console.log(`onPacketSent: ${benchSend().toFixed(1)} ns per call (median of 7 × 10 M)`);
for (const n of [20, 200]) {
  const r = benchFeedback(n);
  console.log(`onFeedback (parse included), ${n} packets: ${r.usPerFeedback.toFixed(1)} µs per feedback, ${r.nsPerPacket.toFixed(0)} ns per packet`);
}

console.log('\nScenarios (40 ms RTT, 100 ms drop-tail queue, feedback every 50–100 ms); estimate/capacity min / median / max over 3–25 s:');
for (const sender of ['follow', 'ladder'] as const) {
  for (const capacity of [1_500_000, 800_000, 300_000]) {
    const r = runScenario({ durationMs: 25_000, capacity: () => capacity, sender, seed: 1 });
    const detect = firstTime(r.samples, 0, (s) => s.estimate.bitrate < capacity);
    console.log(`  ${sender} 2.5M → ${k(capacity)} link: below capacity after ${detect} ms, ratio ${pct(ratios(between(r.samples, 3000, 25_000)))}, probes ${r.probes} (${r.probeFailures} saturated), switches ${r.switches}`);
    console.log(`    ${curve(r.samples, 2000)}`);
  }
  for (const [loss, cap] of [[0.02, 20e6], [0.05, 3e6]] as const) {
    const r = runScenario({ durationMs: 25_000, capacity: () => cap, lossRate: loss, sender, seed: 1 });
    const later = between(r.samples, 1000, 25_000).map((s) => s.estimate.bitrate);
    console.log(`  ${sender} ${loss * 100} % loss, ${k(cap)} link: estimate ${k(Math.min(...later))}–${k(Math.max(...later))} after 1 s`);
  }
  const lift = runScenario({ durationMs: 35_000, capacity: (t) => (t >= 5000 && t < 20_000 ? 800_000 : 20e6), sender, seed: 1 });
  const down = firstTime(lift.samples, 5000, (s) => s.estimate.bitrate < 800_000);
  const up = firstTime(lift.samples, 20_000, (s) => s.estimate.bitrate > 2_500_000);
  const media = firstTime(lift.samples, 20_000, (s) => s.mediaRate >= 2_500_000);
  console.log(`  ${sender} 800k from 5 s to 20 s: below 800k after ${down! - 5000} ms; above 2.5M ${up === undefined ? 'not within 15 s' : `${up - 20_000} ms`} after the lift (media on the top rung after ${media === undefined ? '—' : `${media - 20_000} ms`}), probes ${lift.probes} (${lift.probeFailures} saturated)`);
  console.log(`    ${curve(lift.samples, 2000)}`);
}
{
  const r = runScenario({ durationMs: 25_000, capacity: () => 3e6, lossRate: 0.05, sender: 'follow', ladder: [5e6, 800e3, 250e3], maxBitrate: 6e6, seed: 1 });
  console.log(`  follow up to 5M, 5 % loss, 3M link: ratio ${pct(ratios(between(r.samples, 3000, 25_000)))}`);
}
