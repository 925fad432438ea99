import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, measurePlayback, startServer, tempDir, testOptions, type TestServer } from './helpers.ts';

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
