/** A webgear-rtc server for viewers behind links: the public API in a Koa app, on the links' root-side addresses. */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { webgearRtc, type WebGearRtc, type WebGearRtcOptions } from 'webgear-rtc';
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
