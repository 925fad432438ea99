/**
 * The middleware inside a host app (issue #4): mounts, prefix, basePath, several instances, custom routes,
 * host middleware around it, a host that uses koa-views, and template folders. Supertest and real werift
 * peers; the browser side is in composition-browser.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import cors from '@koa/cors';
import Koa from 'koa';
import mount from 'koa-mount';
import views from 'koa-views';
import request from 'supertest';
import { webgearRtc, WebGearRtcOptionError, type Logger, type WebGearRtc, type WebGearRtcOptions } from 'webgear-rtc';
import {
  connectWeriftViewer,
  decodeEntities,
  ffmpegChildrenOf,
  sleep,
  startServer,
  tempDir,
  testOptions,
  waitFor,
  type WeriftViewer,
} from './helpers.ts';

// ---------------------------------------------------------------------------------------------------------------
// helpers

type TempDir = ReturnType<typeof tempDir>;

interface PageUrls {
  offerUrl: string;
  closeUrl: string;
  /** Every same-site `href`/`src` of the page (not `//cdn…` or `https://…`). */
  links: string[];
}

/** Every URL the page will ask for: its links and the signaling URLs in its configuration. */
function pageUrls(html: string): PageUrls {
  const config = /(?:<meta name="webgear-config" content|data-config)="([^"]*)"/.exec(html);
  assert.ok(config, 'the page has the player\'s configuration (<meta name="webgear-config"> or data-config)');
  const { offerUrl, closeUrl } = JSON.parse(decodeEntities(config[1]!)) as { offerUrl: string; closeUrl: string };
  const links = [...html.matchAll(/(?:href|src)="([^"]*)"/g)]
    .map((match) => decodeEntities(match[1]!))
    .filter((url) => url.startsWith('/') && !url.startsWith('//'));
  return { offerUrl, closeUrl, links };
}

const staticLinks = (urls: PageUrls) => urls.links.filter((url) => url.includes('/static/'));

/** The theme's pages, recognised by their text (templates/templates/{404,500}.html). */
const THEME_404 = /Page not found/;
const THEME_500 = /Something went wrong on the server/;
const STACK_LINE = /\n\s+at .+[(:]/;

const quietLogger = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  const push = (line: string) => void lines.push(line);
  return { lines, debug: push, info: push, warn: push, error: push };
};

/** Writes `files` (relative path → content) under `root`, creating folders. */
function writeFiles(root: string, files: Record<string, string>): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

/** werift's DTLS client resends its last flight for 500 ms after `connected`; closing inside it keeps the process up. */
const letDtlsSettle = () => sleep(1_000);

/** Instances made by a suite, closed in its `after` (a test that fails must not leave ffmpeg running). */
function instances() {
  const made: WebGearRtc[] = [];
  return {
    make(options: WebGearRtcOptions): WebGearRtc {
      const rtc = webgearRtc(options);
      made.push(rtc);
      return rtc;
    },
    closeAll: () => Promise.all(made.map((rtc) => rtc.close())),
  };
}

/** A GET whose request-target is the absolute form (`GET http://host/x HTTP/1.1`), as sent to a proxy. */
function absoluteFormGet(url: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`GET ${url}${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`);
    });
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (raw += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const [head = '', ...body] = raw.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body: body.join('\r\n\r\n') });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------

interface MountScenario {
  name: string;
  /** The public base every URL of the page must start with. */
  base: string;
  /** Requests that must render the player page. */
  pages: string[];
  options?: WebGearRtcOptions;
  use(app: Koa, rtc: WebGearRtc): void;
}

const SCENARIOS: MountScenario[] = [
  { name: 'at the root', base: '', pages: ['/'], use: (app, rtc) => app.use(rtc) },
  { name: "koa-mount('/cam')", base: '/cam', pages: ['/cam', '/cam/'], use: (app, rtc) => app.use(mount('/cam', rtc)) },
  {
    name: "nested koa-mount('/admin', mount('/cam'))",
    base: '/admin/cam',
    pages: ['/admin/cam', '/admin/cam/'],
    use: (app, rtc) => app.use(mount('/admin', mount('/cam', rtc))),
  },
  { name: "prefix: '/cam2'", base: '/cam2', pages: ['/cam2', '/cam2/'], options: { prefix: '/cam2' }, use: (app, rtc) => app.use(rtc) },
  {
    name: "prefix: '/cam2/' (trailing slash) inside koa-mount('/site')",
    base: '/site/cam2',
    pages: ['/site/cam2', '/site/cam2/'],
    options: { prefix: '/cam2/' },
    use: (app, rtc) => app.use(mount('/site', rtc)),
  },
];

describe('every URL the page uses resolves under the mount, with or without a trailing slash', () => {
  let data: TempDir;
  const made = instances();
  before(() => {
    data = tempDir();
  });
  after(async () => {
    await made.closeAll();
    data?.cleanup();
  });

  for (const scenario of SCENARIOS) {
    test(scenario.name, async () => {
      const app = new Koa();
      app.silent = true;
      const rtc = made.make(testOptions(data.path, scenario.options));
      scenario.use(app, rtc);
      app.use((ctx) => {
        if (ctx.path === '/host') ctx.body = 'host route';
      });
      const agent = request(app.callback());
      const { base } = scenario;

      const seen: PageUrls[] = [];
      for (const path of scenario.pages) {
        const page = await agent.get(path).expect(200);
        assert.match(String(page.headers['content-type']), /^text\/html/);
        assert.match(page.text, /<video\b/);
        const urls = pageUrls(page.text);
        assert.equal(urls.offerUrl, `${base}/offer`, path);
        assert.equal(urls.closeUrl, `${base}/close_connection`, path);
        assert.ok(staticLinks(urls).length >= 3, `css, js and favicon: ${urls.links.join(' ')}`);
        for (const link of urls.links) assert.ok(link.startsWith(`${base}/`), `${path}: ${link} is under ${base}/`);
        assert.ok(urls.links.includes(`${base}/`), 'the brand link goes back to the stream');
        seen.push(urls);
      }
      for (const urls of seen.slice(1)) assert.deepEqual(urls, seen[0], 'the same URLs with and without the slash');

      for (const link of staticLinks(seen[0]!)) {
        const asset = await agent.get(link).expect(200);
        assert.match(String(asset.headers['content-type']), /^(text\/css|text\/javascript|application\/javascript|image\/svg\+xml)/, link);
      }
      // The signaling URLs reach the plugin (answers only it gives), without starting ffmpeg.
      const offer = await agent.post(seen[0]!.offerUrl).send({}).expect(400);
      assert.equal(typeof offer.body.error, 'string');
      const closed = await agent.post(seen[0]!.closeUrl).send({ id: 'no-such-session' }).expect(404);
      assert.equal(typeof closed.body.error, 'string');
      assert.equal(rtc.stats().source.state, 'idle');

      const missing = await agent.get(`${base}/no-such-page`).expect(404);
      if (base === '') {
        assert.equal(missing.text, 'Not Found', "at the root an unknown path is the host's");
      } else {
        assert.match(missing.text, THEME_404, 'under a mount the subtree is the plugin’s');
        assert.ok(pageLinks(missing.text).every((link) => link.startsWith(`${base}/`)), 'the 404 page links under the mount too');
      }
      assert.equal((await agent.get('/host').expect(200)).text, 'host route');
    });
  }

  test("basePath '/proxy/cam' overrides the computed base (a reverse proxy strips '/proxy')", async () => {
    const app = new Koa();
    app.silent = true;
    const rtc = made.make(testOptions(data.path, { basePath: '/proxy/cam' }));
    app.use(mount('/admin', mount('/cam', rtc)));
    const agent = request(app.callback());
    for (const path of ['/admin/cam', '/admin/cam/']) {
      const urls = pageUrls((await agent.get(path).expect(200)).text);
      assert.equal(urls.offerUrl, '/proxy/cam/offer');
      assert.equal(urls.closeUrl, '/proxy/cam/close_connection');
      for (const link of urls.links) assert.ok(link.startsWith('/proxy/cam/'), link);
    }
    const page404 = await agent.get('/admin/cam/nope').expect(404);
    assert.ok(pageLinks(page404.text).every((link) => link.startsWith('/proxy/cam/')));
  });

  test('basePath with the plugin at the root: the proxy’s URLs reach it once the proxy strips its prefix', async () => {
    const app = new Koa();
    app.silent = true;
    const rtc = made.make(testOptions(data.path, { basePath: '/proxy/cam/' }));
    app.use(rtc);
    const agent = request(app.callback());
    const urls = pageUrls((await agent.get('/').expect(200)).text);
    assert.equal(urls.offerUrl, '/proxy/cam/offer');
    for (const link of staticLinks(urls)) {
      assert.ok(link.startsWith('/proxy/cam/static/'), link);
      await agent.get(link.slice('/proxy/cam'.length)).expect(200); // what the proxy forwards
    }
    assert.equal((await agent.post(urls.offerUrl.slice('/proxy/cam'.length)).send({}).expect(400)).body.error.length > 0, true);
    assert.equal((await agent.get('/elsewhere').expect(404)).text, 'Not Found', 'basePath does not make the root subtree ours');
  });
});

function pageLinks(html: string): string[] {
  return [...html.matchAll(/(?:href|src)="([^"]*)"/g)].map((match) => decodeEntities(match[1]!)).filter((url) => url.startsWith('/'));
}

// ---------------------------------------------------------------------------------------------------------------

describe('two instances in one app (two cameras at /cam and /cam2) stream independently', () => {
  let dataA: TempDir;
  let dataB: TempDir;
  let server: Awaited<ReturnType<typeof startServer>>;
  let second: WebGearRtc;
  const viewers: WeriftViewer[] = [];

  before(async () => {
    dataA = tempDir();
    dataB = tempDir();
    writeFiles(join(dataB.path, 'webgear_rtc/templates'), {
      'index.html': '{% extends "base.html" %}{% block content %}<h1>Camera two</h1><main id="webgear" data-config="{{ config | dump }}"></main>{% endblock %}',
    });
    second = webgearRtc(testOptions(dataB.path, { prefix: '/cam2', resolution: [320, 240], framerate: 15 }));
    second.router.get('/which', (ctx) => {
      ctx.body = 'two';
    });
    server = await startServer(testOptions(dataA.path, { resolution: [320, 240], framerate: 15 }), (app, rtc) => {
      rtc.router.get('/which', (ctx) => {
        ctx.body = 'one';
      });
      app.use(mount('/cam', rtc));
      app.use(second);
    });
  });
  after(async () => {
    await Promise.all(viewers.map((viewer) => viewer.close()));
    await second?.close();
    await server?.close();
    dataA?.cleanup();
    dataB?.cleanup();
  });

  test('each page, its own signaling URLs, templates and custom routes', async () => {
    const one = await request(server.url).get('/cam').expect(200);
    const two = await request(server.url).get('/cam2').expect(200);
    assert.equal(pageUrls(one.text).offerUrl, '/cam/offer');
    assert.equal(pageUrls(two.text).offerUrl, '/cam2/offer');
    assert.doesNotMatch(one.text, /Camera two/);
    assert.match(two.text, /<h1>Camera two<\/h1>/);
    assert.equal((await request(server.url).get('/cam/which').expect(200)).text, 'one');
    assert.equal((await request(server.url).get('/cam2/which').expect(200)).text, 'two');
  });

  test('a viewer on each: one ffmpeg and one viewer per instance; closing one leaves the other streaming', async () => {
    const one = await connectWeriftViewer(`${server.url}/cam/offer`);
    viewers.push(one);
    const two = await connectWeriftViewer(`${server.url}/cam2/offer`);
    viewers.push(two);
    await Promise.all([one.connected, two.connected]);
    await letDtlsSettle();
    assert.ok(await waitFor(() => one.frames > 0 && two.frames > 0, 10_000), `both get frames (${one.frames}, ${two.frames})`);
    assert.deepEqual(server.rtc.stats().viewers.map((viewer) => viewer.id), [one.publicId]);
    assert.deepEqual(second.stats().viewers.map((viewer) => viewer.id), [two.publicId]);
    assert.equal(ffmpegChildrenOf().length, 2, 'one encoder per instance');

    const closing = performance.now();
    await server.rtc.close();
    const closeMs = Math.round(performance.now() - closing);
    await request(server.url).get('/cam').expect(503);
    await request(server.url).get('/cam2').expect(200);
    const packets = two.packets;
    assert.ok(
      await waitFor(() => two.packets > packets + 10, 3_000),
      `the other camera still streams (${two.packets - packets} packets in 3 s; its source ${second.stats().source.state}; close took ${closeMs} ms)`,
    );
    assert.equal(second.stats().source.state, 'running');
    assert.equal(ffmpegChildrenOf().length, 1);
    await second.close();
    assert.deepEqual(ffmpegChildrenOf(), []);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('custom routes on rtc.router answer under the mount and render the user’s templates', () => {
  let data: TempDir;
  let mine: TempDir;
  const made = instances();
  let agent: ReturnType<typeof request>;
  let rtc: WebGearRtc;

  before(() => {
    data = tempDir();
    // vidgear's "custom webpage" example, ported: hello.html in the user's own template folder.
    mine = tempDir();
    writeFiles(mine.path, {
      'hello.html': [
        '{% extends "base.html" %}',
        '{% block content %}<h1>Hello World</h1><p>how ya doing?</p>',
        '<a id="info" href="{{ url_for(\'camera-info\', name=\'front door\') }}">info</a>',
        '<p id="path">{{ request.url.path }}</p><p id="who">{{ who }}</p>{% endblock %}',
      ].join('\n'),
    });
    rtc = made.make(testOptions(data.path, { templates: mine.path }));
    rtc.router.get('/hello', (ctx) => rtc.render(ctx, 'hello.html', { who: ctx.query.who }));
    rtc.router.get('camera-info', '/info/:name', (ctx) => {
      ctx.body = { name: ctx.params.name };
    });
    const app = new Koa();
    app.silent = true;
    app.use(mount('/admin', mount('/cam', rtc)));
    agent = request(app.callback());
  });
  after(async () => {
    await made.closeAll();
    data?.cleanup();
    mine?.cleanup();
  });

  test('GET /admin/cam/hello renders hello.html, extending the theme’s base.html, with URLs under the mount', async () => {
    const response = await agent.get('/admin/cam/hello?who=<me>').expect(200);
    assert.match(String(response.headers['content-type']), /^text\/html/);
    assert.match(response.text, /<h1>Hello World<\/h1>/);
    assert.match(response.text, /href="\/admin\/cam\/static\/css\/custom\.css"/, 'base.html (the theme) came along');
    assert.match(response.text, /<p id="path">\/admin\/cam\/hello<\/p>/);
    assert.match(response.text, /<p id="who">&lt;me&gt;<\/p>/, 'locals are autoescaped');
    const info = /id="info" href="([^"]+)"/.exec(response.text)?.[1];
    assert.equal(info, '/admin/cam/info/front%20door', 'url_for of a named custom route, under the mount');
    assert.deepEqual((await agent.get(info).expect(200)).body, { name: 'front door' });
  });

  test('a route added after the app started is served; custom routes are not at the host root', async () => {
    assert.match((await agent.get('/admin/cam/late').expect(404)).text, THEME_404);
    rtc.router.get('/late', (ctx) => {
      ctx.body = 'late';
    });
    assert.equal((await agent.get('/admin/cam/late').expect(200)).text, 'late');
    assert.equal((await agent.get('/hello').expect(404)).text, 'Not Found');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('host middleware wraps the plugin; the host keeps its own paths and errors', () => {
  let data: TempDir;
  const made = instances();
  const log: string[] = [];
  const caught: Error[] = [];
  const appErrors: Error[] = [];
  let agent: ReturnType<typeof request>;

  before(() => {
    data = tempDir();
    const app = new Koa();
    app.on('error', (error: Error) => appErrors.push(error));
    // logging: sees every response, the plugin's included
    app.use(async (ctx, next) => {
      try {
        await next();
      } finally {
        log.push(`${ctx.method} ${ctx.originalUrl} ${ctx.status}`);
      }
    });
    // the host's error handler
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (error) {
        caught.push(error as Error);
        ctx.status = 500;
        ctx.body = `host handled: ${(error as Error).message}`;
      }
    });
    app.use(cors({ origin: 'https://viewer.example', allowMethods: ['GET', 'POST'] }));
    const rtc = made.make(testOptions(data.path));
    rtc.router.get('/kaboom', () => {
      throw new Error('kaboom');
    });
    app.use(mount('/cam', rtc));
    // host routes after the plugin, some inside its mount
    app.use(async (ctx, next) => {
      if (ctx.path === '/cam/extra') ctx.body = 'host route inside the mount';
      else if (ctx.path === '/cam/host-boom' || ctx.path === '/host-boom') throw new Error('host boom');
      else if (ctx.path === '/host') ctx.body = 'host route';
      else await next();
    });
    agent = request(app.callback());
  });
  after(async () => {
    await made.closeAll();
    data?.cleanup();
  });
  const reset = () => {
    log.length = 0;
    caught.length = 0;
    appErrors.length = 0;
  };
  const ORIGIN = 'https://viewer.example';

  test('CORS and logging wrap the page, the 404 page and /offer’s JSON errors', async () => {
    reset();
    const page = await agent.get('/cam/').set('Origin', ORIGIN).expect(200);
    assert.equal(page.headers['access-control-allow-origin'], ORIGIN);
    const missing = await agent.get('/cam/nope').set('Origin', ORIGIN).expect(404);
    assert.match(missing.text, THEME_404);
    assert.equal(missing.headers['access-control-allow-origin'], ORIGIN);
    const offer = await agent.post('/cam/offer').set('Origin', ORIGIN).send({}).expect(400);
    assert.equal(offer.headers['access-control-allow-origin'], ORIGIN);
    assert.deepEqual(log, ['GET /cam/ 200', 'GET /cam/nope 404', 'POST /cam/offer 400']);
  });

  test('a CORS preflight for /offer is answered by the host’s CORS middleware', async () => {
    const preflight = await agent
      .options('/cam/offer')
      .set('Origin', ORIGIN)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type')
      .expect(204);
    assert.equal(preflight.headers['access-control-allow-origin'], ORIGIN);
    assert.match(String(preflight.headers['access-control-allow-methods']), /POST/);
  });

  test('an error in a plugin route: its 500 page, with the CORS header, logged, emitted once, not the host’s handler', async () => {
    reset();
    const response = await agent.get('/cam/kaboom').set('Origin', ORIGIN).expect(500);
    assert.match(response.text, THEME_500);
    assert.equal(response.headers['access-control-allow-origin'], ORIGIN);
    assert.deepEqual(log, ['GET /cam/kaboom 500']);
    assert.deepEqual(appErrors.map((error) => error.message), ['kaboom']);
    assert.deepEqual(caught, []);
  });

  test('a host route after the mount, inside its path, still answers', async () => {
    assert.equal((await agent.get('/cam/extra').expect(200)).text, 'host route inside the mount');
  });

  test('host errors, inside the mount’s path or not, reach the host’s handler and never become a plugin page', async () => {
    for (const path of ['/cam/host-boom', '/host-boom']) {
      reset();
      const response = await agent.get(path).expect(500);
      assert.equal(response.text, 'host handled: host boom');
      assert.doesNotMatch(response.text, THEME_500);
      assert.deepEqual(caught.map((error) => error.message), ['host boom']);
      assert.deepEqual(appErrors, [], 'the host handled it: nothing for app "error"');
    }
  });

  test("host routes and the host's plain 404 outside the mount", async () => {
    assert.equal((await agent.get('/host').expect(200)).text, 'host route');
    assert.equal((await agent.get('/nope').expect(404)).text, 'Not Found');
    assert.equal((await agent.get('/static/css/custom.css').expect(404)).text, 'Not Found');
  });
});

describe('auth middleware in front of the plugin', () => {
  let data: TempDir;
  const made = instances();
  let agent: ReturnType<typeof request>;
  let rtc: WebGearRtc;

  before(() => {
    data = tempDir();
    const app = new Koa();
    app.silent = true;
    app.use(async (ctx, next) => {
      if (ctx.path.startsWith('/cam') && ctx.get('Authorization') !== 'Bearer s3cret') {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', 'Bearer');
        ctx.body = 'authentication required';
        return;
      }
      await next();
    });
    rtc = made.make(testOptions(data.path));
    app.use(mount('/cam', rtc));
    agent = request(app.callback());
  });
  after(async () => {
    await made.closeAll();
    data?.cleanup();
  });

  test('without the token, nothing of the plugin answers (page, static, /offer) and no ffmpeg starts', async () => {
    for (const path of ['/cam', '/cam/static/js/custom.js', '/cam/nope']) {
      const response = await agent.get(path).expect(401);
      assert.equal(response.text, 'authentication required');
    }
    await agent.post('/cam/offer').send({ sdp: 'v=0', type: 'offer' }).expect(401);
    assert.equal(rtc.stats().source.state, 'idle');
    assert.deepEqual(ffmpegChildrenOf(), []);
  });

  test('with the token, the page and its files', async () => {
    const page = await agent.get('/cam').set('Authorization', 'Bearer s3cret').expect(200);
    for (const link of staticLinks(pageUrls(page.text))) {
      await agent.get(link).set('Authorization', 'Bearer s3cret').expect(200);
    }
  });
});

describe('a sub-app with the player at its root and its own routes after it', () => {
  let data: TempDir;
  const made = instances();
  let agent: ReturnType<typeof request>;

  before(() => {
    data = tempDir();
    const admin = new Koa();
    admin.use(made.make(testOptions(data.path)));
    admin.use(async (ctx, next) => {
      if (ctx.path === '/users') ctx.body = 'admin users';
      else await next();
    });
    const app = new Koa();
    app.silent = true;
    app.use(mount('/admin', admin));
    agent = request(app.callback());
  });
  after(async () => {
    await made.closeAll();
    data?.cleanup();
  });

  test("the sub-app's own routes answer; the player is at /admin; what nobody answers gets the theme 404", async () => {
    assert.equal((await agent.get('/admin/users').expect(200)).text, 'admin users');
    assert.equal(pageUrls((await agent.get('/admin').expect(200)).text).offerUrl, '/admin/offer');
    assert.match((await agent.get('/admin/nobody').expect(404)).text, THEME_404);
    assert.equal((await agent.get('/elsewhere').expect(404)).text, 'Not Found');
  });
});

describe('an absolute-form request target (GET http://host/path), as HTTP/1.1 servers must accept', () => {
  let data: TempDir;
  let server: Awaited<ReturnType<typeof startServer>>;

  before(async () => {
    data = tempDir();
    server = await startServer(testOptions(data.path));
  });
  after(async () => {
    await server?.close();
    data?.cleanup();
  });

  test("the host's 404 stays the host's, and the page's URLs stay paths", async () => {
    const missing = await absoluteFormGet(server.url, '/no-such-page');
    assert.equal(missing.status, 404);
    assert.equal(missing.body, 'Not Found');
    const page = await absoluteFormGet(server.url, '/');
    assert.equal(page.status, 200);
    const urls = pageUrls(page.body);
    assert.equal(urls.offerUrl, '/offer');
    for (const link of staticLinks(urls)) assert.ok(link.startsWith('/static/'), link);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('a host that renders its own pages with koa-views (it sets ctx.render)', () => {
  let data: TempDir;
  let hostViews: TempDir;
  let mine: TempDir;
  const made = instances();
  let agent: ReturnType<typeof request>;

  before(() => {
    data = tempDir();
    hostViews = tempDir();
    writeFiles(hostViews.path, { 'index.html': '<p>HOST PAGE for {{ who }}</p>', 'hello.html': '<p>HOST HELLO</p>' });
    mine = tempDir();
    writeFiles(mine.path, { 'hello.html': '<p>PLUGIN HELLO at {{ url_for("index") }}</p>' });
    const app = new Koa();
    app.silent = true;
    app.use(views(hostViews.path, { map: { html: 'nunjucks' } }));
    const atCam = made.make(testOptions(data.path, { templates: mine.path }));
    atCam.router.get('/hello', (ctx) => atCam.render(ctx, 'hello.html'));
    app.use(mount('/cam', atCam));
    const atRoot = made.make(testOptions(data.path, { templates: mine.path }));
    atRoot.router.get('/plugin-hello', (ctx) => atRoot.render(ctx, 'hello.html'));
    app.use(atRoot);
    app.use(async (ctx, next) => {
      if (ctx.path === '/home') await ctx.render('index', { who: 'the host' });
      else if (ctx.path === '/hello') await ctx.render('hello');
      else await next();
    });
    agent = request(app.callback());
  });
  after(async () => {
    await made.closeAll();
    data?.cleanup();
    hostViews?.cleanup();
    mine?.cleanup();
  });

  test('the host’s ctx.render keeps rendering the host’s templates, before and beside the plugin', async () => {
    assert.equal((await agent.get('/home').expect(200)).text, '<p>HOST PAGE for the host</p>');
    assert.equal((await agent.get('/hello').expect(200)).text, '<p>HOST HELLO</p>');
  });

  test('the plugin renders its own page and templates, not the host’s same-named ones', async () => {
    const root = await agent.get('/').expect(200);
    assert.match(root.text, /<video\b/);
    assert.doesNotMatch(root.text, /HOST PAGE/);
    const cam = await agent.get('/cam').expect(200);
    assert.equal(pageUrls(cam.text).offerUrl, '/cam/offer');
    assert.equal((await agent.get('/cam/hello').expect(200)).text, '<p>PLUGIN HELLO at /cam/</p>');
    assert.equal((await agent.get('/plugin-hello').expect(200)).text, '<p>PLUGIN HELLO at /</p>');
    assert.match((await agent.get('/cam/nope').expect(404)).text, THEME_404);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('templates: user folders override the theme file by file', () => {
  const made = instances();
  const dirs: TempDir[] = [];
  const dir = () => {
    const made = tempDir();
    dirs.push(made);
    return made.path;
  };
  after(async () => {
    await made.closeAll();
    for (const each of dirs) each.cleanup();
  });

  /** The plugin under koa-mount('/cam') in a bare host app. */
  const agentFor = (rtc: WebGearRtc) => {
    const app = new Koa();
    app.silent = true;
    app.use(mount('/cam', rtc));
    return request(app.callback());
  };

  test('index.html and 404.html edited in the data folder (customDataLocation) replace the theme’s', async () => {
    const data = dir();
    writeFiles(join(data, 'webgear_rtc/templates'), {
      'index.html': [
        '{% extends "base.html" %}{% block title %}My camera{% endblock %}',
        '{% block content %}<p class="mine">MY INDEX at {{ request.url.path }}</p>',
        '<main id="webgear" data-config="{{ config | dump }}"><video id="video" autoplay muted playsinline></video></main>{% endblock %}',
        '{% block scripts %}<script src="{{ url_for(\'static\', path=\'js/custom.js\') }}" defer></script>{% endblock %}',
      ].join('\n'),
      '404.html': '<!doctype html><title>lost</title><p class="mine">MY 404 for {{ path }}</p>',
    });
    const agent = agentFor(made.make(testOptions(data)));
    const page = await agent.get('/cam').expect(200);
    assert.match(page.text, /<title>My camera<\/title>/);
    assert.match(page.text, /MY INDEX at \/cam</);
    assert.equal(pageUrls(page.text).offerUrl, '/cam/offer');
    assert.match(page.text, /href="\/cam\/static\/css\/custom\.css"/, 'the theme’s base.html, extended');
    const missing = await agent.get('/cam/<x>').expect(404);
    assert.match(String(missing.headers['content-type']), /^text\/html/);
    assert.equal(missing.text, '<!doctype html><title>lost</title><p class="mine">MY 404 for /cam/%3Cx%3E</p>');
    assert.match((await agent.get('/cam/kaboom-not-a-route').expect(404)).text, /MY 404/);
  });

  test('the `templates` option: searched first, in order, file by file; extends and include cross folders both ways', async () => {
    const data = dir();
    writeFiles(join(data, 'webgear_rtc/templates'), { 'index.html': 'DATA FOLDER INDEX (shadowed by `templates`)' });
    const first = writeFiles(dir(), {
      'index.html': '{% extends "base.html" %}{% block content %}FIRST INDEX {% include "note.html" %}{% endblock %}',
    });
    const second = writeFiles(dir(), {
      'index.html': 'SECOND INDEX (shadowed by the first folder)',
      'note.html': '<i>second note</i>',
      'base.html': '<!doctype html><link rel="stylesheet" href="{{ url_for(\'static\', path=\'css/custom.css\') }}"><body>SECOND BASE {% block content %}{% endblock %}</body>',
    });
    const agent = agentFor(made.make(testOptions(data, { templates: [first, second] })));
    const page = await agent.get('/cam/').expect(200);
    assert.equal(
      page.text,
      '<!doctype html><link rel="stylesheet" href="/cam/static/css/custom.css"><body>SECOND BASE FIRST INDEX <i>second note</i></body>',
    );
    // 404.html is the theme's (from the data folder) and extends "base.html": the user's base wins.
    const missing = await agent.get('/cam/nope').expect(404);
    assert.match(missing.text, /SECOND BASE/);
    assert.match(missing.text, THEME_404);
  });

  test('a single `templates` folder as a relative path', async () => {
    const mine = writeFiles(dir(), { 'index.html': 'RELATIVE INDEX' });
    const agent = agentFor(made.make(testOptions(dir(), { templates: relative(process.cwd(), mine) })));
    assert.equal((await agent.get('/cam').expect(200)).text, 'RELATIVE INDEX');
  });

  test('the `static` option: searched first, in order, file by file; the data folder and then the package fill the gaps', async () => {
    const data = dir();
    const first = writeFiles(dir(), { 'css/custom.css': 'body { --first: 1 }', 'img/extra.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>' });
    const second = writeFiles(dir(), { 'css/custom.css': 'body { --second: 1 }', 'js/custom.js': '/* second */' });
    const rtc = made.make(testOptions(data, { static: [first, second] }));
    rmSync(join(data, 'webgear_rtc/static/img/favicon.svg'));
    const agent = agentFor(rtc);
    assert.equal((await agent.get('/cam/static/css/custom.css').expect(200)).text, 'body { --first: 1 }');
    assert.equal((await agent.get('/cam/static/js/custom.js').expect(200)).text, '/* second */');
    const extra = await agent.get('/cam/static/img/extra.svg').expect(200);
    assert.match(String(extra.headers['content-type']), /^image\/svg\+xml/);
    await agent.get('/cam/static/img/logo.svg').expect(200); // the data folder's copy
    await agent.get('/cam/static/img/favicon.svg').expect(200); // deleted there: the package's
    assert.match((await agent.get('/cam/static/img/none.svg').expect(404)).text, THEME_404);
  });

  test('`templates` and `static` must name existing directories: a WebGearRtcOptionError names the option', () => {
    const data = dir();
    const file = join(data, 'a-file.txt');
    writeFileSync(file, 'x');
    const bad: Array<[option: 'templates' | 'static', value: unknown, message: RegExp]> = [
      ['templates', join(data, 'missing'), /names no existing directory/],
      ['templates', file, /names no existing directory/],
      ['templates', [data, join(data, 'missing')], /names no existing directory/],
      ['templates', 5, /a directory path or an array of them/],
      ['templates', [data, ''], /a directory path or an array of them/],
      ['static', join(data, 'missing'), /names no existing directory/],
      ['static', { dir: data }, /a directory path or an array of them/],
    ];
    for (const [option, value, message] of bad) {
      assert.throws(
        () => webgearRtc(testOptions(data, { [option]: value } as WebGearRtcOptions)),
        (error: unknown) =>
          error instanceof WebGearRtcOptionError && error.option === option && message.test(error.message) && error.message.includes(option),
        `${option}: ${JSON.stringify(value)}`,
      );
    }
  });

  test('a template written for vidgear’s WebGear_RTC renders unchanged: url_for(static, path=/…), extends, request', async () => {
    // vidgear-vitals' webgear_rtc/templates/{base,index}.html, trimmed of their licence comments and social links.
    const vidgear = writeFiles(dir(), {
      'base.html': `<!DOCTYPE html>
<html>
<head>
  <title>WebGear_RTC API Bare-minimum Template</title>
  <link rel="icon" type="image/png" sizes="32x32" href="{{ url_for('static', path='/img/favicon-32x32.png') }}">
  <link href="{{ url_for('static', path='/css/custom.css') }}" rel="stylesheet">
  <link href="//maxcdn.bootstrapcdn.com/font-awesome/4.1.0/css/font-awesome.min.css" rel="stylesheet">
</head>
<body>
  <div class="enhance-main">{% block content %}{% endblock %}</div>
  <p id="where">{{ request.url.path }} of {{ request.url }}</p>
  <script src="{{ url_for('static', path='/js/custom.js') }}"></script>
</body>
</html>`,
      'index.html': `{% extends "base.html" %}
{% block content %}
	<h1>WebGear_RTC Video Feed</h1>
    <div class="rows">
      <div id="videocontainer"><video id="video" autoplay="true" playsinline="true" controls="true" muted="true"></video></div>
    </div>
{% endblock %}`,
    });
    const agent = agentFor(made.make(testOptions(dir(), { templates: vidgear })));
    const page = await agent.get('/cam/?x=1').expect(200);
    assert.match(page.text, /<h1>WebGear_RTC Video Feed<\/h1>/);
    assert.match(page.text, /href="\/cam\/static\/img\/favicon-32x32\.png"/);
    assert.match(page.text, /href="\/cam\/static\/css\/custom\.css"/);
    assert.match(page.text, /<script src="\/cam\/static\/js\/custom\.js"><\/script>/);
    assert.match(page.text, /<p id="where">\/cam\/ of http:\/\/127\.0\.0\.1:\d+\/cam\/\?x=1<\/p>/);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('a broken template gives the 500 page (a traceback with logging), never a crash', () => {
  const dirs: TempDir[] = [];
  const made = instances();
  after(async () => {
    await made.closeAll();
    for (const each of dirs) each.cleanup();
  });

  function setup(logging: boolean) {
    const data = tempDir();
    const mine = tempDir();
    dirs.push(data, mine);
    writeFiles(mine.path, {
      // A vidgear user's typo: a route name that does not exist (and, here, looks like markup).
      'index.html': '{% extends "base.html" %}{% block content %}<a href="{{ url_for(\'<live>\') }}">x</a>{% endblock %}',
      'syntax.html': '{% if %}never closed',
      '404.html': '{{ path | no_such_filter }}',
    });
    const rtc = made.make(testOptions(data.path, { templates: mine.path, logging, logger: quietLogger() }));
    rtc.router.get('/syntax', (ctx) => rtc.render(ctx, 'syntax.html'));
    const errors: Error[] = [];
    const app = new Koa();
    app.on('error', (error: Error) => errors.push(error));
    app.use(mount('/admin', mount('/cam', rtc)));
    return { agent: request(app.callback()), errors };
  }

  test('without logging: the theme 500 page, nothing of the error; app "error" once per request', async () => {
    const { agent, errors } = setup(false);
    for (const path of ['/admin/cam', '/admin/cam/syntax']) {
      errors.length = 0;
      const response = await agent.get(path).expect(500);
      assert.match(String(response.headers['content-type']), /^text\/html/);
      assert.match(response.text, THEME_500);
      assert.match(response.text, /href="\/admin\/cam\/static\/css\/custom\.css"/, 'the 500 page links under the mount');
      assert.doesNotMatch(response.text, /live|Template render error|syntax\.html|\.ts:\d|\.js:\d/);
      assert.doesNotMatch(response.text, STACK_LINE);
      assert.equal(errors.length, 1, path);
      assert.match(errors[0]!.message, /(index|syntax)\.html\) \[Line \d+/, 'the error names the template and the line');
    }
    assert.match((await agent.get('/admin/cam').expect(500)).text, THEME_500, 'and it keeps answering');
    await agent.get('/admin/cam/static/css/custom.css').expect(200);
  });

  test('with logging: the traceback page, message and stack HTML-escaped', async () => {
    const { agent, errors } = setup(true);
    const response = await agent.get('/admin/cam').expect(500);
    assert.match(String(response.headers['content-type']), /^text\/html/);
    assert.ok(!response.text.includes('<live>'), 'the raw markup never reaches the page');
    assert.ok(response.text.includes('url_for: no route named &quot;&lt;live&gt;&quot;'), response.text);
    assert.match(response.text, /Template render error/);
    assert.match(decodeEntities(response.text), STACK_LINE);
    assert.equal(errors.length, 1);
    const syntax = await agent.get('/admin/cam/syntax').expect(500);
    assert.match(syntax.text, /syntax\.html/);
  });

  test('a broken 404.html: still a 404 (plain text), and app "error" says why', async () => {
    const { agent, errors } = setup(false);
    const response = await agent.get('/admin/cam/nope').expect(404);
    assert.equal(response.text, 'Not Found');
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /no_such_filter/);
  });
});
