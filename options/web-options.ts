/** The rows of the option table about serving: HTTP, the theme, viewers and ICE. */
import type { Context } from 'koa';
import type { Logger } from '../lib/logger.ts';
import type { IceServer } from '../lib/types.ts';
import { invalidOption as fail } from '../lib/errors.ts';
import { DEFAULT_MAX_EVENT_LOOP_DELAY_MS } from '../lib/session/load-guard.ts';
import { option } from './option-spec.ts';
import {
  booleanOption, directoryListOption, functionOption, iceServersOption, integerPairOption, numberOption,
  originListOption, pathPrefixOption, stringListOption, stringOption, switchOrGuardOption,
} from './option-validators.ts';

/** Decides per request: resolve true to let it in, false for 403 (or throw your own status). */
export type RequestGuard = (ctx: Context) => boolean | Promise<boolean>;

const LOGGER_METHODS = ['debug', 'info', 'warn', 'error'] as const;

export const WEB_OPTIONS = {
  /** Log what happens (data-file location, ffmpeg, viewers) and show tracebacks on the 500 page. */
  logging: option<boolean>()({
    doc: 'log the data-files location, ffmpeg and viewers; tracebacks on the 500 page',
    default: '`false`',
    resolve: (value, name) => booleanOption(name, value, false),
  }),
  /** Where log lines go. Default: console. */
  logger: option<Logger>()({
    doc: 'any `{debug, info, warn, error}` object',
    default: '`console`',
    resolve: (value, name) => {
      const ok = value === undefined || (value !== null && typeof value === 'object' &&
        LOGGER_METHODS.every((method) => typeof (value as Record<string, unknown>)[method] === 'function'));
      if (!ok) fail(name, 'an object with debug, info, warn and error methods', value);
      return value as Logger | undefined;
    },
  }),
  /** Folder holding `webgear_rtc/{templates,static}`. Must exist and be writable. Default `~/.vidgear`. */
  customDataLocation: option<string>()({
    doc: 'existing writable folder that holds `webgear_rtc/{templates,static}`',
    default: '`~/.vidgear`',
    resolve: (value, name) => stringOption(name, value),
  }),
  /** Rewrite the default template and static files from the package's theme. Default false. */
  overwriteDefaultFiles: option<boolean>()({
    doc: 'rewrite the default theme files there (your other files stay)',
    default: '`false`',
    resolve: (value, name) => booleanOption(name, value, false),
  }),
  /** Serve under this path (e.g. `'/cam'`) without koa-mount. */
  prefix: option<string>()({
    doc: 'serve under this path without koa-mount',
    default: '—',
    resolve: (value, name) => pathPrefixOption(name, value),
  }),
  /** Public base path for the page's URLs, when a reverse proxy strips a prefix the server cannot see. */
  basePath: option<string>()({
    doc: "public base path of the page's URLs, for a reverse proxy that strips a prefix",
    default: 'per request',
    resolve: (value, name) => pathPrefixOption(name, value),
  }),
  /**
   * Template folder(s) searched before the data folder's `templates/` (and so before the default theme),
   * file by file: a file missing here comes from the next folder. Each must exist.
   */
  templates: option<string | string[]>()({
    doc: "folder(s) of your templates, searched before the data folder's, file by file ([advanced](docs/advanced.md#your-own-templates-and-static-files))",
    default: '—',
    resolve: (value, name) => directoryListOption(name, value),
  }),
  /** Static folder(s) served under `/static` before the data folder's `static/`, file by file. Each must exist. */
  static: option<string | string[]>()({
    doc: "folder(s) of your static files, served under `/static` before the data folder's, file by file",
    default: '—',
    resolve: (value, name) => directoryListOption(name, value),
  }),
  /** Viewers allowed at once; more get a 503. Default 100. */
  maxViewers: option<number>()({
    doc: 'viewers at once; more get 503',
    default: '`100`',
    resolve: (value, name) => numberOption(name, value, { min: 1, max: 10_000, integer: true }) ?? 100,
  }),
  /**
   * Viewers connecting at once (an offer answered, ICE and DTLS not done yet), apart from `maxViewers`:
   * more get a 503 with `Retry-After`. A flood of offers that never connect fills this, never the places of
   * viewers who watch. Default: `maxViewers`.
   */
  maxConnecting: option<number>()({
    doc: 'viewers connecting at once (answered, not yet connected), counted apart from `maxViewers`: more get 503 ([operations](docs/operations.md#limits))',
    default: '`maxViewers`',
    resolve: (value, name) => numberOption(name, value, { min: 1, max: 10_000, integer: true }),
  }),
  /**
   * Sessions connecting at once from one client address (`ctx.ip`: behind a reverse proxy set the Koa app's
   * `proxy = true`); more get a 429 with `Retry-After`. Default 10.
   */
  maxConnectingPerAddress: option<number>()({
    doc: 'sessions connecting at once from one address (`ctx.ip`; behind a proxy set `app.proxy = true`): more get 429',
    default: '`10`',
    resolve: (value, name) => numberOption(name, value, { min: 1, max: 10_000, integer: true }) ?? 10,
  }),
  /**
   * Admission from what the server measures of itself: when its event loop runs later than this (the median
   * over a second, two seconds in a row, ms) or is busy over 95 % of the time (and a quarter of that late,
   * in a second without joins), new viewers get a 503 with `Retry-After` and those watching keep their
   * stream. 0 turns it off. Default 50.
   */
  maxEventLoopDelay: option<number>()({
    doc: "refuse new viewers (503, `Retry-After`) while the server's event loop runs this late (its median over a second, 2 s in a row, ms) or is ≥ 95 % busy and a quarter of that late with no join under way: one viewer too many must not degrade all; 0 turns it off ([operations](docs/operations.md#limits))",
    default: '`50`',
    resolve: (value, name) => numberOption(name, value, { min: 0, max: 10_000, integer: false }) ?? DEFAULT_MAX_EVENT_LOOP_DELAY_MS,
  }),
  /** Seconds a viewer has to connect (ICE and DTLS) after its offer; then it is dropped. Default 10. */
  connectTimeout: option<number>()({
    doc: 'seconds a viewer has to connect (ICE + DTLS) after its offer, then it is dropped',
    default: '`10`',
    resolve: (value, name) => numberOption(name, value, { min: 1, max: 300, integer: false }) ?? 10,
  }),
  /** Largest signaling request body in bytes (`POST /offer`); a larger one gets 413. Default 65 536. */
  bodyLimit: option<number>()({
    doc: 'largest signaling body in bytes; larger gets 413',
    default: '`65536`',
    resolve: (value, name) => numberOption(name, value, { min: 1_024, max: 16 * 1024 * 1024, integer: true }) ?? 64 * 1024,
  }),
  /**
   * For `source: 'whip'`: the Bearer token a publisher must send (`Authorization: Bearer <token>`, as OBS's
   * "Bearer Token" field does) to `POST`, `PATCH` or `DELETE` `/whip`; others get 401. Without it anyone who
   * reaches `/whip` (and passes `authorize`) may publish.
   */
  whipToken: option<string>()({
    doc: "for `source: 'whip'`: the Bearer token a publisher must send (`Authorization: Bearer <token>`); without it anyone who passes `authorize` may publish ([WHIP](docs/sources/whip.md))",
    default: '—',
    resolve: (value, name, context) => {
      const token = stringOption(name, value);
      if (token !== undefined && context.source.kind !== 'whip') fail(name, "used with source: 'whip' (the source is not a WHIP ingest)", token);
      return token;
    },
  }),
  /**
   * Guards every route of the plugin (page, static files, signaling, routes you add to `.router`):
   * resolve true to let the request in, false to answer 403. Or throw to answer yourself, e.g.
   * `ctx.throw(401, 'log in', { headers: { 'WWW-Authenticate': 'Basic' } })`. Host routes are not guarded.
   */
  authorize: option<RequestGuard>()({
    doc: "`(ctx) => boolean \\| Promise<boolean>` guarding the plugin's routes (page, static, signaling, WHEP, `/stats`, yours; never `OPTIONS`): false → 403, or throw your own status ([operations](docs/operations.md#web-safety))",
    default: '—',
    resolve: (value, name) => functionOption<RequestGuard>(name, value),
  }),
  /** STUN/TURN servers for the server's peer connections and the page. Default `[]` (LAN, no STUN wait). */
  iceServers: option<IceServer[]>()({
    doc: 'STUN/TURN servers (`{urls, username?, credential?}`) for the server, the page and WHEP players (`Link`); none built in ([ICE](docs/webrtc.md#iceservers))',
    default: '`[]`',
    resolve: (value, name) => iceServersOption(name, value),
  }),
  /** Extra host addresses to announce in ICE (a public IP behind 1:1 NAT, Docker host IP, `127.0.0.1`). */
  iceAdditionalHostAddresses: option<string[]>()({
    doc: 'extra addresses to announce in ICE (public IP, Docker host, `127.0.0.1`) ([Docker](docs/webrtc.md#docker))',
    default: '`[]`',
    resolve: (value, name) => stringListOption(name, value),
  }),
  /** UDP port range `[min, max]` for the viewers' ICE sockets (one socket per viewer). */
  icePortRange: option<[number, number]>()({
    doc: "`[min, max]` UDP ports for the viewers' ICE sockets: one per viewer and announced address ([sizing](docs/webrtc.md#iceportrange))",
    default: 'OS ports',
    resolve: (value, name) => {
      const range = integerPairOption(name, value, 1, 65535);
      if (range && range[0] >= range[1]) fail(name, '[min, max] with min < max', range);
      return range;
    },
  }),
  /**
   * Origins allowed to use WHEP (`/whep`) and `/stats` from another site's page (CORS): `'*'` (default),
   * one origin (`'https://example.com'`) or a list of them.
   */
  corsOrigins: option<string | string[]>()({
    doc: "sites allowed to use `/whep` and `/stats` from their pages (CORS): `'*'`, one origin (`'https://tv.example.com'`) or a list ([CORS](docs/webrtc.md#cors-corsorigins))",
    default: "`'*'`",
    resolve: (value, name) => originListOption(name, value),
  }),
  /**
   * `GET /stats`: the source's state and every viewer as JSON. `true` (default) serves it, `false` answers
   * 404, a function guards it (resolve true to let the request in, false for 403). `rtc.stats()` works always.
   */
  stats: option<boolean | RequestGuard>()({
    doc: '`GET /stats`: `true` serves it, `false` leaves the path to your app, `(ctx) => boolean \\| Promise<boolean>` guards it (false → 403). `rtc.stats()` works always',
    default: '`true`',
    resolve: (value, name) => switchOrGuardOption<RequestGuard>(name, value, true),
  }),
  /**
   * Latency hint for the default page, in ms: the browser's jitter buffer aims at this delay
   * (`RTCRtpReceiver.jitterBufferTarget`). Lower is more live, higher rides out a bad network. Default:
   * the browser's own (adaptive, usually 10–50 ms on a LAN).
   */
  jitterBufferTarget: option<number>()({
    doc: 'latency hint for the default page, in ms (0–4000): sets `RTCRtpReceiver.jitterBufferTarget` ([player](docs/webrtc.md#the-default-player-page))',
    default: "the browser's",
    resolve: (value, name) => numberOption(name, value, { min: 0, max: 4_000, integer: false }),
  }),
};
