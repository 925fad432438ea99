/**
 * A subscriber in a Janus VideoRoom: a werift peer connection driven through Janus's HTTP API (create a
 * session, attach the VideoRoom plugin, join the room's publisher as a subscriber, answer Janus's offer,
 * start), counting the video frames it receives (RTP marker bits) and when.
 */
import { randomUUID } from 'node:crypto';
import { RTCPeerConnection, useOPUS, useVP8 } from 'werift';

/** One Janus API call's answer (what the tests read of it). */
interface JanusReply {
  janus: string;
  data?: { id: number };
  error?: { code: number; reason: string };
  plugindata?: { data: Record<string, unknown> };
  jsep?: { type: 'offer' | 'answer'; sdp: string };
  sender?: number;
}

async function call(url: string, body: Record<string, unknown>): Promise<JanusReply> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...body, transaction: randomUUID() }),
    signal: AbortSignal.timeout(5_000),
  });
  const reply = (await response.json()) as JanusReply;
  if (reply.janus === 'error') throw new Error(`Janus ${String(body.janus)}: ${reply.error?.reason ?? 'error'}`);
  return reply;
}

export interface Frames {
  /** When each video frame's last packet arrived (performance.now()). */
  times: number[];
}

export class JanusSubscriber {
  readonly pc: RTCPeerConnection;
  readonly frames: Frames = { times: [] };
  readonly #api: string;
  readonly #session: string;
  readonly #handle: string;
  readonly #polling = new AbortController();
  readonly #events: JanusReply[] = [];
  #eventArrived: (() => void) | undefined;
  #closed = false;

  private constructor(api: string, session: string, handle: string) {
    this.#api = api;
    this.#session = session;
    this.#handle = handle;
    this.pc = new RTCPeerConnection({ codecs: { video: [useVP8()], audio: [useOPUS()] }, iceServers: [], iceUseIpv6: false });
    this.pc.onTrack.subscribe((track) => {
      if (track.kind !== 'video') return;
      track.onReceiveRtp.subscribe((rtp) => {
        if (rtp.header.marker) this.frames.times.push(performance.now());
      });
    });
    void this.#poll();
  }

  /**
   * Joins `room` on the Janus at `api` (`http://host:8088/janus`) as a subscriber of its first publisher,
   * waiting up to `timeoutMs` for one to be there. Resolves once the answer is sent (media follows).
   */
  static async join(api: string, room: number, timeoutMs: number): Promise<JanusSubscriber> {
    const session = String((await call(api, { janus: 'create' })).data!.id);
    const handle = String((await call(`${api}/${session}`, { janus: 'attach', plugin: 'janus.plugin.videoroom' })).data!.id);
    const subscriber = new JanusSubscriber(api, session, handle);
    try {
      const feed = await subscriber.#publisher(room, timeoutMs);
      await subscriber.#message({ request: 'join', ptype: 'subscriber', room, streams: [{ feed }] });
      const offer = await subscriber.#nextJsep(timeoutMs);
      await subscriber.pc.setRemoteDescription(offer);
      await subscriber.pc.setLocalDescription(await subscriber.pc.createAnswer());
      await subscriber.#message({ request: 'start' }, { type: 'answer', sdp: subscriber.pc.localDescription!.sdp });
    } catch (error) {
      await subscriber.close();
      throw error;
    }
    return subscriber;
  }

  /** Video frames per second over the last `windowMs`. */
  fps(windowMs: number): number {
    const since = performance.now() - windowMs;
    return (this.frames.times.filter((time) => time >= since).length * 1000) / windowMs;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#polling.abort();
    await this.pc.close().catch(() => undefined);
    // Janus may be gone (the test kills it): ending the session is best effort.
    await call(`${this.#api}/${this.#session}`, { janus: 'destroy' }).catch(() => undefined);
  }

  async #publisher(room: number, timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const reply = await this.#message({ request: 'listparticipants', room });
      const participants = (reply.plugindata?.data.participants ?? []) as Array<{ id: number; publisher: boolean }>;
      const publisher = participants.find((participant) => participant.publisher);
      if (publisher) return publisher.id;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`no publisher in room ${room} after ${timeoutMs} ms`);
  }

  #message(body: Record<string, unknown>, jsep?: { type: string; sdp: string }): Promise<JanusReply> {
    return call(`${this.#api}/${this.#session}/${this.#handle}`, { janus: 'message', body, ...(jsep && { jsep }) });
  }

  /** Janus's events, by long polling (which also keeps the session alive). */
  async #poll(): Promise<void> {
    while (!this.#closed) {
      try {
        const response = await fetch(`${this.#api}/${this.#session}?rid=${Date.now()}&maxev=1`, { signal: this.#polling.signal });
        const event = (await response.json()) as JanusReply;
        if (event.janus !== 'keepalive') this.#events.push(event);
        this.#eventArrived?.();
      } catch {
        if (this.#closed) return;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  async #nextJsep(timeoutMs: number): Promise<{ type: 'offer'; sdp: string }> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const index = this.#events.findIndex((event) => event.jsep?.type === 'offer');
      if (index >= 0) return this.#events.splice(index, 1)[0]!.jsep as { type: 'offer'; sdp: string };
      await new Promise<void>((resolve) => {
        this.#eventArrived = resolve;
        setTimeout(resolve, 250);
      });
    }
    throw new Error(`Janus sent no offer in ${timeoutMs} ms`);
  }
}
