/** The HTTP face of the middleware: page, static files, error pages, signaling errors, close. Real Koa, real werift. */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import Koa from 'koa';
import request from 'supertest';
import { webgearRtc, type Logger, type WebGearRtc } from 'webgear-rtc';
import {
  connectWeriftViewer,
  decodeEntities,
  ffmpegChildrenOf,
  sleep,
  startServer,
  tempDir,
  testOptions,
  waitFor,
  type TestServer,
  type WeriftViewer,
} from './helpers.ts';
import { assertJsonError, BAD_OFFERS } from './fixtures/bad-signaling.ts';

// ---------------------------------------------------------------------------------------------------------------
// helpers

/** Suites create their folder in `before`: a filtered run that skips a suite's hooks then leaves nothing behind. */
type TempDir = ReturnType<typeof tempDir>;

interface PageConfig {
  offerUrl: string;
  closeUrl: string;
  iceServers: unknown[];
  iceGatheringTimeoutMs?: number;
}

function pageConfig(html: string): PageConfig {
  const match = /<meta name="webgear-config" content="([^"]*)"/.exec(html);
  assert.ok(match, 'the page has the player\'s configuration in <head>');
  return JSON.parse(decodeEntities(match[1]!)) as PageConfig;
}

/** Every `href`/`src` of the page that points into the static folder. */
function assetUrls(html: string): string[] {
  return [...html.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => decodeEntities(m[1]!)).filter((url) => url.includes('/static/'));
}

/** A request whose path goes out byte for byte (supertest and fetch normalise `..` and escape `<`). */
function rawGet(url: string, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, path, method: 'GET', headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * werift's DTLS client re-sends its last handshake flight unless, 500 ms later, it has seen the answer; a peer
 * connection closed inside that window keeps retransmitting (and the process alive) for ~33 s. Waiting out the
 * window after `connected` keeps the test file quick to exit.
 */
const letDtlsSettle = () => sleep(1_000);

function collectingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (message: string) => void lines.push(message);
  return { lines, debug: push, info: push, warn: push, error: push };
}

/** The theme's pages, recognised by their text (templates/templates/{404,500}.html). */
const THEME_404 = /Page not found/;
const THEME_500 = /Something went wrong on the server/;
const STACK_LINE = /\n\s+at .+[(:]/;

/** Host middleware: an error handler before the plugin, routes after it. */
interface Host {
  caught: Error[];
  appErrors: Error[];
}

function mountWithHost(host: Host, customize: (rtc: WebGearRtc) => void = () => {}) {
  return (app: Koa, rtc: WebGearRtc) => {
    app.on('error', (error: Error) => host.appErrors.push(error));
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (error) {
        host.caught.push(error as Error);
        ctx.status = 500;
        ctx.type = 'text';
        ctx.body = `host handled: ${(error as Error).message}`;
      }
    });
    customize(rtc);
    app.use(rtc);
    app.use(async (ctx, next) => {
      if (ctx.path === '/host') ctx.body = 'host route';
      else if (ctx.path === '/host-boom') throw new Error('host boom');
      else await next();
    });
  };
}

/** Custom routes every test server gets on `rtc.router`. */
function addCustomRoutes(rtc: WebGearRtc): void {
  rtc.router.get('/hello', (ctx) => {
    ctx.body = 'hi';
  });
  rtc.router.get('/kaboom', () => {
    throw new Error('kaboom <b>');
  });
  rtc.router.get('/themed', (ctx) => {
    rtc.render(ctx, '404.html', { path: '/x' });
  });
}



// ---------------------------------------------------------------------------------------------------------------

describe('at the root of a host app', () => {
  let data: TempDir;
  const host: Host = { caught: [], appErrors: [] };
  let server: TestServer;

  before(async () => {
    data = tempDir();
    server = await startServer(testOptions(data.path), mountWithHost(host, addCustomRoutes));
  });
  after(async () => {
    await server?.close();
    data?.cleanup();
  });
  const resetHost = () => {
    host.caught.length = 0;
    host.appErrors.length = 0;
  };

  test('GET / renders the player page with its config, and every asset it links answers 200', async () => {
    const response = await request(server.url).get('/').expect(200);
    assert.match(String(response.headers['content-type']), /^text\/html/);
    assert.match(response.text, /<video\b/);
    const config = pageConfig(response.text);
    assert.equal(config.offerUrl, '/offer');
    assert.equal(config.closeUrl, '/close_connection');
    assert.deepEqual(config.iceServers, []);
    const assets = assetUrls(response.text);
    assert.ok(assets.length >= 3, `the page links its css, js and images: ${assets.join(', ')}`);
    for (const asset of assets) {
      assert.ok(asset.startsWith('/static/'), asset);
      await request(server.url).get(asset).expect(200);
    }
  });

  test('/static/css/custom.css is served as text/css from the data folder', async () => {
    const response = await request(server.url).get('/static/css/custom.css').expect(200);
    assert.match(String(response.headers['content-type']), /^text\/css/);
    assert.ok(response.text.length > 0);
  });

  test(
    'a missing static file gets the theme 404 page',
    async () => {
      const response = await request(server.url).get('/static/nope.css');
      assert.equal(response.status, 404);
      assert.match(String(response.headers['content-type']), /^text\/html/);
      assert.match(response.text, THEME_404);
    },
  );

  test('a missing static file is a 404 and never a 200', async () => {
    const response = await request(server.url).get('/static/nope.css');
    assert.equal(response.status, 404);
  });

  test('path traversal out of the static folder never returns /etc/passwd', async () => {
    for (const path of [
      '/static/../../../../etc/passwd',
      '/static/../../../../../../../../etc/passwd',
      '/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/static/css/../../../../../../etc/passwd',
    ]) {
      const response = await rawGet(server.url, path);
      assert.notEqual(response.status, 200, `${path} answered ${response.status}`);
      assert.doesNotMatch(response.body, /root:.*:0:0:/, path);
      assert.ok(response.status >= 400 && response.status < 500, `${path}: a client error, got ${response.status}`);
    }
  });

  test('a host route after the plugin answers normally', async () => {
    const response = await request(server.url).get('/host').expect(200);
    assert.equal(response.text, 'host route');
  });

  test("an unknown path gets Koa's plain Not Found, not the theme's 404 page", async () => {
    const response = await request(server.url).get('/no-such-page').expect(404);
    assert.equal(response.text, 'Not Found');
    assert.doesNotMatch(response.text, THEME_404);
  });

  test("an error thrown by host middleware reaches the host's own handler, not a plugin 500 page", async () => {
    resetHost();
    const response = await request(server.url).get('/host-boom').expect(500);
    assert.equal(response.text, 'host handled: host boom');
    assert.equal(host.caught.length, 1);
    assert.equal(host.caught[0]!.message, 'host boom');
  });

  test("without a host handler, a host error gets Koa's own 500 and app 'error'", async () => {
    const data2 = tempDir();
    const app = new Koa();
    const errors: Error[] = [];
    app.on('error', (error: Error) => errors.push(error));
    const rtc = webgearRtc(testOptions(data2.path));
    try {
      app.use(rtc);
      app.use(() => {
        throw new Error('host boom');
      });
      const response = await request(app.callback()).get('/anything').expect(500);
      assert.equal(response.text, 'Internal Server Error');
      assert.doesNotMatch(response.text, THEME_500);
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.message, 'host boom');
    } finally {
      await rtc.close();
      data2.cleanup();
    }
  });

  test('a custom route added to rtc.router answers', async () => {
    const response = await request(server.url).get('/hello').expect(200);
    assert.equal(response.text, 'hi');
  });

  test('rtc.render() from a custom route renders the theme', async () => {
    const response = await request(server.url).get('/themed').expect(200);
    assert.match(String(response.headers['content-type']), /^text\/html/);
    assert.match(response.text, THEME_404);
    assert.match(response.text, /<code>\/x<\/code>/);
    assert.match(response.text, /href="\/static\/css\/custom\.css"/);
  });

  test('an error in a custom route: the theme 500 page, nothing of the error, one app "error"', async () => {
    resetHost();
    const response = await request(server.url).get('/kaboom').expect(500);
    assert.match(String(response.headers['content-type']), /^text\/html/);
    assert.match(response.text, THEME_500);
    assert.doesNotMatch(response.text, /kaboom/);
    assert.doesNotMatch(response.text, STACK_LINE);
    assert.doesNotMatch(response.text, /\.ts:\d+/);
    assert.equal(host.appErrors.length, 1);
    assert.equal(host.appErrors[0]!.message, 'kaboom <b>');
    assert.equal(host.caught.length, 0, 'the plugin answered it; the host handler saw nothing');
  });

  test('X-Content-Type-Options: nosniff on the page, static files and /offer errors', async () => {
    const responses: Array<[string, request.Response]> = [
      ['GET /', await request(server.url).get('/').expect(200)],
      ['GET custom.css', await request(server.url).get('/static/css/custom.css').expect(200)],
      ['GET custom.js', await request(server.url).get('/static/js/custom.js').expect(200)],
      ['POST /offer text/plain', await request(server.url).post('/offer').set('content-type', 'text/plain').send('x').expect(415)],
      ['POST /offer {}', await request(server.url).post('/offer').send({}).expect(400)],
      ['GET /offer', await request(server.url).get('/offer').expect(405)],
    ];
    for (const [name, response] of responses) {
      assert.equal(response.headers['x-content-type-options'], 'nosniff', name);
    }
  });
});

describe('POST /offer with bad input: 4xx JSON {error}, never 500, no ffmpeg started', () => {
  let data: TempDir;
  let server: TestServer;
  const appErrors: Error[] = [];

  before(async () => {
    data = tempDir();
    server = await startServer(testOptions(data.path));
    server.app.on('error', (error: Error) => appErrors.push(error));
  });
  after(async () => {
    await server?.close();
    data?.cleanup();
  });

  const assertNothingStarted = () => {
    assert.deepEqual(appErrors, [], 'a client error is not reported to app "error"');
    assert.equal(server.rtc.stats().source.state, 'idle');
    assert.deepEqual(server.rtc.stats().viewers, []);
    assert.deepEqual(ffmpegChildrenOf(), []);
  };

  const cases = BAD_OFFERS;

  for (const [name, status, send] of cases) {
    test(`${name} → ${status}`, async () => {
      const response = await send(request.agent(server.url));
      assertJsonError(response, status);
      assertNothingStarted();
    });
  }

  test('GET /offer → 405 with Allow: POST and a JSON error', async () => {
    const response = await request(server.url).get('/offer');
    assertJsonError(response, 405);
    assert.equal(response.headers.allow, 'POST');
    assertNothingStarted();
  });
});

describe('under prefix "/cam"', () => {
  let data: TempDir;
  const host: Host = { caught: [], appErrors: [] };
  let server: TestServer;

  before(async () => {
    data = tempDir();
    server = await startServer(testOptions(data.path, { prefix: '/cam' }), mountWithHost(host, addCustomRoutes));
  });
  after(async () => {
    await server?.close();
    data?.cleanup();
  });

  for (const path of ['/cam', '/cam/']) {
    test(`GET ${path} renders the page with every URL under /cam`, async () => {
      const response = await request(server.url).get(path).expect(200);
      assert.match(response.text, /<video\b/);
      const config = pageConfig(response.text);
      assert.equal(config.offerUrl, '/cam/offer');
      assert.equal(config.closeUrl, '/cam/close_connection');
      const assets = assetUrls(response.text);
      assert.ok(assets.length >= 3);
      for (const asset of assets) {
        assert.ok(asset.startsWith('/cam/static/'), asset);
        await request(server.url).get(asset).expect(200);
      }
      assert.match(response.text, /href="\/cam\/"/, 'the brand link goes back to the stream');
    });
  }

  test('/cam/nope → the theme 404 page (404, HTML)', async () => {
    const response = await request(server.url).get('/cam/nope').expect(404);
    assert.match(String(response.headers['content-type']), /^text\/html/);
    assert.match(response.text, THEME_404);
    assert.match(response.text, /<code>\/cam\/nope<\/code>/);
    assert.equal(response.headers['x-content-type-options'], 'nosniff');
  });

  test('/cam/static/nope.css → the theme 404 page', async () => {
    const response = await request(server.url).get('/cam/static/nope.css').expect(404);
    assert.match(response.text, THEME_404);
  });

  test('the 404 page escapes the requested path', async () => {
    const response = await rawGet(server.url, '/cam/<script>x</script>');
    assert.equal(response.status, 404);
    assert.match(String(response.headers['content-type']), /^text\/html/);
    assert.match(response.body, THEME_404);
    assert.doesNotMatch(response.body, /<script>x/);
    assert.match(response.body, /&lt;script&gt;x&lt;\/script&gt;|&#60;script&#62;x/);
  });

  test('a custom route answers under the prefix, and only there', async () => {
    const response = await request(server.url).get('/cam/hello').expect(200);
    assert.equal(response.text, 'hi');
    const outside = await request(server.url).get('/hello').expect(404);
    assert.equal(outside.text, 'Not Found');
  });

  test('paths outside the prefix stay the host’s: its routes, its 404, a /camera that only looks alike', async () => {
    assert.equal((await request(server.url).get('/host').expect(200)).text, 'host route');
    assert.equal((await request(server.url).get('/').expect(404)).text, 'Not Found');
    assert.equal((await request(server.url).get('/camera').expect(404)).text, 'Not Found');
    assert.equal((await request(server.url).get('/static/css/custom.css').expect(404)).text, 'Not Found');
  });

  test('an error in a custom route under the prefix: the theme 500 page', async () => {
    host.appErrors.length = 0;
    const response = await request(server.url).get('/cam/kaboom').expect(500);
    assert.match(response.text, THEME_500);
    assert.doesNotMatch(response.text, /kaboom/);
    assert.equal(host.appErrors.length, 1);
  });
});

describe('with logging on, a 500 shows the escaped traceback', () => {
  let data: TempDir;
  const host: Host = { caught: [], appErrors: [] };
  const logger = collectingLogger();
  let server: TestServer;

  before(async () => {
    data = tempDir();
    server = await startServer(testOptions(data.path, { logging: true, logger }), mountWithHost(host, addCustomRoutes));
  });
  after(async () => {
    await server?.close();
    data?.cleanup();
  });

  test('500 with the message and a stack line, HTML-escaped; app "error" once', async () => {
    const response = await request(server.url).get('/kaboom').expect(500);
    assert.match(String(response.headers['content-type']), /^text\/html/);
    assert.ok(!response.text.includes('<b>'), 'the raw <b> never reaches the page');
    assert.match(response.text, /kaboom (&lt;|&#60;)b(&gt;|&#62;)/);
    assert.ok(decodeEntities(response.text).includes('kaboom <b>'));
    assert.match(decodeEntities(response.text), STACK_LINE);
    assert.equal(host.appErrors.length, 1);
    assert.equal(host.appErrors[0]!.message, 'kaboom <b>');
    assert.equal(host.caught.length, 0);
  });

  test('the escape is the usual named entity', async () => {
    const response = await request(server.url).get('/kaboom').expect(500);
    assert.ok(response.text.includes('kaboom &lt;b&gt;'), response.text);
  });
});

describe('POST /close_connection', () => {
  let data: TempDir;
  let server: TestServer;
  const viewers: WeriftViewer[] = [];

  before(async () => {
    data = tempDir();
    server = await startServer(testOptions(data.path, { resolution: [320, 240], framerate: 15 }));
  });
  after(async () => {
    await Promise.all(viewers.map((viewer) => viewer.close()));
    await server?.close();
    data?.cleanup();
  });

  test('without an id → 400 JSON', async () => {
    assertJsonError(await request(server.url).post('/close_connection').send({}), 400);
    assertJsonError(await request(server.url).post('/close_connection'), 400);
    assertJsonError(await request(server.url).post('/close_connection').set('content-type', 'text/plain').send('not json'), 400);
    assertJsonError(await request(server.url).post('/close_connection').send({ id: 5 }), 400);
  });

  test(
    'an unknown id → 404 JSON',
    async () => {
      assertJsonError(await request(server.url).post('/close_connection').send({ id: 'no-such-session' }), 404);
    },
  );

  test('an unknown id → 404, and not a 500', async () => {
    const response = await request(server.url).post('/close_connection').send({ id: 'no-such-session' });
    assert.equal(response.status, 404);
  });

  test("closing one viewer's session ends it and leaves the other watching", async () => {
    const first = await connectWeriftViewer(`${server.url}/offer`);
    viewers.push(first);
    const second = await connectWeriftViewer(`${server.url}/offer`);
    viewers.push(second);
    await Promise.all([first.connected, second.connected]);
    await letDtlsSettle();
    assert.ok(first.frames > 0 && second.frames > 0, `both receive frames (${first.frames}, ${second.frames})`);
    assert.ok(first.id && second.id && first.id !== second.id, 'each session has its own id');
    const ids = () => server.rtc.stats().viewers.map((viewer) => viewer.id);
    assert.ok(await waitFor(() => ids().includes(first.publicId) && ids().includes(second.publicId), 5_000));
    assert.ok(!ids().includes(first.id), 'stats show the public id, not the session key');

    // As the page's sendBeacon sends it: JSON text with a text/plain content type.
    const response = await request(server.url)
      .post('/close_connection')
      .set('content-type', 'text/plain')
      .send(JSON.stringify({ id: first.id }))
      .expect(200);
    assert.deepEqual(response.body, { closed: first.id });
    assert.ok(await waitFor(() => !ids().includes(first.publicId), 5_000), 'the closed viewer left the stats');

    const packetsBefore = second.packets;
    await sleep(500);
    assert.ok(ids().includes(second.publicId), 'the other viewer is still there');
    assert.equal(server.rtc.stats().viewers.find((viewer) => viewer.id === second.publicId)?.state, 'connected');
    assert.ok(
      await waitFor(() => second.packets > packetsBefore, 3_000),
      `the other viewer still receives media (${second.packets} packets)`,
    );

    // The session is gone: closing it again is a 404, not a 500.
    const again = await request(server.url).post('/close_connection').send({ id: first.id });
    assert.equal(again.status, 404);
  });
});

describe('after rtc.close()', () => {
  let data: TempDir;
  let server: TestServer;
  let viewer: WeriftViewer | undefined;

  before(async () => {
    data = tempDir();
    server = await startServer(testOptions(data.path, { resolution: [320, 240], framerate: 15 }), (app, rtc) => {
      app.use(rtc);
      app.use(async (ctx, next) => {
        if (ctx.path === '/host') ctx.body = 'host route';
        else await next();
      });
    });
    // A running stream, so that close() has an ffmpeg to stop.
    viewer = await connectWeriftViewer(`${server.url}/offer`);
    await viewer.connected;
    assert.ok(await waitFor(() => server.rtc.stats().source.state === 'running', 10_000), 'ffmpeg runs');
    await letDtlsSettle();
    assert.ok(viewer.frames > 0, 'the viewer receives frames');
    assert.equal(ffmpegChildrenOf().length, 1);
    await server.rtc.close();
  });
  after(async () => {
    await viewer?.close();
    await server?.close();
    data?.cleanup();
  });

  test('no ffmpeg child remains, and the source and viewers are closed', () => {
    assert.deepEqual(ffmpegChildrenOf(), []);
    assert.equal(server.rtc.stats().source.state, 'closed');
    assert.deepEqual(server.rtc.stats().viewers, []);
  });

  test('GET / and POST /offer → 503', async () => {
    await request(server.url).get('/').expect(503);
    const offer = await request(server.url).post('/offer').send({ sdp: 'v=0', type: 'offer' });
    assert.equal(offer.status, 503);
    assert.equal(typeof offer.body.error, 'string');
    await request(server.url).get('/static/css/custom.css').expect(503);
  });

  test('host routes and the host 404 still work', async () => {
    assert.equal((await request(server.url).get('/host').expect(200)).text, 'host route');
    assert.equal((await request(server.url).get('/no-such-page').expect(404)).text, 'Not Found');
  });

  test('close() twice and shutdown() are fine', async () => {
    await server.rtc.close();
    await server.rtc.shutdown();
    await server.rtc[Symbol.asyncDispose]();
    assert.deepEqual(ffmpegChildrenOf(), []);
    await request(server.url).get('/').expect(503);
  });

  test('rtc.closed is true', () => {
    assert.equal(server.rtc.closed, true);
  });
});
