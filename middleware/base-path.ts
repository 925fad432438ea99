import type { Context } from 'koa';

/**
 * The public path the middleware answers under, without a trailing slash ('' at the root): the
 * request's original path minus the path the middleware sees. Computed per request because
 * `ctx.mountPath` is wrong under nested mounts (koa-mount overwrites it with the inner prefix).
 */
export function requestBasePath(ctx: Context): string {
  const original = ctx.originalUrl.split('?')[0] ?? '';
  if (ctx.path === '/') return original.replace(/\/+$/, '');
  return original.endsWith(ctx.path) ? original.slice(0, original.length - ctx.path.length) : '';
}
