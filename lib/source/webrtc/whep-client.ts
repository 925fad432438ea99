/**
 * The HTTP half of a WHEP client (draft-ietf-wish-whep): the offer POSTed as `application/sdp`, a `201`
 * with the answer and the session's resource in `Location`, `DELETE` on that resource to leave. Our offer
 * carries every candidate (werift gathers before it returns the offer), so trickling is not needed.
 */

/** How long the origin has to answer an offer, and to acknowledge a DELETE. */
export const OFFER_TIMEOUT_MS = 10_000;
export const DELETE_TIMEOUT_MS = 2_000;

export interface WhepSession {
  /** The origin's SDP answer. */
  answer: string;
  /** The session's resource (absolute), to DELETE when leaving. */
  location: string;
}

/** A refusal by the origin, or no origin: `status` is its HTTP status (undefined when none answered). */
export class WhepError extends Error {
  override name = 'WhepError';
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

/** Offers `sdp` to the WHEP endpoint `url`. Throws a WhepError saying what the origin answered. */
export async function postWhepOffer(url: string, sdp: string, timeoutMs = OFFER_TIMEOUT_MS): Promise<WhepSession> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Accept: 'application/sdp' },
      body: sdp,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'follow',
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new WhepError(`the origin ${url} cannot be reached: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  const body = await response.text().catch(() => '');
  if (response.status !== 201 && response.status !== 200) {
    const said = body && body.length < 300 && !body.startsWith('<') ? `: ${body.trim()}` : '';
    throw new WhepError(`the origin ${url} answered ${response.status}${said}`, response.status);
  }
  if (!body.startsWith('v=0')) throw new WhepError(`the origin ${url} answered ${response.status} without an SDP answer`, response.status);
  const location = response.headers.get('location');
  if (!location) throw new WhepError(`the origin ${url} answered without a Location (the session's resource)`, response.status);
  return { answer: body, location: new URL(location, response.url || url).href };
}

/** Ends a session at the origin; its answer does not matter (it may be gone already). */
export async function deleteWhepSession(location: string, timeoutMs = DELETE_TIMEOUT_MS): Promise<void> {
  try {
    const response = await fetch(location, { method: 'DELETE', signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
  } catch {
    // the origin went away: its session went with it
  }
}
