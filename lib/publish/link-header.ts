/**
 * The ICE servers a WHIP endpoint announces in its `Link` headers (RFC 9725 §4.6): `<turn:host>;
 * rel="ice-server"; username="u"; credential="p"; credential-type="password"`. Parsed with
 * http-link-header (RFC 8288); links of other relations are left alone.
 */
import LinkHeader from 'http-link-header';
import type { IceServer } from '../types.ts';

const ICE_URL = /^(stun|stuns|turn|turns):/i;

/** The `rel="ice-server"` links of a `Link` header value (several headers joined by commas), as ICE servers. */
export function iceServersFromLink(header: string | null | undefined): IceServer[] {
  if (!header) return [];
  let links: LinkHeader;
  try {
    links = LinkHeader.parse(header);
  } catch {
    return []; // a malformed Link header announces nothing usable
  }
  const servers: IceServer[] = [];
  for (const link of links.rel('ice-server')) {
    if (!ICE_URL.test(link.uri)) continue;
    const server: IceServer = { urls: link.uri };
    // Only password credentials exist (RFC 9725 drops OAuth); other kinds cannot be used.
    const kind = link['credential-type'];
    if (link.username !== undefined && (kind === undefined || kind === 'password')) {
      server.username = link.username;
      if (link.credential !== undefined) server.credential = link.credential;
    }
    servers.push(server);
  }
  return servers;
}
