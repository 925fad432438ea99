/**
 * The link probe's summary: decoded frames per second over the span its stats samples cover. Divided by the
 * window's own length instead, a steady 29 fps read as 27.7–29.7 depending on where the 500 ms samples fell
 * against the window's edges (a CI run failed the clean link's "≥ 28 fps decoded" at 27.7).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { summarize, type InboundSample, type RawProbe } from '../../support/links/probe.ts';

const FPS = 29;

/** A page decoding exactly FPS frames a second, sampled every 500 ms from `phaseMs`. */
function steadyProbe(phaseMs: number): RawProbe {
  const stats: InboundSample[] = [];
  for (let at = phaseMs; at <= 30_000; at += 500) {
    stats.push({
      at, packetsReceived: 0, packetsLost: 0, nackCount: 0, pliCount: 0, firCount: 0, framesReceived: 0,
      framesDecoded: Math.floor((at * FPS) / 1000), keyFramesDecoded: 0, framesDropped: 0, bytesReceived: 0,
      jitterBufferDelay: 0, jitterBufferEmittedCount: 0, freezeCount: 0, totalFreezesDuration: 0, frameWidth: 0,
      frameHeight: 0, roundTripTimeMs: 0,
    });
  }
  const frames: RawProbe['frames'] = [];
  for (let i = 0; (i * 1000) / FPS <= 30_000; i++) frames.push([(i * 1000) / FPS, i, 1280, 720]);
  return { marks: { frame: 0 }, frames, stats, said: [], now: 30_000 };
}

test('decoded fps is the decoded frames over the time the samples span, wherever the samples fall', () => {
  for (const phaseMs of [0, 50, 250, 499]) {
    // A window starting just after a sample and ending just before one: 20.5 s of window, 20 s of samples.
    const report = summarize(steadyProbe(phaseMs), phaseMs + 1, phaseMs + 20_499);
    assert.ok(Math.abs(report.decodedFps - FPS) < 0.1, `phase ${phaseMs} ms: ${report.decodedFps.toFixed(2)} fps decoded`);
    assert.ok(Math.abs(report.fps - FPS) < 0.1, `phase ${phaseMs} ms: ${report.fps.toFixed(2)} fps presented`);
  }
});
