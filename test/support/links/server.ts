/** A webgear-rtc server for viewers behind links: the public API in a Koa app, on the links' root-side addresses. */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { webgearRtc, type WebGearRtc, type WebGearRtcOptions } from 'webgear-rtc';
import { connectWeriftViewer, waitFor } from '../../e2e/helpers.ts';
import type { Link } from './link.ts';

export interface LinkServer {
  /** The page's URL as the viewer behind `link` reaches it. */
  urlFor(link: Link): string;
  /** With `loopback`: the page's URL on 127.0.0.1, for viewers in this namespace. */
  loopbackUrl: string | undefined;
  rtc: WebGearRtc;
  close(): Promise<void>;
}

/**
 * Starts the server on every address in `links` (one listening socket, on all addresses: the links'
 * root-side ends are the only ones their viewers can reach), announcing those addresses in ICE, with no
 * STUN. `options` go to `webgearRtc` (a `customDataLocation` is required: tests use a temp folder).
 * `loopback`: viewers on this machine's loopback too (the native load generator beside the linked ones):
 * it listens on every address and announces 127.0.0.1 as well.
 */
export async function startLinkServer(links: readonly Link[], options: WebGearRtcOptions, { loopback = false } = {}): Promise<LinkServer> {
  const app = new Koa();
  app.silent = true;
  const rtc = webgearRtc({
    frameSizeReduction: 0,
    iceServers: [],
    ...options,
    iceAdditionalHostAddresses: [
      ...links.map((link) => link.serverAddress), ...(loopback ? ['127.0.0.1'] : []), ...(options.iceAdditionalHostAddresses ?? []),
    ],
  });
  app.use(rtc);
  // One link: its address only. Several: every address, which the root namespace's other interfaces
  // share, but no viewer namespace has a route to them.
  const server = app.listen(0, links.length === 1 && !loopback ? links[0]!.serverAddress : '0.0.0.0');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    urlFor: (link) => `http://${link.serverAddress}:${port}/`,
    loopbackUrl: loopback ? `http://127.0.0.1:${port}/` : undefined,
    rtc,
    async close() {
      await rtc.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Starts the source, which starts with its first viewer: a werift viewer in this namespace joins on `link`'s
 * address, stays until every rendition delivers frames, and leaves (its session ended by /close_connection,
 * so that the server lists no viewer when this returns). A viewer joining after this joins a running stream:
 * its first frame is the join's, not ffmpeg's start. Throws if the source does not run.
 */
export async function startSource(server: LinkServer, link: Link, timeoutMs = 15_000): Promise<void> {
  const viewer = await connectWeriftViewer(`${server.urlFor(link)}offer`);
  try {
    await viewer.connected;
    const running = () => {
      const { renditions } = server.rtc.stats().source;
      return renditions.length > 0 && renditions.every((rendition) => rendition.framesPerSecond > 0);
    };
    if (!(await waitFor(running, timeoutMs))) {
      throw new Error(`the source did not run within ${timeoutMs} ms: ${JSON.stringify(server.rtc.stats().source)}`);
    }
  } finally {
    await fetch(`${server.urlFor(link)}close_connection`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: viewer.id }),
    }).catch(() => {});
    await viewer.close();
  }
  if (!(await waitFor(() => server.rtc.stats().viewers.length === 0, 5_000))) throw new Error('the warm-up viewer did not leave');
}
