import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import compress from 'koa-compress';
import type { Broadcast } from '../lib/session/broadcast.ts';
import { SignalingError } from '../lib/errors.ts';
import type { ResolvedOptions } from '../options/option-table.ts';
import type { IceServer } from '../lib/types.ts';
import type { Views } from './views.ts';
import { corsFor } from './whep.ts';

export interface RouteDependencies {
  broadcast: Broadcast;
  views: Views;
  iceServers: IceServer[];
  /** Largest signaling body in bytes: an offer is a few KB of SDP. */
  bodyLimit: number;
  /** Whether `GET /stats` is served, or the guard deciding per request. */
  stats: ResolvedOptions['stats'];
  corsOrigins: ResolvedOptions['corsOrigins'];
  jitterBufferTarget: number | undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function requireJson(ctx: Context, next: Next) {
  if (!ctx.is('application/json')) {
    throw new SignalingError(415, 'send the offer as Content-Type: application/json, body {"sdp": "...", "type": "offer"}');
  }
  return next();
}

/** The session id from `{id}` as JSON, as text holding that JSON (sendBeacon), or as a form field. */
function sessionIdOf(body: unknown): string | undefined {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  return isObject(value) && typeof value.id === 'string' && value.id !== '' ? value.id : undefined;
}

/**
 * vidgear WebGear_RTC's routes: `GET /` (player page), `POST /offer` (JSON offer → JSON answer),
 * `POST /close_connection` (ends the caller's own session). Users add their own to the same router.
 */
export function addDefaultRoutes(router: Router, deps: RouteDependencies): void {
  const { broadcast, views, iceServers, bodyLimit } = deps;
  // Compressed (where the browser takes it): with the player inline the page is ~15 kB, past TCP's first
  // window (10 segments, ~14 kB), and its last bytes came a round trip later; compressed, ~5 kB.
  router.get('index', '/', compress(), (ctx) => {
    const base = views.basePath(ctx);
    views.render(ctx, 'index.html', {
      config: {
        whepUrl: `${base}/whep`,
        offerUrl: `${base}/offer`,
        closeUrl: `${base}/close_connection`,
        iceServers,
        jitterBufferTarget: deps.jitterBufferTarget ?? null,
      },
    });
  });

  router.post(
    'offer',
    '/offer',
    requireJson,
    bodyParser({ enableTypes: ['json'], jsonLimit: bodyLimit }),
    async (ctx) => {
      const offer: unknown = ctx.request.body;
      if (!isObject(offer)) throw new SignalingError(400, 'the body must be a JSON object {"sdp": "...", "type": "offer"}');
      if (typeof offer.sdp !== 'string' || offer.sdp.trim() === '') {
        throw new SignalingError(400, '"sdp" must be a non-empty string holding the offer SDP');
      }
      if (offer.type !== 'offer') {
        throw new SignalingError(400, `"type" must be "offer" (got ${JSON.stringify(offer.type ?? null)})`);
      }
      const { id, viewerId, answer } = await broadcast.connect({ sdp: offer.sdp, type: 'offer' }, { signaling: 'offer', address: ctx.ip });
      // vidgear's client reads {sdp, type}; `id` lets this page end its own session later (keep it
      // secret: it is the key to that), `viewer` is its public name in /stats.
      ctx.body = { sdp: answer.sdp, type: answer.type, id, viewer: viewerId };
    },
  );

  if (deps.stats !== false) {
    const guard = deps.stats;
    const allowCors = corsFor(deps.corsOrigins, null);
    // A cross-origin GET with a header of its own (a key for the guard) is preflighted first.
    router.options('/stats', allowCors, (ctx) => {
      ctx.status = 204;
    });
    router.get('stats', '/stats', allowCors, async (ctx) => {
      if (typeof guard === 'function' && !(await guard(ctx))) throw new SignalingError(403, 'not allowed to read stats');
      ctx.set('Cache-Control', 'no-store');
      ctx.body = broadcast.stats();
    });
  }

  router.post(
    'close_connection',
    '/close_connection',
    bodyParser({ enableTypes: ['json', 'text', 'form'], jsonLimit: '4kb', textLimit: '4kb', formLimit: '4kb' }),
    async (ctx) => {
      const id = sessionIdOf(ctx.request.body);
      if (id === undefined) {
        throw new SignalingError(400, 'send {"id": "<the id /offer answered>"} to end that session');
      }
      if (!(await broadcast.disconnect(id))) throw new SignalingError(404, 'no session has that id');
      ctx.body = { closed: id };
    },
  );
}
