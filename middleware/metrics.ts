/** `GET /metrics`: the instance's prom-client registry in Prometheus text format (the `metrics` option). */
import type Router from '@koa/router';
import type { Registry } from 'prom-client';
import { SignalingError } from '../lib/errors.ts';
import type { ResolvedOptions } from '../options/option-table.ts';

export interface MetricsRouteDependencies {
  registry: Registry;
  /** Whether `GET /metrics` is served, or the guard deciding per request. */
  metrics: ResolvedOptions['metrics'];
}

export function addMetricsRoute(router: Router, { registry, metrics }: MetricsRouteDependencies): void {
  if (metrics === false) return;
  router.get('metrics', '/metrics', async (ctx) => {
    if (typeof metrics === 'function' && !(await metrics(ctx))) throw new SignalingError(403, 'not allowed to read metrics');
    ctx.set('Cache-Control', 'no-store');
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });
}
