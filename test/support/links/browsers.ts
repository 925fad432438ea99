/**
 * Browsers inside a link's viewer namespace, driven from the test process.
 *
 * Chromium: playwright-core talks to it over a pipe, so a wrapper that starts it with
 * `ip netns exec <viewer> chromium` is all it takes. Firefox: puppeteer-core talks WebDriver BiDi over a
 * WebSocket on Firefox's loopback, which is the viewer namespace's own; the test process reaches it
 * through a local port whose connections are relayed into the namespace (relay.ts).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium, type Browser } from 'playwright-core';
import puppeteer, { type Browser as PuppeteerBrowser } from 'puppeteer-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../e2e/helpers.ts';
import type { Link } from './link.ts';

export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

let wrappers = 0;

/** A shell script that runs `program` with its arguments inside the link's viewer namespace. */
function wrapperFor(link: Link, program: string): string {
  const path = join(link.folder, `in-namespace-${++wrappers}`);
  writeFileSync(path, `#!/bin/sh\nexec ip netns exec '${link.viewerNamespace}' '${program}' "$@"\n`, { mode: 0o755 });
  return path;
}

/**
 * Chromium in the viewer namespace, with the test suite's flags (WebRtcHideLocalIpsWithMdns off: with it,
 * Chromium hides its address behind an mDNS name that nothing here resolves). `link.close()` kills it if
 * `browser.close()` was not called.
 */
export function launchChromiumIn(link: Link, args: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: wrapperFor(link, CHROMIUM_PATH), args: [...CHROMIUM_ARGS, ...args], headless: true });
}

/**
 * Firefox's preferences for a viewer in a namespace: real host candidates (no mDNS names), autoplay, and
 * no attempt to reach the internet. WebDriver BiDi adds its own recommended automation preferences.
 */
const FIREFOX_PREFS: Record<string, string | number | boolean> = {
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  'browser.shell.checkDefaultBrowser': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.reportingpolicy.firstRun': false,
  'app.update.disabledForTesting': true,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
};

/** The WebDriver BiDi port Firefox listens on, on the viewer namespace's loopback (nothing else is there). */
const BIDI_PORT = 9222;

export interface FirefoxInLink {
  browser: PuppeteerBrowser;
  /** Closes the browser, its process and the relay. Idempotent. */
  close(): Promise<void>;
}

/** Firefox ESR in the viewer namespace, driven by puppeteer-core over WebDriver BiDi. It plays VP8 only. */
export async function launchFirefoxIn(link: Link): Promise<FirefoxInLink> {
  const profile = join(link.folder, `firefox-profile-${++wrappers}`);
  mkdirSync(profile);
  writeFileSync(join(profile, 'user.js'),
    Object.entries(FIREFOX_PREFS).map(([name, value]) => `user_pref(${JSON.stringify(name)}, ${JSON.stringify(value)});\n`).join(''));
  const firefox = link.spawn(FIREFOX_PATH, ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port', String(BIDI_PORT)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: '1' },
  });
  let relay: Server | undefined;
  const stop = async () => {
    relay?.close();
    if (firefox.exitCode === null && firefox.signalCode === null) {
      const exited = once(firefox, 'exit');
      firefox.kill('SIGTERM');
      const timer = setTimeout(() => firefox.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let said = '';
      const timer = setTimeout(() => reject(new Error(`Firefox did not open WebDriver BiDi in 30 s: ${said.slice(-2000)}`)), 30_000);
      createInterface({ input: firefox.stderr! }).on('line', (line) => {
        said += `${line}\n`;
        if (line.includes('WebDriver BiDi listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      firefox.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Firefox exited (${code}) before opening WebDriver BiDi: ${said.slice(-2000)}`));
      });
    });
    relay = createServer((socket) => {
      const child = spawn('ip', ['netns', 'exec', link.viewerNamespace, process.execPath, join(import.meta.dirname, 'relay.ts'), '127.0.0.1', String(BIDI_PORT)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      socket.pipe(child.stdin);
      child.stdout.pipe(socket);
      child.once('exit', () => socket.destroy());
      socket.once('close', () => child.kill());
      socket.on('error', () => child.kill());
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    const { port } = relay.address() as { port: number };
    const browser = await puppeteer.connect({
      browserWSEndpoint: `ws://127.0.0.1:${port}/session`,
      protocol: 'webDriverBiDi',
      // Firefox accepts a WebSocket only if its Host names the port it listens on.
      headers: { host: `127.0.0.1:${BIDI_PORT}` },
    });
    let closed = false;
    return {
      browser,
      async close() {
        if (closed) return;
        closed = true;
        await browser.close().catch(() => {});
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
