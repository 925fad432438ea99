/**
 * One instance's metrics, in its own prom-client registry (several instances in one app never share one):
 * the source, the viewers, what they were sent, the WHIP push. Every value is read from the same stats as
 * `/stats` when the registry is collected (one reading per scrape); counters count since the start, viewers
 * who left included.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { BroadcastStats, ViewerTotals } from '../session/broadcast.ts';
import type { PublishState } from '../publish/publisher.ts';
import type { ViewerState } from '../session/viewer.ts';
import type { VideoSourceState } from '../source/video-source.ts';

/** What the metrics read: the stats, and the viewers' totals for them. */
export interface MetricsSource {
  stats(): BroadcastStats;
  viewerTotals(current: BroadcastStats['viewers']): ViewerTotals;
}

export const SOURCE_STATES: readonly VideoSourceState[] = ['idle', 'starting', 'running', 'restarting', 'waiting', 'ended', 'failed', 'closed'];
export const VIEWER_STATES: readonly ViewerState[] = ['connecting', 'connected', 'disconnected', 'closed'];
export const PUBLISH_STATES: readonly PublishState[] = ['starting', 'connecting', 'connected', 'retrying', 'closed'];

const PREFIX = 'webgear_rtc_';

interface Reading {
  stats: BroadcastStats;
  totals: ViewerTotals;
}

/** A registry whose metrics follow `source`'s stats; the WHIP push's only when `publishing`. */
export function createBroadcastMetrics(source: MetricsSource, { publishing }: { publishing: boolean }): Registry {
  const registry = new Registry();
  // One reading per scrape: every metric's collect() runs in the same turn of the event loop.
  let reading: Reading | undefined;
  const read = (): Reading => {
    if (!reading) {
      const stats = source.stats();
      reading = { stats, totals: source.viewerTotals(stats.viewers) };
      setImmediate(() => {
        reading = undefined;
      });
    }
    return reading;
  };
  const registers = [registry];

  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], collect: (gauge: Gauge<L>, now: Reading) => void) =>
    new Gauge<L>({ name: PREFIX + name, help, labelNames, registers, collect() { this.reset(); collect(this, read()); } });
  const counter = (name: string, help: string, value: (now: Reading) => number | undefined) =>
    new Counter({ name: PREFIX + name, help, registers, collect() { this.reset(); this.inc(value(read()) ?? 0); } });
  /** One series per state, 1 for the current one (a Prometheus "state set"). */
  const stateSet = <S extends string>(name: string, help: string, states: readonly S[], current: (now: Reading) => S | undefined) =>
    gauge(name, help, ['state'], (metric, now) => {
      const state = current(now);
      for (const each of states) metric.set({ state: each }, each === state ? 1 : 0);
    });

  stateSet('source_state', 'The source: 1 for its current state', SOURCE_STATES, ({ stats }) => stats.source.state);
  gauge('source_frames_per_second', 'Frames per second the source delivered over the last second (the top rendition)', [], (metric, { stats }) => metric.set(stats.source.framesPerSecond));
  gauge('source_bitrate_bits_per_second', 'Bits per second the source delivered over the last second (the top rendition)', [], (metric, { stats }) => metric.set(stats.source.bitrate));
  counter('source_restarts_total', 'Times the source (ffmpeg) was started again after a failure', ({ stats }) => stats.source.restarts);
  counter('source_packets_total', 'RTP packets the source delivered (the top rendition)', ({ stats }) => stats.source.packets);
  counter('source_bytes_total', 'Bytes the source delivered (the top rendition)', ({ stats }) => stats.source.bytes);
  gauge('rendition_bitrate_bits_per_second', 'Bits per second each rendition delivered over the last second (0: the top)', ['rendition', 'height'], (metric, { stats }) => {
    stats.source.renditions.forEach((rendition, index) => metric.set({ rendition: String(index), height: String(rendition.height ?? '') }, rendition.bitrate));
  });
  gauge('rendition_frames_per_second', 'Frames per second each rendition delivered over the last second (0: the top)', ['rendition'], (metric, { stats }) => {
    stats.source.renditions.forEach((rendition, index) => metric.set({ rendition: String(index) }, rendition.framesPerSecond));
  });

  gauge('viewers', 'Viewers now, by state', ['state'], (metric, { stats }) => {
    for (const state of VIEWER_STATES) metric.set({ state }, stats.viewers.filter((viewer) => viewer.state === state).length);
  });
  gauge('viewers_by_rendition', 'Connected viewers now, by the rendition they get (0: the top)', ['rendition'], (metric, { stats }) => {
    const renditions = Math.max(1, stats.source.renditions.length);
    for (let index = 0; index < renditions; index++) {
      metric.set({ rendition: String(index) }, stats.viewers.filter((viewer) => viewer.state === 'connected' && (viewer.video?.rendition ?? 0) === index).length);
    }
  });
  counter('viewers_total', 'Viewers that joined since the start', ({ totals }) => totals.viewers);
  counter('sent_packets_total', 'RTP packets sent to viewers (video and audio, retransmissions included)', ({ totals }) => totals.packetsSent);
  counter('sent_bytes_total', 'Bytes sent to viewers', ({ totals }) => totals.bytesSent);
  counter('nacks_total', 'NACKs viewers sent (lost packets they asked for again)', ({ totals }) => totals.nackCount);
  counter('plis_total', 'Picture loss indications viewers sent (each answered with the GOP)', ({ totals }) => totals.pliCount);

  gauge('event_loop_delay_seconds', "The event loop's median delay over the last second (what admission reads)", [], (metric, { stats }) => metric.set(stats.load.eventLoopDelayMs / 1000));
  gauge('event_loop_utilization', 'Share of the last second the event loop was busy, 0-1', [], (metric, { stats }) => metric.set(stats.load.eventLoopUtilization));
  gauge('overloaded', '1 while the process is at capacity (maxEventLoopDelay): new viewers are refused, or wait in the join queue while joins are under way', [], (metric, { stats }) => metric.set(stats.load.overloaded ? 1 : 0));

  if (!publishing) return registry;
  stateSet('publish_state', 'The WHIP push (publish option): 1 for its current state', PUBLISH_STATES, ({ stats }) => stats.publish?.state);
  counter('publish_restarts_total', 'WHIP sessions offered again after the first', ({ stats }) => stats.publish?.restarts);
  counter('publish_sent_packets_total', 'RTP packets sent to the WHIP endpoint', ({ stats }) => stats.publish?.packetsSent);
  counter('publish_sent_bytes_total', 'Bytes sent to the WHIP endpoint', ({ stats }) => stats.publish?.bytesSent);
  gauge('publish_estimate_bits_per_second', "The WHIP endpoint's link as estimated from its transport-wide feedback (0: no estimate)", [], (metric, { stats }) => {
    metric.set(stats.publish?.estimate ?? 0);
  });
  return registry;
}
