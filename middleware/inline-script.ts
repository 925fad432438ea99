import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import nunjucks from 'nunjucks';

/**
 * The templates' `inline_script('js/custom.js')`: a static file (found as `/static/...` serves it: the
 * folders in order, the first that has it) as an inline `<script>` element. The default player comes this
 * way: it starts without a request of its own, a round trip sooner (at 40 ms RTT the first frame's median
 * went from 750–960 ms to 660–710, three runs each: docs/benchmarks-links.md). A page under a
 * Content-Security-Policy that refuses inline scripts loads it by URL as well (index.html).
 */
export function createInlineScript(staticDirs: readonly string[]): (path: string) => nunjucks.runtime.SafeString {
  const cache = new Map<string, { mtimeMs: number; html: nunjucks.runtime.SafeString }>();
  return function inline_script(path: string) {
    const file = normalize(String(path ?? '')).replace(/^[/\\]+/, '');
    if (file === '' || file === '.' || isAbsolute(file) || file.split(sep).includes('..')) {
      throw new Error(`inline_script: "${path}" is not a path inside the static folders`);
    }
    for (const dir of staticDirs) {
      const full = join(dir, file);
      let mtimeMs: number;
      try {
        const stats = statSync(full);
        if (!stats.isFile()) continue;
        mtimeMs = stats.mtimeMs;
      } catch {
        continue;
      }
      const cached = cache.get(full);
      if (cached?.mtimeMs === mtimeMs) return cached.html;
      // Inside <script> only `</script` (any case) and `<!--` mean something to the HTML parser.
      const text = readFileSync(full, 'utf8').replace(/<(\/script|!--)/gi, '<\\$1');
      const html = new nunjucks.runtime.SafeString(`<script>${text}</script>`);
      cache.set(full, { mtimeMs, html });
      return html;
    }
    throw new Error(`inline_script: no static file "${file}" in ${staticDirs.join(', ')}`);
  };
}
