/**
 * The HTTP side of a WHIP client (RFC 9725), with Node's fetch: `POST` the offer to the endpoint → `201`,
 * the answer, the resource's `Location`; `PATCH` trickled candidates to the resource; `DELETE` it at the end.
 * Every request carries the Bearer token when there is one, and is bounded in time.
 */
import type { IceServer } from '../types.ts';
import { iceServersFromLink } from './link-header.ts';

/** Where to publish: the endpoint's URL and its Bearer token. */
export interface WhipEndpoint {
  url: string;
  token?: string | undefined;
}

/** A session the endpoint created: its resource and what the `201` said. */
export interface WhipResource {
  /** The resource's absolute URL (`Location`, resolved against the URL that answered). */
  url: string;
  /** Its entity tag, sent back as `If-Match` with a `PATCH`. */
  etag: string | undefined;
  /** The SDP answer. */
  answer: string;
  /** ICE servers the endpoint announced (`Link: <…>; rel="ice-server"`). */
  iceServers: IceServer[];
  /** Whether it takes trickled candidates (`Accept-Patch: application/trickle-ice-sdpfrag`). */
  trickle: boolean;
}

/** A WHIP request that failed: `status` is the HTTP status, undefined when no answer came (network, timeout). */
export class WhipError extends Error {
  override name = 'WhipError';
  readonly status: number | undefined;
  /** How long the endpoint asked us to wait before trying again (`Retry-After`), ms. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, status?: number, retryAfterMs?: number) {
    super(message);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** A URL as errors, logs and stats show it: no credentials, no query (where tokens hide). */
export function publicUrlOf(url: string): string {
  const shown = new URL(url);
  shown.username = '';
  shown.password = '';
  shown.search = '';
  shown.hash = '';
  return shown.href;
}

/** The longest any one WHIP request may take. */
export const WHIP_REQUEST_TIMEOUT_MS = 10_000;
const TRICKLE_TYPE = 'application/trickle-ice-sdpfrag';

/**
 * The resource's absolute URL from a `Location` header: a relative one (simple-whip-server answers
 * `/whip/resource/<id>`) is resolved against the URL that answered (after redirects). Throws a WhipError
 * when there is none, or it is not an http(s) URL.
 */
export function resourceUrlOf(location: string | null | undefined, answeredBy: string): string {
  if (!location) throw new WhipError('the endpoint answered 201 without a Location header (RFC 9725 requires one)');
  let url: URL;
  try {
    url = new URL(location, answeredBy);
  } catch {
    throw new WhipError(`the endpoint's Location ${JSON.stringify(location)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WhipError(`the endpoint's Location ${JSON.stringify(location)} is not an http(s) URL`);
  }
  return url.href;
}

/** `Retry-After` in ms: seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMsOf(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  if (!/GMT$/.test(value.trim())) return undefined; // an HTTP date ends in GMT; Date.parse reads too much else
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const acceptsTrickle = (acceptPatch: string | null): boolean =>
  (acceptPatch ?? '').split(',').some((type) => type.split(';')[0]!.trim().toLowerCase() === TRICKLE_TYPE);

function headersFor(endpoint: WhipEndpoint, contentType?: string, etag?: string): Record<string, string> {
  return {
    ...(contentType && { 'Content-Type': contentType }),
    ...(endpoint.token && { Authorization: `Bearer ${endpoint.token}` }),
    ...(etag && { 'If-Match': etag }),
  };
}

async function request(url: string, init: RequestInit, what: string, signal?: AbortSignal): Promise<Response> {
  const timeout = AbortSignal.timeout(WHIP_REQUEST_TIMEOUT_MS);
  try {
    return await fetch(url, { ...init, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  } catch (error) {
    if (signal?.aborted) throw error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = timeout.aborted ? `no answer in ${WHIP_REQUEST_TIMEOUT_MS / 1000} s` : (cause?.code ?? cause?.message ?? (error as Error).message);
    throw new WhipError(`${what} ${publicUrlOf(url)} failed: ${why}`);
  }
}

/** What an error status says, with the first line of its body. */
async function failure(response: Response, what: string): Promise<WhipError> {
  const body = (await response.text().catch(() => '')).trim().split('\n')[0]!.slice(0, 200);
  const retryAfterMs = retryAfterMsOf(response.headers.get('retry-after'));
  return new WhipError(`${what} ${publicUrlOf(response.url)} answered ${response.status}${body ? `: ${body}` : ''}`, response.status, retryAfterMs);
}

/** Publishes `offer` (SDP) to the endpoint: the new resource, or a WhipError. */
export async function postOffer(endpoint: WhipEndpoint, offer: string, signal?: AbortSignal): Promise<WhipResource> {
  // fetch follows a 307/308 with the body (RFC 9725 §4.5: clients follow 307 redirects).
  const response = await request(endpoint.url, { method: 'POST', headers: headersFor(endpoint, 'application/sdp'), body: offer }, 'POST', signal);
  if (response.status !== 201 && response.status !== 200) throw await failure(response, 'POST');
  const answer = await response.text();
  const url = resourceUrlOf(response.headers.get('location'), response.url || endpoint.url);
  if (!/^v=0/m.test(answer)) throw new WhipError(`POST ${publicUrlOf(endpoint.url)} answered ${response.status} without an SDP answer`);
  return {
    url,
    etag: response.headers.get('etag') ?? undefined,
    answer,
    iceServers: iceServersFromLink(response.headers.get('link')),
    trickle: acceptsTrickle(response.headers.get('accept-patch')),
  };
}

/**
 * Sends trickled candidates (an RFC 8840 fragment) to the resource. Returns false when the endpoint turns
 * trickle down (405, 501: the candidates in the offer, or peer-reflexive ones, must do); throws others.
 */
export async function patchCandidates(endpoint: WhipEndpoint, resource: WhipResource, fragment: string, signal?: AbortSignal): Promise<boolean> {
  const response = await request(resource.url, { method: 'PATCH', headers: headersFor(endpoint, TRICKLE_TYPE, resource.etag), body: fragment }, 'PATCH', signal);
  if (response.status === 405 || response.status === 501) return false;
  if (!response.ok) throw await failure(response, 'PATCH');
  await response.arrayBuffer().catch(() => undefined);
  return true;
}

/** Ends the session at the endpoint. A resource already gone (404) is ended too. */
export async function deleteResource(endpoint: WhipEndpoint, resource: WhipResource, signal?: AbortSignal): Promise<void> {
  const response = await request(resource.url, { method: 'DELETE', headers: headersFor(endpoint) }, 'DELETE', signal);
  if (!response.ok && response.status !== 404) throw await failure(response, 'DELETE');
  await response.arrayBuffer().catch(() => undefined);
}
