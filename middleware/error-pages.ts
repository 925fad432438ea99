import type { Context } from 'koa';
import { originalPath } from './base-path.ts';
import type { Views } from './views.ts';

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (char) => HTML_ENTITIES[char]!);

/** Status of an error that carries one (http-errors, SignalingError, koa-send); 500 otherwise. */
export function statusOf(error: unknown): number {
  const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status ??
    (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status <= 599 ? status : 500;
}

export function renderNotFound(ctx: Context, views: Views): void {
  ctx.status = 404;
  try {
    views.render(ctx, '404.html', { path: originalPath(ctx) });
  } catch (error) {
    // A broken 404.html: still a 404, and the host's app.on('error') learns why it is plain.
    ctx.app.emit('error', error, ctx);
    ctx.type = 'text';
    ctx.body = 'Not Found';
  }
}

/** Like a debug traceback page (Starlette's in vidgear): built in, so a broken theme cannot hide it. */
function tracebackPage(error: unknown): string {
  const err = error instanceof Error ? error : new Error(String(error));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>500 Internal Server Error</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem;color:#222}pre{background:#f4f4f4;padding:1rem;overflow:auto}</style>
</head><body><h1>500 Internal Server Error</h1>
<p><strong>${escapeHtml(err.name)}</strong>: ${escapeHtml(err.message)}</p>
<h2>Traceback</h2><pre>${escapeHtml(err.stack ?? String(err))}</pre>
<p><small>Shown because the webgear-rtc option <code>logging</code> is on.</small></p>
</body></html>`;
}

/**
 * The 500 page: the theme's 500.html, which shows nothing of the error, or with `logging` a traceback
 * (HTML-escaped). A theme that cannot render falls back to plain text rather than a second error.
 */
export function renderServerError(ctx: Context, views: Views, error: unknown, logging: boolean): void {
  ctx.status = 500;
  if (logging) {
    ctx.type = 'html';
    ctx.body = tracebackPage(error);
    return;
  }
  try {
    views.render(ctx, '500.html');
  } catch {
    ctx.type = 'text';
    ctx.body = 'Internal Server Error';
  }
}
