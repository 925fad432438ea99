import type { Context } from 'koa';

/**
 * The path of the request line's target: `originalUrl` without its query, and without the scheme and host
 * of an absolute-form target (`GET http://host/cam HTTP/1.1`, which HTTP/1.1 servers must accept and for
 * which Koa's `ctx.path` is just `/cam`).
 */
export function originalPath(ctx: Context): string {
  const path = ctx.originalUrl.split('?')[0] ?? '';
  return path.startsWith('/') ? path : path.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
}

/**
 * The public path the middleware answers under, without a trailing slash ('' at the root): the
 * request's original path minus the path the middleware sees. Computed per request because
 * `ctx.mountPath` is wrong under nested mounts (koa-mount overwrites it with the inner prefix).
 */
export function requestBasePath(ctx: Context): string {
  const original = originalPath(ctx);
  if (ctx.path === '/') return original.replace(/\/+$/, '');
  return original.endsWith(ctx.path) ? original.slice(0, original.length - ctx.path.length) : '';
}
