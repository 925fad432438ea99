/**
 * The player page plays in Chromium wherever the host puts it (issue #4): at the root, under koa-mount
 * (reached without the trailing slash), under nested mounts, with `prefix`, and as two cameras in one app.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type Koa from 'koa';
import mount from 'koa-mount';
import type { Browser, Page } from 'playwright-core';
import { webgearRtc, type WebGearRtc, type WebGearRtcOptions } from 'webgear-rtc';
import {
  assertPlaysAt, ffmpegChildrenOf, launchChromium, measurePlayback, sourceFrames, startServer, tempDir, testOptions, type PlaybackReport,
} from './helpers.ts';

/** What a page asked of the server: every response status, and where it sent its offer. */
interface Traffic {
  failed: string[];
  offers: string[];
}

async function watchedPage(browser: Browser): Promise<{ page: Page; traffic: Traffic }> {
  const page = await browser.newPage();
  const traffic: Traffic = { failed: [], offers: [] };
  page.on('response', (response) => {
    if (response.status() >= 400) traffic.failed.push(`${response.status()} ${response.url()}`);
  });
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().endsWith('/whep')) traffic.offers.push(new URL(request.url()).pathname);
  });
  return { page, traffic };
}

function assertPlays(report: PlaybackReport, traffic: Traffic, width: number, height: number, offerPath: string): void {
  assert.equal(report.state, 'connected');
  assert.equal(report.width, width);
  assert.equal(report.height, height);
  assertPlaysAt(report, 25);
  assert.deepEqual(traffic.offers, [offerPath]);
  assert.deepEqual(traffic.failed, [], 'every URL the page used answered');
}

interface Scenario {
  name: string;
  /** What the user types: the mount point without its trailing slash where there is one. */
  path: string;
  offerPath: string;
  options?: WebGearRtcOptions;
  use(app: Koa, rtc: WebGearRtc): void;
}

const SCENARIOS: Scenario[] = [
  { name: 'at the root /', path: '/', offerPath: '/whep', use: (app, rtc) => app.use(rtc) },
  { name: "koa-mount('/cam'), opened as /cam", path: '/cam', offerPath: '/cam/whep', use: (app, rtc) => app.use(mount('/cam', rtc)) },
  {
    name: "mount('/admin', mount('/cam')), opened as /admin/cam",
    path: '/admin/cam',
    offerPath: '/admin/cam/whep',
    use: (app, rtc) => app.use(mount('/admin', mount('/cam', rtc))),
  },
  { name: "prefix: '/cam2', opened as /cam2/", path: '/cam2/', offerPath: '/cam2/whep', options: { prefix: '/cam2' }, use: (app, rtc) => app.use(rtc) },
];

describe('the page plays in Chromium at each mount point', { timeout: 120_000 }, () => {
  const data = tempDir();
  let browser: Browser;

  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    data.cleanup();
  });

  for (const scenario of SCENARIOS) {
    test(scenario.name, async () => {
      const server = await startServer(
        testOptions(data.path, { resolution: [640, 360], framerate: 30, ...scenario.options }),
        (app, rtc) => {
          scenario.use(app, rtc);
          app.use((ctx) => {
            if (ctx.path === '/host') ctx.body = 'host';
          });
        },
      );
      const { page, traffic } = await watchedPage(browser);
      try {
        const report = await measurePlayback(page, `${server.url}${scenario.path}`, 3_000, { source: sourceFrames(server), againBelowFps: 25 });
        console.log(scenario.name, report);
        assertPlays(report, traffic, 640, 360, scenario.offerPath);
      } finally {
        await page.close();
        await server.close();
      }
      assert.deepEqual(ffmpegChildrenOf(), []);
    });
  }

  test('two cameras in one app, /cam and /cam2, play at once, each its own stream', async () => {
    const second = webgearRtc(testOptions(data.path, { prefix: '/cam2', resolution: [320, 240], framerate: 30 }));
    const server = await startServer(testOptions(data.path, { resolution: [640, 360], framerate: 30 }), (app, rtc) => {
      app.use(mount('/cam', rtc));
      app.use(second);
    });
    const one = await watchedPage(browser);
    const two = await watchedPage(browser);
    try {
      const [reportOne, reportTwo] = await Promise.all([
        measurePlayback(one.page, `${server.url}/cam`, 3_000, { settleMs: 1_500, source: sourceFrames(server) }),
        measurePlayback(two.page, `${server.url}/cam2`, 3_000, { settleMs: 1_500, source: sourceFrames({ rtc: second }) }),
      ]);
      console.log('two cameras', reportOne, reportTwo);
      assertPlays(reportOne, one.traffic, 640, 360, '/cam/whep');
      assertPlays(reportTwo, two.traffic, 320, 240, '/cam2/whep');
      assert.equal(server.rtc.stats().viewers.length, 1);
      assert.equal(second.stats().viewers.length, 1);
      assert.equal(ffmpegChildrenOf().length, 2);
    } finally {
      await one.page.close();
      await two.page.close();
      await second.close();
      await server.close();
    }
    assert.deepEqual(ffmpegChildrenOf(), []);
  });
});
