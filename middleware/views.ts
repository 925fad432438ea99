import type Router from '@koa/router';
import type { Context } from 'koa';
import nunjucks from 'nunjucks';
import { join } from 'node:path';
import { DEFAULT_THEME_DIR } from './data-files.ts';
import { originalPath, requestBasePath } from './base-path.ts';
import { createInlineScript } from './inline-script.ts';

/** Keyword arguments as nunjucks passes them: `url_for('static', path='x')` → `{ path: 'x', __keywords: true }`. */
type Keywords = { path?: string; filename?: string; [name: string]: unknown };

/** Renders the theme's templates for one middleware instance. */
export interface Views {
  /** Renders `name` with the standard context (`base`, `url_for`, `inline_script`, `request`) plus `locals` into `ctx.body`. */
  render(ctx: Context, name: string, locals?: Record<string, unknown>): void;
  /** The public base path of this request ('' at the root). */
  basePath(ctx: Context): string;
}

const BUILT_IN_ROUTES: Record<string, string> = {
  index: '/',
  offer: '/offer',
  close_connection: '/close_connection',
};

/**
 * A private nunjucks Environment (Jinja2 syntax, autoescape on): the user's folder first, the package's
 * theme last, so a missing partial still resolves. Not koa-views: it skips itself when the host already
 * set `ctx.render`, and cannot override the top-level template (docs/advanced.md, last section).
 */
export function createViews(templateDirs: string[], staticDirs: string[], router: Router, basePathOverride: string | undefined): Views {
  const loader = new nunjucks.FileSystemLoader([...templateDirs, join(DEFAULT_THEME_DIR, 'templates')]);
  const env = new nunjucks.Environment(loader, { autoescape: true, throwOnUndefined: false });
  env.addGlobal('inline_script', createInlineScript(staticDirs));

  const basePath = (ctx: Context): string => basePathOverride ?? requestBasePath(ctx);

  const urlFor = (base: string) =>
    function url_for(name: string, keywords?: Keywords): string {
      if (name === 'static') {
        const file = String(keywords?.path ?? keywords?.filename ?? '').replace(/^\/+/, '');
        return `${base}/static/${file}`;
      }
      const builtIn = BUILT_IN_ROUTES[name];
      if (builtIn) return base + (builtIn === '/' ? '/' : builtIn);
      const { __keywords: _, ...params } = keywords ?? {};
      const url = router.url(name, params);
      if (url instanceof Error) throw new Error(`url_for: no route named "${name}"`);
      return base + url;
    };

  return {
    basePath,
    render(ctx, name, locals = {}) {
      const base = basePath(ctx);
      const url_for = urlFor(base);
      const path = originalPath(ctx);
      // Shaped like Starlette's Request, which vidgear's templates receive: `{{ request.url }}` prints the
      // whole URL, `request.url.path` & co. its parts.
      const request = {
        method: ctx.method,
        url: {
          path,
          query: ctx.querystring,
          scheme: ctx.protocol,
          hostname: ctx.hostname,
          netloc: ctx.host,
          toString: () => ctx.href,
        },
        path,
        base_url: `${ctx.origin}${base}/`,
        query: ctx.query,
        query_params: ctx.query,
        path_params: { ...(ctx as { params?: Record<string, string> }).params },
        headers: ctx.headers,
        client: { host: ctx.ip },
        url_for,
      };
      const html = env.render(name, { base, url_for, request, ...locals });
      ctx.type = 'html';
      ctx.body = html;
    },
  };
}
