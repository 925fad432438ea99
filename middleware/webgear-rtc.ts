import Router from '@koa/router';
import type { Context, Middleware, Next, ParameterizedContext } from 'koa';
import compose from 'koa-compose';
import mount from 'koa-mount';
import serve from 'koa-static';
import compress from 'koa-compress';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { createBroadcastMetrics } from '../lib/metrics/broadcast-metrics.ts';
import { Broadcast, type BroadcastStats } from '../lib/session/broadcast.ts';
import { DEFAULT_THEME_DIR, prepareDataFiles } from './data-files.ts';
import { resolveFfmpegPath } from '../lib/source/ffmpeg/ffmpeg-path.ts';
import { createLogger } from '../lib/logger.ts';
import { assertWeriftPatched } from '../lib/werift/werift-patches.ts';
import { installedWeriftVersion, WERIFT_VERSION } from '../lib/werift/werift-version.ts';
import { SignalingError } from '../lib/errors.ts';
import { resolveOptions } from '../options/resolve-options.ts';
import type { WebGearRtcOptions } from '../options/option-table.ts';
import { renderNotFound, renderServerError, statusOf } from './error-pages.ts';
import { addDefaultRoutes } from './routes.ts';
import { addMetricsRoute } from './metrics.ts';
import { addWhepRoutes, allowCrossOriginError } from './whep.ts';
import { addWhipRoutes } from './whip.ts';
import { createViews } from './views.ts';
import { requestBasePath } from './base-path.ts';

/** The middleware `webgearRtc()` returns: use it with `app.use()`, extend it, close it. */
export interface WebGearRtc extends Middleware {
  /**
   * The @koa/router instance serving `/`, `/offer`, `/close_connection`, `/whep`, `/stats` (and `/whip`,
   * `/publish` for a `'whip'` source): add your own routes to it.
   */
  readonly router: Router;
  /** True once `close()` was called. */
  readonly closed: boolean;
  /** Renders a template of the theme (yours first, then the defaults) into `ctx.body`, with `url_for` & co. */
  render(ctx: Context, template: string, locals?: Record<string, unknown>): void;
  /** The source's state, the viewers and the WHIP push (`publish`), as plain data. */
  stats(): BroadcastStats;
  /**
   * This instance's prom-client registry: what `GET /metrics` serves (`metrics` option). Yours to serve
   * elsewhere, or to add to (`collectDefaultMetrics({ register: rtc.registry })`).
   */
  readonly registry: Registry;
  /** Stops ffmpeg and every peer connection; later requests get 503. Idempotent. */
  close(): Promise<void>;
  /** Alias of `close()` (vidgear's `shutdown()`). */
  shutdown(): Promise<void>;
  /** `'error'`: the source failed (ffmpeg died or could not read it); it is retried with backoff. */
  on(event: 'error', listener: (error: Error) => void): WebGearRtc;
  off(event: 'error', listener: (error: Error) => void): WebGearRtc;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * What a viewer's link is taken to carry before its browser's first feedback: it starts on the best
 * rendition under this (360p of a 720p source) and probes up from there within a second or two.
 */
const START_BITRATE = 1_000_000;

/** Routes whose errors are answered as JSON `{error}` rather than as pages. */
const JSON_PATHS = new Set(['/offer', '/close_connection', '/stats']);
/** WHEP (viewers) and WHIP (a publisher, for a `'whip'` source): callable from other sites. */
const isWhepPath = (path: string): boolean =>
  path === '/whep' || path.startsWith('/whep/') || path === '/whip' || path.startsWith('/whip/');
/** Routes whose errors are plain text (their clients are programs): WHEP, WHIP and the Prometheus scrape. */
const isTextPath = (path: string): boolean => isWhepPath(path) || path === '/metrics';
/** Paths other sites may call (CORS): WHEP, WHIP and stats. */
const isCrossOriginApi = (path: string): boolean => isWhepPath(path) || path === '/stats';
/** How an error on this path is answered: WHEP clients read plain text, ours JSON, people pages. */
const errorStyle = (path: string): 'json' | 'text' | 'page' =>
  JSON_PATHS.has(path) ? 'json' : isTextPath(path) ? 'text' : 'page';

/**
 * Streams one source to every browser over WebRTC, as one Koa middleware.
 *
 * @example
 * const app = new Koa();
 * const rtc = webgearRtc({ source: 'testsrc' });
 * app.use(rtc);                       // or app.use(mount('/cam', rtc)), or webgearRtc({ prefix: '/cam', … })
 * const server = app.listen(8000);
 * process.once('SIGTERM', async () => { await rtc.close(); server.close(); });
 */
export function webgearRtc(options: WebGearRtcOptions): WebGearRtc {
  const settings = resolveOptions(options);
  const logger = createLogger(settings.logging, settings.logger);
  const dataFiles = prepareDataFiles({
    customDataLocation: settings.customDataLocation,
    overwriteDefaultFiles: settings.overwriteDefaultFiles,
    logger,
  });
  const ffmpegPath = resolveFfmpegPath(settings.ffmpegPath);
  assertWeriftPatched();
  const werift = installedWeriftVersion();
  if (werift !== WERIFT_VERSION) {
    logger.warn(`werift ${werift} is installed; this release of webgear-rtc is checked against werift ${WERIFT_VERSION}`);
  }

  const broadcast = new Broadcast(
    { ...settings, ffmpegPath, startBitrate: START_BITRATE, maxConnecting: settings.maxConnecting ?? settings.maxViewers },
    logger,
  );
  const router = new Router();
  // Folder by folder, file by file: the `templates`/`static` options, then the data folder, then the package.
  const staticDirs = [...settings.static, dataFiles.staticDir, join(DEFAULT_THEME_DIR, 'static')];
  const views = createViews([...settings.templates, dataFiles.templatesDir], staticDirs, router, settings.basePath);
  addDefaultRoutes(router, { broadcast, views, ...settings });
  addWhepRoutes(router, { broadcast, views, ...settings });
  if (settings.source.kind === 'whip') addWhipRoutes(router, { broadcast, views, ...settings });
  const registry = createBroadcastMetrics(broadcast, { publishing: settings.publish !== undefined });
  addMetricsRoute(router, { registry, metrics: settings.metrics });

  // koa-static serves `ctx.path`, so under koa-mount it sees `/css/x.css`. The package's own static
  // folder comes last so a theme folder missing a file still works. Options objects are not
  // shared: koa-static mutates them.
  const ownRoutes = compose<ParameterizedContext>([
    mount('/static', compose([compress(), ...staticDirs.map((dir) => serve(dir, { index: false }))])),
    router.routes() as Middleware,
    router.allowedMethods() as Middleware,
  ]);
  const isOwnPath = (ctx: Context): boolean =>
    ctx.path.startsWith('/static/') || router.match(ctx.path, ctx.method).path.length > 0;

  let closed = false;

  const handler = async function webgearRtc(ctx: Context, next: Next): Promise<void> {
    if (closed) {
      if (!isOwnPath(ctx)) return passOn(ctx, next);
      ctx.status = 503;
      if (errorStyle(ctx.path) === 'page') ctx.body = { error: 'webgear-rtc is closed' };
      else respondWithMessage(ctx, 'webgear-rtc is closed');
      if (isCrossOriginApi(ctx.path)) allowCrossOriginError(ctx, settings.corsOrigins);
      return;
    }
    let unmatched = false;
    try {
      // A CORS preflight carries no credentials: it is never guarded (a plain OPTIONS is).
      const preflight = ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method') !== '';
      if (settings.authorize && !preflight && isOwnPath(ctx) && !(await settings.authorize(ctx))) {
        throw new SignalingError(403, 'not authorized');
      }
      // Our stack ends in a no-op, never in the host's `next`: host errors and 404s must not pass
      // through this try/catch and come out as our pages.
      await ownRoutes(ctx, async () => {
        unmatched = true;
      });
    } catch (error) {
      respondWithError(ctx, error);
      return;
    }
    if (unmatched && ctx.status === 404 && ctx.body == null) {
      if (!isOwnPath(ctx)) return passOn(ctx, next);
      renderNotFound(ctx, views);
    }
    if (ctx.status === 405 && ctx.body == null) {
      respondWithMessage(ctx, `method ${ctx.method} is not allowed here; use ${ctx.response.get('Allow')}`);
    }
    ctx.set('X-Content-Type-Options', 'nosniff');
  };

  /**
   * A path that is not ours goes on to the host's middleware, outside our error handling. Mounted
   * (koa-mount or `prefix`), the subtree is ours too, but the host may have more routes in it (a sub-app
   * with the player at its root and its own pages after it): what nothing downstream answered gets our
   * 404 page. At the root, the host's 404 stays the host's.
   */
  async function passOn(ctx: Context, next: Next): Promise<void> {
    const mounted = requestBasePath(ctx) !== '';
    await next();
    if (mounted && ctx.status === 404 && ctx.body == null) {
      renderNotFound(ctx, views);
      ctx.set('X-Content-Type-Options', 'nosniff');
    }
  }

  function respondWithError(ctx: Context, error: unknown): void {
    const status = statusOf(error);
    ctx.set('X-Content-Type-Options', 'nosniff');
    if (isCrossOriginApi(ctx.path)) allowCrossOriginError(ctx, settings.corsOrigins);
    // A 4xx, or a 5xx we raised on purpose (503: full, closed), is an answer; anything else is a bug.
    const isAnswer = status < 500 || (error as { expose?: unknown }).expose === true;
    if (!isAnswer) {
      // We handled it, so Koa will not: tell the host's app.on('error') (Koa's default one logs it).
      ctx.app.emit('error', error, ctx);
      if (errorStyle(ctx.path) !== 'page') {
        ctx.status = 500;
        respondWithMessage(ctx, 'internal server error');
      } else {
        renderServerError(ctx, views, error, settings.logging);
      }
      return;
    }
    ctx.status = status;
    const headers = (error as { headers?: unknown }).headers;
    if (headers && typeof headers === 'object') ctx.set(headers as Record<string, string>);
    if (status === 404 && errorStyle(ctx.path) === 'page') {
      renderNotFound(ctx, views);
      return;
    }
    respondWithMessage(ctx, (error as Error)?.message ?? String(error));
  }

  /** JSON `{error}` for the signaling routes (their clients parse JSON), plain text elsewhere. */
  function respondWithMessage(ctx: Context, message: string): void {
    if (errorStyle(ctx.path) === 'json') {
      ctx.body = { error: message };
    } else {
      ctx.type = 'text';
      ctx.body = message;
    }
  }

  const middleware = (settings.prefix ? mount(settings.prefix, handler) : handler) as Middleware;

  const close = async (): Promise<void> => {
    closed = true;
    await broadcast.close();
  };

  broadcast.startPublishing();
  // defineProperty, not Object.assign: assign would copy the getter's value once instead of the getter.
  Object.defineProperty(middleware, 'closed', { get: () => closed, enumerable: true });
  return Object.assign(middleware, {
    router,
    registry,
    render: views.render,
    stats: () => broadcast.stats(),
    close,
    shutdown: close,
    [Symbol.asyncDispose]: close,
    on(event: 'error', listener: (error: Error) => void) {
      broadcast.on(event, listener);
      return this;
    },
    off(event: 'error', listener: (error: Error) => void) {
      broadcast.off(event, listener);
      return this;
    },
  }) as WebGearRtc;
}
