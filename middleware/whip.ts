import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Broadcast } from '../lib/session/broadcast.ts';
import { SignalingError } from '../lib/errors.ts';
import { parseIceFragment } from '../lib/session/ice-fragment.ts';
import type { ResolvedOptions } from '../options/option-table.ts';
import type { IceServer, VideoCodec } from '../lib/types.ts';
import type { Views } from './views.ts';
import { corsFor, iceServerLinks, requireType, resourceHeaders, SDP, TRICKLE } from './whep.ts';

export interface WhipDependencies {
  broadcast: Broadcast;
  views: Views;
  iceServers: IceServer[];
  bodyLimit: number;
  corsOrigins: ResolvedOptions['corsOrigins'];
  /** The Bearer token a publisher must send, if any. */
  whipToken: string | undefined;
  /** The codec publishers must send (the page offers it first). */
  codec: VideoCodec;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * `Authorization: Bearer <whipToken>` (RFC 9725 §4.5), compared in constant time; 401 with a
 * `WWW-Authenticate` challenge otherwise. A no-op without a token.
 */
function requireToken(token: string | undefined) {
  const expected = token === undefined ? undefined : digest(token);
  return (ctx: Context, next: Next) => {
    if (expected) {
      const given = /^Bearer\s+(.+)$/i.exec(ctx.get('Authorization'))?.[1]?.trim();
      if (given === undefined || !timingSafeEqual(digest(given), expected)) {
        const why = given === undefined ? 'publishing needs a token: send Authorization: Bearer <token>' : 'wrong token';
        throw new SignalingError(401, why, { 'WWW-Authenticate': 'Bearer realm="webgear-rtc WHIP"' });
      }
    }
    return next();
  };
}

/**
 * WHIP ingest (RFC 9725) for a `'whip'` source: `POST /whip` with the publisher's SDP offer → 201, the
 * answer, and the publication's resource in `Location`; `PATCH` it with trickled candidates; `DELETE` it
 * to stop publishing. `GET /publish` is the theme's page that publishes a camera or a screen.
 */
export function addWhipRoutes(router: Router, deps: WhipDependencies): void {
  const { broadcast, views, iceServers, bodyLimit } = deps;
  const links = iceServerLinks(iceServers);
  const allowCors = corsFor(deps.corsOrigins);
  const token = requireToken(deps.whipToken);
  const { describeEndpoint, describeResource, noContent } = resourceHeaders(links);

  router.get('publish', '/publish', (ctx) => {
    views.render(ctx, 'publish.html', {
      config: {
        whipUrl: `${views.basePath(ctx)}/whip`,
        iceServers,
        codec: deps.codec,
        tokenRequired: deps.whipToken !== undefined,
      },
    });
  });

  router.options('/whip', describeEndpoint, allowCors, noContent);
  router.post(
    'whip',
    '/whip',
    allowCors,
    token,
    requireType(SDP, 'the SDP offer'),
    bodyParser({ enableTypes: ['text'], extendTypes: { text: [SDP] }, textLimit: bodyLimit }),
    async (ctx) => {
      const sdp = ctx.request.body;
      if (typeof sdp !== 'string' || !sdp.startsWith('v=0')) {
        throw new SignalingError(400, 'the body must be an SDP offer (starting with "v=0")');
      }
      const publication = await broadcast.publish(sdp);
      ctx.status = 201;
      ctx.type = SDP;
      ctx.set('Location', `${views.basePath(ctx)}/whip/${publication.id}`);
      ctx.set('ETag', publication.etag);
      ctx.set('Accept-Patch', TRICKLE);
      if (links.length > 0) ctx.set('Link', links);
      ctx.body = publication.answer;
    },
  );

  router.options('/whip/:id', describeResource, allowCors, noContent);
  router.patch(
    '/whip/:id',
    allowCors,
    describeResource,
    token,
    requireType(TRICKLE, 'trickled ICE candidates'),
    bodyParser({ enableTypes: ['text'], extendTypes: { text: [TRICKLE] }, textLimit: '16kb' }),
    (ctx) => {
      const publisher = broadcast.publisher(ctx.params.id!);
      if (!publisher) throw new SignalingError(404, 'no WHIP publication here: it ended, was replaced, or never existed');
      const ifMatch = ctx.get('If-Match');
      if (ifMatch && ifMatch !== '*' && ifMatch !== publisher.etag) {
        throw new SignalingError(412, `If-Match ${ifMatch} does not match the publication's ETag ${publisher.etag}`);
      }
      const body: unknown = ctx.request.body;
      publisher.addCandidates(parseIceFragment(typeof body === 'string' ? body : ''));
      ctx.status = 204;
    },
  );
  router.delete('/whip/:id', allowCors, token, (ctx) => {
    if (!broadcast.unpublish(ctx.params.id!)) {
      throw new SignalingError(404, 'no WHIP publication here: it ended, was replaced, or never existed');
    }
    ctx.status = 200;
    ctx.body = '';
  });
}
