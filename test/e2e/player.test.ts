/**
 * The default player page (issue #7): it shows the connection state, reconnects with backoff when the
 * server goes away and comes back, and applies the `jitterBufferTarget` latency hint.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  assertPlaysAt, launchChromium, makeTestVideo, measureFrames, openPlayer, sourceFrames, startServer, tempDir, testOptions,
  waitFor,
} from './helpers.ts';

const statusOf = (page: import('playwright-core').Page) => page.locator('#status').textContent();

test('the page reconnects by itself after the server restarts, and plays again', { timeout: 90_000 }, async () => {
  const data = tempDir();
  const browser = await launchChromium();
  const options = testOptions(data.path, { resolution: [320, 240] });
  let server = await startServer(options);
  const port = Number(new URL(server.url).port);
  try {
    const page = await browser.newPage();
    await openPlayer(page, `${server.url}/`);
    assert.ok(await waitFor(async () => (await statusOf(page)) === 'live', 3_000), 'the page says it is live');
    const firstSession = await page.evaluate(() => (window as any).webgear.id as string);

    await server.close(); // the server goes away: its peer connections close, its port is free
    const downAt = Date.now();
    assert.ok(
      await waitFor(async () => /retrying|reconnecting/.test((await statusOf(page)) ?? ''), 15_000, 200),
      `the page says it reconnects (${await statusOf(page)})`,
    );
    const noticedMs = Date.now() - downAt;
    server = await startServer(options, undefined, port);
    const upAt = Date.now();
    assert.ok(
      await waitFor(() => server.rtc.stats().viewers.some((viewer) => viewer.state === 'connected'), 30_000, 200),
      'the page connected to the new server',
    );
    const reconnectMs = Date.now() - upAt;
    assert.ok(await waitFor(async () => (await statusOf(page)) === 'live', 5_000), 'and says so');
    const secondSession = await page.evaluate(() => (window as any).webgear.id as string);
    assert.notEqual(secondSession, firstSession, 'a new session');
    const report = await measureFrames(page, 3_000, sourceFrames(server));
    console.log(`server down noticed after ${noticedMs} ms; back ${reconnectMs} ms after the server was`, report);
    assertPlaysAt(report, 20, 'again, the page');
    assert.deepEqual([report.width, report.height], [320, 240]);
  } finally {
    await browser.close();
    await server.close();
    data.cleanup();
  }
});

test('jitterBufferTarget reaches the page\'s receivers; without it the browser keeps its own', { timeout: 60_000 }, async () => {
  const data = tempDir();
  const browser = await launchChromium();
  const hinted = await startServer(testOptions(data.path, { resolution: [320, 240], jitterBufferTarget: 150 }));
  const plain = await startServer(testOptions(data.path, { resolution: [320, 240] }));
  try {
    const readTargets = (page: import('playwright-core').Page) =>
      page.evaluate(() =>
        ((window as any).webgear.pc as RTCPeerConnection)
          .getReceivers()
          .filter((receiver) => receiver.track.kind === 'video')
          .map((receiver) => (receiver as unknown as { jitterBufferTarget: number | null }).jitterBufferTarget),
      );
    const page = await browser.newPage();
    await openPlayer(page, `${hinted.url}/`);
    assert.deepEqual(await readTargets(page), [150]);
    const other = await browser.newPage();
    await openPlayer(other, `${plain.url}/`);
    assert.deepEqual(await readTargets(other), [null]);
  } finally {
    await browser.close();
    await hinted.close();
    await plain.close();
    data.cleanup();
  }
});

test('a refusal the page cannot fix (4xx) is shown, not retried, and there is no alert()', { timeout: 60_000 }, async () => {
  const data = tempDir();
  const browser = await launchChromium();
  // A guard that refuses the signaling (403) while serving the page.
  const server = await startServer(testOptions(data.path, { authorize: (ctx) => ctx.method !== 'POST' }));
  try {
    const page = await browser.newPage();
    let dialogs = 0;
    page.on('dialog', async (dialog) => {
      dialogs++;
      await dialog.dismiss();
    });
    await page.goto(`${server.url}/`);
    assert.ok(await waitFor(async () => /403/.test((await statusOf(page)) ?? ''), 5_000), `shown: ${await statusOf(page)}`);
    const attempts = await page.evaluate(() => (window as any).webgear.attempts as number);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal(await page.evaluate(() => (window as any).webgear.attempts as number), attempts, 'no retry');
    assert.equal(dialogs, 0);
    assert.equal(await page.locator('#status').getAttribute('data-state'), 'error');
  } finally {
    await browser.close();
    await server.close();
    data.cleanup();
  }
});

test('a source with sound: the page plays it muted, shows Unmute, and unmutes on a click', { timeout: 60_000 }, async () => {
  const data = tempDir();
  const clip = makeTestVideo(`${data.path}/tone.mp4`, { seconds: 10, width: 320, height: 240, audio: true });
  const browser = await launchChromium();
  const server = await startServer(testOptions(data.path, { source: clip, loop: true }));
  try {
    const page = await browser.newPage();
    await openPlayer(page, `${server.url}/`);
    const button = page.locator('#unmute');
    assert.ok(await waitFor(() => button.isVisible(), 5_000), 'the Unmute button appears when sound arrives');
    assert.equal(await page.evaluate(() => document.querySelector('video')!.muted), true, 'autoplay starts muted');
    await button.click();
    assert.equal(await page.evaluate(() => document.querySelector('video')!.muted), false);
    assert.equal(await button.textContent(), 'Mute');
    const audio = async () =>
      page.evaluate(async () => {
        const stats = await ((window as any).webgear.pc as RTCPeerConnection).getStats();
        let packets = 0;
        stats.forEach((entry) => {
          if (entry.type === 'inbound-rtp' && entry.kind === 'audio') packets = entry.packetsReceived;
        });
        return packets;
      });
    assert.ok(await waitFor(async () => (await audio()) > 50, 5_000), `audio packets received (${await audio()})`);
  } finally {
    await browser.close();
    await server.close();
    data.cleanup();
  }
});

test('a source without sound: no Unmute button', { timeout: 60_000 }, async () => {
  const data = tempDir();
  const browser = await launchChromium();
  const server = await startServer(testOptions(data.path, { resolution: [320, 240] }));
  try {
    const page = await browser.newPage();
    await openPlayer(page, `${server.url}/`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await page.locator('#unmute').isVisible(), false);
  } finally {
    await browser.close();
    await server.close();
    data.cleanup();
  }
});

test('while it connects the page animates nothing; the video gets its controls with the first picture', { timeout: 60_000 }, async () => {
  // An animation (a pulsing status dot, Chromium's spinner in the video's controls) makes the browser draw
  // 60 frames a second while it sets up the connection, which delays the picture (docs/benchmarks.md).
  const data = tempDir();
  const browser = await launchChromium();
  const server = await startServer(testOptions(data.path, { resolution: [320, 240] }));
  try {
    const page = await browser.newPage();
    // Hold the offer a while, to look at the page while it connects.
    await page.route('**/whep', async (route) => {
      if (route.request().method() === 'POST') await new Promise((resolve) => setTimeout(resolve, 1_500));
      await route.continue();
    });
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#status[data-state="connecting"]');
    const connecting = await page.evaluate(() => ({
      controls: document.querySelector('video')!.controls,
      animations: document.getAnimations().map((animation) => (animation as CSSAnimation).animationName ?? String(animation)),
    }));
    assert.deepEqual(connecting, { controls: false, animations: [] }, 'no controls and no animation while connecting');
    assert.ok(
      await waitFor(() => page.evaluate(() => document.querySelector('video')!.videoWidth > 0), 15_000),
      'the picture shows',
    );
    assert.ok(
      await waitFor(() => page.evaluate(() => document.querySelector('video')!.controls), 2_000),
      'then the video has its controls',
    );
  } finally {
    await browser.close();
    await server.close();
    data.cleanup();
  }
});

test('the player is inline, before the stylesheet: it plays without a request for its script', { timeout: 60_000 }, async () => {
  // By URL the script came a round trip after the page (40 ms of the first frame at 40 ms RTT, more on a
  // loaded machine: docs/benchmarks-links.md). Here the browser may not fetch it at all, and plays.
  const data = tempDir();
  const browser = await launchChromium();
  const posts: string[] = [];
  const server = await startServer(testOptions(data.path, { resolution: [320, 240] }), (app, rtc) => {
    app.use(async (ctx, next) => {
      if (ctx.method === 'POST') posts.push(ctx.path);
      await next();
    });
    app.use(rtc);
  });
  try {
    const html = await (await fetch(`${server.url}/`)).text();
    const at = (pattern: RegExp) => html.search(pattern);
    assert.ok(at(/<script>[^]*webgearRtcPlayer[^]*<\/script>/) >= 0, 'the page carries the player inline');
    assert.ok(at(/<script>/) < at(/<link rel="stylesheet"/), 'before the stylesheet (a script after it would wait for it)');
    assert.ok(at(/<script>/) < at(/<link rel="icon"/), 'and the icon');
    assert.ok(at(/<script src="\/static\/js\/custom\.js" async>/) > at(/<main/), 'and by URL at the end, for a CSP that refuses it inline');

    const page = await browser.newPage();
    const fetched: string[] = [];
    await page.route('**/static/js/custom.js', (route) => {
      fetched.push(route.request().url());
      return route.abort();
    });
    await openPlayer(page, `${server.url}/`);
    assert.deepEqual(posts, ['/whep'], 'one player, connected once');
    // The page with its player inline comes in TCP's first window (10 segments of 1448 bytes, headers
    // included): past it, its last bytes wait a round trip for the first ones' ACKs.
    const { encodedBodySize, decodedBodySize } = await page.evaluate(() => performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming);
    assert.ok(decodedBodySize > 12_000 && encodedBodySize < 12_000, `the page compressed: ${decodedBodySize} → ${encodedBodySize} bytes`);
    // The request by URL may have gone (refused here); it is not what played.
    assert.ok(fetched.length <= 1, `custom.js asked for at most once (${fetched.length})`);
  } finally {
    await browser.close();
    await server.close();
    data.cleanup();
  }
});

test('the player connects while the page is still parsed; the page asks for little beside, compressed', { timeout: 60_000 }, async () => {
  // Its settings are in <head> (<meta name="webgear-config">), so the inline player makes its peer
  // connection as it runs; with them on #webgear it waited for the whole page (DOMContentLoaded), and the
  // offer went out ~70 ms later at 40 ms RTT (docs/benchmarks-links.md). And the offer finds a kept-alive
  // connection more often when no image request holds one: the logo is inline.
  const data = tempDir();
  const browser = await launchChromium();
  const server = await startServer(testOptions(data.path, { resolution: [320, 240] }));
  try {
    const html = await (await fetch(`${server.url}/`)).text();
    assert.ok(html.search(/<meta name="webgear-config"/) < html.search(/<script>/), 'the settings come before the inline player');

    const page = await browser.newPage();
    await page.addInitScript(() => {
      const made: string[] = [];
      (window as unknown as { __made: string[] }).__made = made;
      const Native = window.RTCPeerConnection;
      window.RTCPeerConnection = function (this: unknown, ...args: ConstructorParameters<typeof RTCPeerConnection>) {
        made.push(document.readyState);
        return new Native(...args);
      } as unknown as typeof RTCPeerConnection;
      window.RTCPeerConnection.prototype = Native.prototype;
    });
    const requested: string[] = [];
    page.on('request', (request) => requested.push(new URL(request.url()).pathname));
    await openPlayer(page, `${server.url}/`);
    assert.deepEqual(await page.evaluate(() => (window as unknown as { __made: string[] }).__made), ['loading'],
      'one peer connection, made before the page was parsed');
    assert.ok(!requested.some((path) => path.endsWith('.svg') && !path.endsWith('favicon.svg')), `no image but the icon: ${requested.join(' ')}`);
    assert.ok(await page.locator('header svg.brand-logo').isVisible(), 'the logo, inline');
    for (const file of ['js/custom.js', 'css/custom.css']) {
      const response = await fetch(`${server.url}/static/${file}`, { headers: { 'Accept-Encoding': 'gzip, br' } });
      assert.match(response.headers.get('content-encoding') ?? '', /gzip|br/, `${file} compressed`);
      await response.arrayBuffer();
    }
  } finally {
    await browser.close();
    await server.close();
    data.cleanup();
  }
});

test('a theme with its settings on #webgear (vidgear\'s layout) and the player by URL plays', { timeout: 60_000 }, async () => {
  const data = tempDir();
  const templates = join(data.path, 'webgear_rtc', 'templates');
  mkdirSync(templates, { recursive: true });
  writeFileSync(join(templates, 'index.html'), [
    '<!doctype html><title>mine</title>',
    '<script src="{{ url_for(\'static\', path=\'js/custom.js\') }}" async></script>',
    '<main id="webgear" data-config="{{ config | dump }}"><video id="video" autoplay muted playsinline></video></main>',
  ].join('\n'));
  const browser = await launchChromium();
  const server = await startServer(testOptions(data.path, { resolution: [320, 240] }));
  try {
    const page = await browser.newPage();
    await openPlayer(page, `${server.url}/`);
    assert.equal(await page.title(), 'mine', 'the theme\'s page');
  } finally {
    await browser.close();
    await server.close();
    data.cleanup();
  }
});

test('under a Content-Security-Policy that refuses inline scripts the player comes by URL, and runs once either way', { timeout: 60_000 }, async () => {
  const data = tempDir();
  const browser = await launchChromium();
  const posts: string[] = [];
  let csp = true;
  const server = await startServer(testOptions(data.path, { resolution: [320, 240] }), (app, rtc) => {
    app.use(async (ctx, next) => {
      if (ctx.method === 'POST') posts.push(ctx.path);
      await next();
      if (csp) ctx.set('Content-Security-Policy', "script-src 'self'");
    });
    app.use(rtc);
  });
  try {
    for (const withCsp of [true, false]) {
      csp = withCsp;
      posts.length = 0;
      const page = await browser.newPage();
      const refused: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) refused.push(message.text());
      });
      await openPlayer(page, `${server.url}/`);
      // Let the second copy arrive and run (or not) before counting.
      await page.waitForFunction(() => performance.getEntriesByType('resource').some((entry) => entry.name.endsWith('/static/js/custom.js')), undefined, { timeout: 5_000 });
      await page.waitForTimeout(300);
      assert.deepEqual(posts, ['/whep'], `${withCsp ? 'with' : 'without'} the CSP: one player, connected once`);
      assert.equal(refused.length > 0, withCsp, `the inline copy refused only under the CSP (${JSON.stringify(refused)})`);
      await page.close();
    }
  } finally {
    await browser.close();
    await server.close();
    data.cleanup();
  }
});
