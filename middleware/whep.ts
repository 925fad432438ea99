import { bodyParser } from '@koa/bodyparser';
import cors from '@koa/cors';
import type Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import type { Broadcast } from '../lib/session/broadcast.ts';
import { SignalingError } from '../lib/errors.ts';
import { parseIceFragment } from '../lib/session/ice-fragment.ts';
import type { ResolvedOptions } from '../options/option-table.ts';
import type { IceServer } from '../lib/types.ts';
import type { Views } from './views.ts';

export interface WhepDependencies {
  broadcast: Broadcast;
  views: Views;
  iceServers: IceServer[];
  bodyLimit: number;
  corsOrigins: ResolvedOptions['corsOrigins'];
}

export const SDP = 'application/sdp';
export const TRICKLE = 'application/trickle-ice-sdpfrag';

/** `Link` header values announcing the ICE servers (WHEP §4.4: `rel="ice-server"`, TURN credentials as attributes). */
export function iceServerLinks(iceServers: IceServer[]): string[] {
  const quote = (value: string) => `"${value.replace(/["\\]/g, '\\$&')}"`;
  return iceServers.flatMap((server) =>
    (Array.isArray(server.urls) ? server.urls : [server.urls]).map((url) => {
      let link = `<${url}>; rel="ice-server"`;
      if (server.username !== undefined) link += `; username=${quote(server.username)}`;
      if (server.credential !== undefined) link += `; credential=${quote(server.credential)}; credential-type="password"`;
      return link;
    }),
  );
}

const EXPOSED_HEADERS = ['Location', 'ETag', 'Link', 'Accept-Post', 'Accept-Patch', 'Retry-After'];

/** The origin CORS allows for this request ('*', the request's own origin if listed), or '' for none. */
const allowedOrigin = (origins: ResolvedOptions['corsOrigins'], ctx: Context): string =>
  origins === '*' ? '*' : origins.includes(ctx.get('Origin')) ? ctx.get('Origin') : '';

/**
 * CORS for the WHEP endpoint and resources (and /stats): a player on another site reads Location, ETag and
 * Link. `allowHeaders` null allows whatever request headers the preflight names (a stats guard's key).
 */
export function corsFor(
  origins: ResolvedOptions['corsOrigins'],
  allowHeaders: string[] | null = ['Content-Type', 'If-Match', 'Authorization'],
): Middleware {
  return cors({
    origin: (ctx: Context) => allowedOrigin(origins, ctx),
    allowMethods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    ...(allowHeaders && { allowHeaders }),
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  }) as Middleware;
}

/**
 * CORS headers on a refusal made before the routes ran (`authorize`, closed): without them a player on
 * another site sees a failed fetch instead of the status.
 */
export function allowCrossOriginError(ctx: Context, origins: ResolvedOptions['corsOrigins']): void {
  const origin = allowedOrigin(origins, ctx);
  if (!origin || ctx.response.get('Access-Control-Allow-Origin')) return;
  ctx.set('Access-Control-Allow-Origin', origin);
  ctx.set('Access-Control-Expose-Headers', EXPOSED_HEADERS.join(','));
  ctx.vary('Origin');
}

/**
 * The headers a WHIP or WHEP endpoint and its resources describe themselves with: the endpoint takes SDP
 * (`Accept-Post`) and announces the ICE servers (`Link`), a resource takes trickled candidates
 * (`Accept-Patch`); and the empty answer to OPTIONS.
 */
export function resourceHeaders(links: string[]) {
  return {
    describeEndpoint: (ctx: Context, next: Next) => {
      ctx.set('Accept-Post', SDP);
      // Not on a CORS preflight: it is never guarded, and the links may hold TURN credentials.
      if (links.length > 0 && !ctx.get('Access-Control-Request-Method')) ctx.set('Link', links);
      return next();
    },
    describeResource: (ctx: Context, next: Next) => {
      ctx.set('Accept-Patch', TRICKLE);
      return next();
    },
    noContent: (ctx: Context) => {
      ctx.status = 204;
    },
  };
}

/** A 415 naming what to send, unless the request's body is `type`. */
export function requireType(type: string, example: string) {
  return (ctx: Context, next: Next) => {
    if (!ctx.is(type)) throw new SignalingError(415, `send ${example} as Content-Type: ${type}`);
    return next();
  };
}

/**
 * WHEP (draft-ietf-wish-whep): `POST /whep` with an SDP offer → 201, the answer, and the session's
 * resource in `Location`; `PATCH` it with trickled candidates; `DELETE` it to leave. Any WHEP player
 * works, from any allowed origin.
 */
export function addWhepRoutes(router: Router, deps: WhepDependencies): void {
  const { broadcast, views, iceServers, bodyLimit } = deps;
  const links = iceServerLinks(iceServers);
  const allowCors = corsFor(deps.corsOrigins);
  const { describeEndpoint, describeResource, noContent } = resourceHeaders(links);

  router.options('/whep', describeEndpoint, allowCors, noContent);
  // Discovery (newer draft text): HEAD/GET say what the endpoint takes, with no content.
  router.get('/whep', allowCors, describeEndpoint, (ctx) => {
    ctx.status = 200;
    ctx.body = '';
    ctx.type = SDP;
  });
  router.post(
    'whep',
    '/whep',
    allowCors,
    requireType(SDP, 'the SDP offer'),
    bodyParser({ enableTypes: ['text'], extendTypes: { text: [SDP] }, textLimit: bodyLimit }),
    async (ctx) => {
      const sdp = ctx.request.body;
      if (typeof sdp !== 'string' || !sdp.startsWith('v=0')) {
        throw new SignalingError(400, 'the body must be an SDP offer (starting with "v=0")');
      }
      const session = await broadcast.connect({ sdp, type: 'offer' }, { signaling: 'whep', address: ctx.ip });
      ctx.status = 201;
      ctx.type = SDP;
      ctx.set('Location', `${views.basePath(ctx)}/whep/${session.id}`);
      ctx.set('ETag', session.etag);
      ctx.set('Accept-Patch', TRICKLE);
      if (links.length > 0) ctx.set('Link', links);
      ctx.body = session.answer.sdp;
    },
  );

  router.options('/whep/:session', describeResource, allowCors, noContent);
  router.patch(
    '/whep/:session',
    allowCors,
    describeResource,
    requireType(TRICKLE, 'trickled ICE candidates'),
    bodyParser({ enableTypes: ['text'], extendTypes: { text: [TRICKLE] }, textLimit: '16kb' }),
    (ctx) => {
      const viewer = broadcast.viewer(ctx.params.session!);
      if (!viewer) throw new SignalingError(404, 'no WHEP session here: it ended or never existed');
      const ifMatch = ctx.get('If-Match');
      if (ifMatch && ifMatch !== '*' && ifMatch !== viewer.etag) {
        throw new SignalingError(412, `If-Match ${ifMatch} does not match the session's ETag ${viewer.etag}`);
      }
      const body: unknown = ctx.request.body;
      viewer.addCandidates(parseIceFragment(typeof body === 'string' ? body : ''));
      ctx.status = 204;
    },
  );
  router.delete('/whep/:session', allowCors, async (ctx) => {
    if (!(await broadcast.disconnect(ctx.params.session!))) {
      throw new SignalingError(404, 'no WHEP session here: it ended or never existed');
    }
    ctx.status = 200;
    ctx.body = '';
  });
}
