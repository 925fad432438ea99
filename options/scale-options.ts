/** The rows of the option table about running past one box: the WHIP push and the Prometheus metrics. */
import { invalidOption as fail, WebGearRtcOptionError } from '../lib/errors.ts';
import type { PublishSettings } from '../lib/publish/publisher.ts';
import type { IceServer } from '../lib/types.ts';
import { option } from './option-spec.ts';
import { iceServersOption, switchOrGuardOption } from './option-validators.ts';
import type { RequestGuard } from './web-options.ts';

/** Where to push the stream by WHIP: the endpoint's URL, or `{ url, token?, iceServers? }`. */
export type PublishOption = string | { url: string; token?: string; iceServers?: IceServer[] };

const PUBLISH_KEYS = new Set(['url', 'token', 'iceServers']);

/** The endpoint's URL: absolute http(s). */
function endpointUrl(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') fail(name, 'the WHIP endpoint\'s URL, "http(s)://…"', value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(name, 'an absolute URL, "http(s)://host/path"', value);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(name, 'an http: or https: URL', value);
  return url.href;
}

/** The `publish` option resolved: undefined (no push), or the endpoint and what it takes. */
export function publishOption(name: string, value: unknown): PublishSettings | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return { url: endpointUrl(name, value) };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(name, 'a WHIP endpoint URL or { url, token?, iceServers? }', value);
  }
  const given = value as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!PUBLISH_KEYS.has(key)) throw new WebGearRtcOptionError(`${name}.${key}`, 'is not known: publish takes url, token and iceServers');
  }
  const settings: PublishSettings = { url: endpointUrl(`${name}.url`, given.url) };
  if (given.token !== undefined) {
    // It goes in an Authorization header: no line breaks, nothing invisible.
    if (typeof given.token !== 'string' || !/^[\x21-\x7e]+$/.test(given.token)) {
      fail(`${name}.token`, 'a non-empty string of visible ASCII characters (the Bearer token)', given.token);
    }
    settings.token = given.token;
  }
  if (given.iceServers !== undefined) settings.iceServers = iceServersOption(`${name}.iceServers`, given.iceServers);
  return settings;
}

export const SCALE_OPTIONS = {
  /**
   * Push the stream once to a WHIP endpoint (RFC 9725: an SFU, a CDN, Janus, LiveKit, Cloudflare, another
   * server): its URL, or `{ url, token?, iceServers? }` (`token`: the Bearer token; `iceServers`: STUN/TURN
   * for this connection, default `iceServers`). The source starts at once; a lost endpoint is reconnected with
   * backoff. Its state: `stats().publish`.
   */
  publish: option<PublishOption>()({
    doc: "push the stream to a WHIP endpoint (an SFU, a CDN): its URL or `{url, token?, iceServers?}`; the source starts at once, a lost endpoint is reconnected with backoff; its state in `stats().publish` ([scale-out](docs/scale-out.md#push-to-an-sfu-or-a-cdn-whip))",
    default: '—',
    resolve: (value, name) => publishOption(name, value),
  }),
  /**
   * `GET /metrics` in Prometheus text format (prom-client): `true` serves it, `false` (default) leaves the
   * path to your app, a function guards it (resolve true to let the request in, false for 403). Each
   * instance has its own registry (`rtc.registry`), served at its own mount.
   */
  metrics: option<boolean | RequestGuard>()({
    doc: '`GET /metrics` in Prometheus text format: `true` serves it, `false` leaves the path to your app, `(ctx) => boolean \\| Promise<boolean>` guards it (false → 403); `rtc.registry` is its prom-client registry ([metrics](docs/operations.md#metrics))',
    default: '`false`',
    resolve: (value, name) => switchOrGuardOption<RequestGuard>(name, value, false),
  }),
};
