import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, measurePlayback, startServer, tempDir, testOptions, waitFor, type TestServer } from './helpers.ts';

describe('the default page in Chromium', () => {
  const data = tempDir();
  let browser: Browser;
  let server: TestServer;

  before(async () => {
    browser = await launchChromium();
    server = await startServer(testOptions(data.path, { source: 'testsrc', resolution: [1280, 720], framerate: 30 }));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    data.cleanup();
  });

  test('GET / plays the stream: frames decoded at ≥ 25 fps at the source size', async () => {
    const page = await browser.newPage();
    const report = await measurePlayback(page, `${server.url}/`);
    console.log('chromium playback', report);
    assert.equal(report.state, 'connected');
    assert.equal(report.width, 1280);
    assert.equal(report.height, 720);
    assert.ok(report.fps >= 25, `fps ${report.fps}`);
    await page.close();
  });
});

describe('viewers come and go in Chromium', { timeout: 120_000 }, () => {
  const data = tempDir();
  let browser: Browser;
  let server: TestServer;

  before(async () => {
    browser = await launchChromium();
    server = await startServer(testOptions(data.path, { resolution: [640, 360] }));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    data.cleanup();
  });

  test('a page that closes is cleaned up within seconds; the page that stays keeps playing', async () => {
    const stays = await browser.newPage();
    const leaves = await browser.newPage();
    await measurePlayback(stays, `${server.url}/`, 500);
    await measurePlayback(leaves, `${server.url}/`, 500);
    assert.equal(server.rtc.stats().viewers.length, 2);
    const leftAt = Date.now();
    await leaves.close({ runBeforeUnload: true });
    assert.ok(await waitFor(() => server.rtc.stats().viewers.length === 1, 5_000), 'the closed page is gone');
    console.log(`closed page cleaned up after ${Date.now() - leftAt} ms`);
    const after = await measurePlayback(stays, `${server.url}/`, 2_000);
    assert.ok(after.fps >= 25, `the other page still plays (${after.fps} fps)`);
    await stays.close();
  });
});
