/**
 * `GET /metrics` (`metrics` option): prom-client's Prometheus text format, parsed as such by a parser of
 * its own (parse-prometheus-text-format), each value checked against `/stats` read around it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Koa from 'koa';
import parsePrometheus, { type ParsedFamily } from 'parse-prometheus-text-format';
import { webgearRtc } from 'webgear-rtc';
import type { BroadcastStats } from '../../lib/session/broadcast.ts';
import { connectWeriftViewer, startServer, tempDir, testOptions, waitFor, type WeriftViewer } from './helpers.ts';

type Metrics = Map<string, ParsedFamily>;

async function scrape(url: string): Promise<Metrics> {
  const response = await fetch(url);
  assert.equal(response.status, 200, await response.clone().text());
  assert.match(response.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheus(await response.text());
  return new Map(families.map((family) => [family.name, family]));
}

/** The value of `name` with `labels` (all of them), as a number. */
function value(metrics: Metrics, name: string, labels: Record<string, string> = {}): number {
  const family = metrics.get(name);
  assert.ok(family, `${name} is there`);
  const series = family.metrics.find((metric) => Object.entries(labels).every(([key, wanted]) => metric.labels?.[key] === wanted));
  assert.ok(series, `${name}${JSON.stringify(labels)} is there`);
  return Number(series.value);
}

const stats = async (url: string) => (await (await fetch(`${url}/stats`)).json()) as BroadcastStats;
const between = (actual: number, low: number, high: number, what: string) =>
  assert.ok(actual >= low && actual <= high, `${what}: ${actual} within [${low}, ${high}]`);

describe('GET /metrics', { timeout: 60_000 }, () => {
  test('source, renditions, viewers by state and rendition, what they were sent: as /stats says', async () => {
    const data = tempDir();
    const server = await startServer(testOptions(data.path, { resolution: [640, 360], metrics: true }));
    const viewers: WeriftViewer[] = [];
    try {
      for (let i = 0; i < 3; i++) viewers.push(await connectWeriftViewer(`${server.url}/offer`));
      await Promise.all(viewers.map((viewer) => viewer.connected));
      assert.ok(await waitFor(() => viewers.every((viewer) => viewer.frames >= 30), 10_000), 'all get frames');
      // One leaves: what it was sent still counts.
      const leaving = (await stats(server.url)).viewers.find((viewer) => viewer.id === viewers[0]!.publicId)!;
      await fetch(`${server.url}/close_connection`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: viewers[0]!.id }) });
      await viewers.shift()!.close();
      assert.ok(await waitFor(async () => (await stats(server.url)).viewers.length === 2, 5_000));

      const before = await stats(server.url);
      const metrics = await scrape(`${server.url}/metrics`);
      const after = await stats(server.url);

      for (const family of metrics.values()) assert.match(family.name, /^webgear_rtc_/);
      assert.equal(metrics.get('webgear_rtc_sent_packets_total')!.type, 'COUNTER');
      assert.equal(metrics.get('webgear_rtc_viewers')!.type, 'GAUGE');
      assert.equal(value(metrics, 'webgear_rtc_source_state', { state: 'running' }), 1);
      assert.equal(value(metrics, 'webgear_rtc_source_state', { state: 'failed' }), 0);
      assert.equal(value(metrics, 'webgear_rtc_source_restarts_total'), after.source.restarts);
      between(value(metrics, 'webgear_rtc_source_frames_per_second'), Math.min(before.source.framesPerSecond, after.source.framesPerSecond) - 1,
        Math.max(before.source.framesPerSecond, after.source.framesPerSecond) + 1, 'fps');
      between(value(metrics, 'webgear_rtc_source_packets_total'), before.source.packets, after.source.packets, 'source packets');
      const renditions = metrics.get('webgear_rtc_rendition_bitrate_bits_per_second')!.metrics;
      assert.deepEqual(renditions.map((series) => series.labels), after.source.renditions.map((rendition, index) => ({ rendition: String(index), height: String(rendition.height) })));

      assert.equal(value(metrics, 'webgear_rtc_viewers', { state: 'connected' }), 2);
      assert.equal(value(metrics, 'webgear_rtc_viewers', { state: 'connecting' }), 0);
      const byRendition = metrics.get('webgear_rtc_viewers_by_rendition')!.metrics;
      assert.equal(byRendition.length, after.source.renditions.length);
      for (const series of byRendition) {
        const index = Number(series.labels!.rendition);
        assert.equal(Number(series.value), after.viewers.filter((viewer) => (viewer.video?.rendition ?? 0) === index).length, `rendition ${index}`);
      }
      assert.equal(value(metrics, 'webgear_rtc_viewers_total'), 3);
      const sent = (list: BroadcastStats['viewers'], key: 'packetsSent' | 'bytesSent' | 'nackCount' | 'pliCount') =>
        list.reduce((sum, viewer) => sum + viewer[key], 0);
      between(value(metrics, 'webgear_rtc_sent_packets_total'), leaving.packetsSent + sent(before.viewers, 'packetsSent'),
        leaving.packetsSent + 1_000 + sent(after.viewers, 'packetsSent'), 'packets sent, the viewer who left included');
      between(value(metrics, 'webgear_rtc_sent_bytes_total'), leaving.bytesSent + sent(before.viewers, 'bytesSent'),
        leaving.bytesSent + 1_000_000 + sent(after.viewers, 'bytesSent'), 'bytes sent');
      assert.ok(value(metrics, 'webgear_rtc_plis_total') >= sent(before.viewers, 'pliCount'));
      assert.equal(value(metrics, 'webgear_rtc_overloaded'), after.load.overloaded ? 1 : 0);
      between(value(metrics, 'webgear_rtc_event_loop_utilization'), 0, 1, 'event loop utilization');
      assert.equal(metrics.has('webgear_rtc_publish_state'), false, 'no publish metrics without publish');
    } finally {
      await Promise.all(viewers.map((viewer) => viewer.close()));
      await server.close();
      data.cleanup();
    }
  });

  test('off by default (the path is the app\'s); a guard answers 403; two instances keep their own registries', async () => {
    const data = tempDir();
    const app = new Koa();
    app.silent = true;
    const common = { source: 'testsrc', customDataLocation: data.path, iceServers: [] };
    const front = webgearRtc({ ...common, prefix: '/front', metrics: (ctx) => ctx.get('x-scraper') === 'prometheus' });
    const back = webgearRtc({ ...common, prefix: '/back', metrics: true });
    const plain = webgearRtc({ ...common });
    app.use(front).use(back).use(plain).use((ctx) => {
      ctx.body = 'the app';
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      assert.equal(await (await fetch(`${url}/metrics`)).text(), 'the app', 'metrics: false leaves /metrics to the app');
      const refused = await fetch(`${url}/front/metrics`);
      assert.equal(refused.status, 403);
      assert.equal(await refused.text(), 'not allowed to read metrics');
      const frontMetrics = parsePrometheus(await (await fetch(`${url}/front/metrics`, { headers: { 'x-scraper': 'prometheus' } })).text());
      const backMetrics = parsePrometheus(await (await fetch(`${url}/back/metrics`)).text());
      assert.deepEqual(frontMetrics.map((family) => family.name), backMetrics.map((family) => family.name), 'the same metrics, each in its registry');
      assert.notEqual(front.registry, back.registry);
      assert.match(await back.registry.metrics(), /^webgear_rtc_viewers\{state="connected"\} 0$/m, 'rtc.registry is what /metrics serves');
    } finally {
      await Promise.all([front.close(), back.close(), plain.close()]);
      server.closeAllConnections();
      server.close();
      data.cleanup();
    }
  });
});
