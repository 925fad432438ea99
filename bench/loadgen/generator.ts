/**
 * LoadGenerator: WHEP viewers whose media path is native. Node signals (POST <url>/whep with the offer,
 * the 201 answer, DELETE of the session at the end); the addon's thread does ICE, DTLS, SRTP and RTCP.
 *
 * Bounded: it only sends to loopback (127.0.0.0/8) and to addresses named in `allowAddresses` (a network
 * namespace the bench made), checked for the WHEP URL here and for every candidate in the addon; the
 * addon's thread stops by itself at `hardStopSeconds`, closing every socket, whatever Node does.
 */
import { isIP, isIPv4 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { retryAfterMsOf } from '../../lib/publish/whip-http.ts';
import { decodeStats, loadNative, type Engine, type EngineSnapshot, type NativeLoadgen } from './native.ts';
import { buildOffer, parseAnswer } from './sdp.ts';

export type SrtpProfile = 'gcm' | 'cm';
const PROFILE_NAMES: Record<SrtpProfile, string> = { gcm: 'SRTP_AEAD_AES_128_GCM', cm: 'SRTP_AES128_CM_SHA1_80' };

export interface LoadGeneratorOptions {
  /** The native thread stops by itself this long after creation (closing every socket). Required. */
  hardStopSeconds: number;
  /** Local address of the viewers' sockets. Default 127.0.0.1. */
  bindAddress?: string;
  /** IPv4 addresses besides 127.0.0.0/8 that viewers may talk to (your own network namespace). */
  allowAddresses?: string[];
  /** ICE + DTLS must be done this long after the answer, else the viewer fails. Default 15000. */
  connectTimeoutMs?: number;
  /** SRTP profiles offered in DTLS, in order of preference. Default ['gcm', 'cm']. */
  srtpProfiles?: SrtpProfile[];
  /**
   * Once every viewer is connected, the native thread sleeps this long (µs) after each wake-up so datagrams
   * gather and one recvmmsg reads several: fewer syscalls per packet. Arrival times are the kernel's
   * (SO_TIMESTAMPNS), so first-media and jitter figures do not depend on it. Default 20000.
   */
  batchUs?: number;
  /**
   * UDP_GRO on every viewer's socket: a run of datagrams the server sent as one GSO send (a frame's packets
   * for one viewer) crosses the loopback receive path as one, and is read as one and split here. On loopback
   * the receive path runs on the sender's thread and counts as the server's CPU; with a network card it is
   * another machine's. Off: every datagram is received on its own, as a browser's socket does. Default true.
   */
  receiveOffload?: boolean;
  /**
   * A viewer answered `503` (the server full for now: its admission, or its maximum of viewers) POSTs its
   * offer again after the answer's `Retry-After` (1 s without one), as a player does, for up to this long
   * after its first POST. Default 0: a 503 is final.
   */
  retryRefusedForMs?: number;
}

export interface JoinOptions {
  srtpProfiles?: SrtpProfile[];
  /** Changes the answer before it is used (tests: a wrong fingerprint must be refused). */
  editAnswer?: (sdp: string) => string;
}

/** One viewer as Node knows it: its native id and its signaling. */
export interface JoinedViewer {
  id: number;
  /** Its socket's local port. */
  port: number;
  /** The last POST's HTTP status (201: answered), and ms from the first POST to it. */
  status?: number;
  answerMs?: number;
  /** How often the server answered 503 before that (`retryRefusedForMs`). */
  refusals?: number;
  /** The WHEP session resource (Location), for DELETE. */
  resource?: string;
  /** The codec the answer chose. */
  codec?: string;
  /** Signaling failed (HTTP status, bad answer): the viewer never started. */
  error?: string;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
/** The wait before POSTing again after a 503 that names none. */
const DEFAULT_RETRY_AFTER_MS = 1_000;
const DEFAULT_BATCH_US = 20_000;
const MAX_HARD_STOP_SECONDS = 3600;

export class LoadGenerator {
  readonly fingerprint: string;
  readonly viewers: JoinedViewer[] = [];
  #native: NativeLoadgen;
  #engine: Engine;
  #bindAddress: string;
  #allow: Set<string>;
  #connectTimeoutMs: number;
  #srtpProfiles: SrtpProfile[];
  #retryRefusedForMs: number;
  #closed = false;

  constructor(options: LoadGeneratorOptions) {
    const { hardStopSeconds } = options;
    if (!(typeof hardStopSeconds === 'number' && hardStopSeconds > 0 && hardStopSeconds <= MAX_HARD_STOP_SECONDS)) {
      throw new RangeError(`hardStopSeconds must be in (0, ${MAX_HARD_STOP_SECONDS}], got ${hardStopSeconds}`);
    }
    this.#bindAddress = options.bindAddress ?? '127.0.0.1';
    this.#allow = new Set(options.allowAddresses ?? []);
    for (const address of [this.#bindAddress, ...this.#allow]) {
      if (!isIPv4(address)) throw new TypeError(`bindAddress and allowAddresses must be IPv4 literals, got ${address}`);
    }
    if (!this.mayContact(this.#bindAddress)) {
      throw new RangeError(`bindAddress ${this.#bindAddress} is neither loopback nor in allowAddresses`);
    }
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#srtpProfiles = checkProfiles(options.srtpProfiles ?? ['gcm', 'cm']);
    this.#retryRefusedForMs = options.retryRefusedForMs ?? 0;
    if (!(this.#retryRefusedForMs >= 0)) throw new RangeError(`retryRefusedForMs must be ≥ 0, got ${options.retryRefusedForMs}`);
    this.#native = loadNative();
    this.#engine = this.#native.create(hardStopSeconds * 1000, [...this.#allow], options.batchUs ?? DEFAULT_BATCH_US, options.receiveOffload ?? true);
    this.fingerprint = this.#native.fingerprint(this.#engine);
  }

  /** Whether the generator may send to this IP (loopback or allowed). */
  mayContact(address: string): boolean {
    return (isIPv4(address) && address.startsWith('127.')) || address === '::1' || this.#allow.has(address);
  }

  /** The WHEP endpoint of a server URL, refusing hosts outside loopback and the allowed addresses. */
  whepEndpoint(url: string): URL {
    const base = new URL(url);
    const host = base.hostname.replace(/^\[|\]$/g, '');
    if (!(host === 'localhost' || (isIP(host) !== 0 && this.mayContact(host)))) {
      throw new RangeError(`url ${url}: only loopback or an allowed address may be loaded`);
    }
    return new URL(`${base.pathname.replace(/\/$/, '')}/whep`, base);
  }

  /** One more viewer: POST the offer, start its media path with the answer. Never throws: see `error`. */
  async join(url: string, options: JoinOptions = {}): Promise<JoinedViewer> {
    if (this.#closed) throw new Error('the load generator is closed');
    const endpoint = this.whepEndpoint(url);
    const local = this.#native.addViewer(this.#engine, this.#bindAddress);
    const viewer: JoinedViewer = { id: local.id, port: local.port };
    this.viewers[local.id] = viewer;
    const offer = buildOffer({ ...local, fingerprint: this.fingerprint, address: this.#bindAddress, sessionId: local.id + 1 });
    const postedAt = performance.now();
    const retryUntil = postedAt + this.#retryRefusedForMs;
    try {
      let response: Response;
      let body: string;
      for (;;) {
        response = await fetch(endpoint, {
          method: 'POST',
          headers: { 'Content-Type': 'application/sdp' },
          body: offer,
          signal: AbortSignal.timeout(this.#connectTimeoutMs),
        });
        body = await response.text();
        const wait = retryAfterMsOf(response.headers.get('Retry-After')) ?? DEFAULT_RETRY_AFTER_MS;
        if (response.status !== 503 || this.#closed || performance.now() + wait > retryUntil) break;
        viewer.refusals = (viewer.refusals ?? 0) + 1;
        await sleep(wait);
      }
      viewer.answerMs = performance.now() - postedAt;
      viewer.status = response.status;
      if (response.status !== 201) throw new Error(`POST ${endpoint.pathname} answered ${response.status}: ${body.slice(0, 200)}`);
      const location = response.headers.get('Location');
      if (location) viewer.resource = new URL(location, endpoint).href;
      const answer = parseAnswer(options.editAnswer ? options.editAnswer(body) : body, (ip) => this.mayContact(ip));
      viewer.codec = answer.codec;
      const profiles = checkProfiles(options.srtpProfiles ?? this.#srtpProfiles);
      this.#native.startViewer(
        this.#engine, local.id, answer.ufrag, answer.pwd, answer.address, answer.port, answer.fingerprint,
        profiles.map((profile) => PROFILE_NAMES[profile]).join(':'), this.#connectTimeoutMs,
      );
    } catch (error) {
      viewer.error = (error as Error).name === 'TimeoutError' ? `POST ${endpoint.pathname}: no answer in ${this.#connectTimeoutMs} ms` : (error as Error).message;
      this.#native.closeViewer(this.#engine, local.id);
    }
    return viewer;
  }

  /** Every viewer's counters now, and the I/O thread's CPU. */
  snapshot(): EngineSnapshot {
    return decodeStats(this.#native, this.#native.stats(this.#engine));
  }

  /** Why a viewer's media path failed (ICE, DTLS, fingerprint…), if it did. */
  failure(id: number): string | undefined {
    return this.#native.failure(this.#engine, id) ?? undefined;
  }

  /** Ends one viewer: close_notify and its socket, then DELETE of its session. */
  async leave(viewer: JoinedViewer): Promise<void> {
    this.#native.closeViewer(this.#engine, viewer.id);
    const resource = viewer.resource;
    viewer.resource = undefined;
    if (!resource) return;
    try {
      await fetch(resource, { method: 'DELETE', signal: AbortSignal.timeout(5_000) }).then((response) => response.body?.cancel());
    } catch {
      // the server may be gone already: its session ends with its own timeouts
    }
  }

  /** Ends every viewer (DELETEs 32 at a time) and the native thread. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pending = this.viewers.filter(Boolean);
    for (let start = 0; start < pending.length; start += 32) {
      await Promise.all(pending.slice(start, start + 32).map((viewer) => this.leave(viewer)));
    }
    this.#native.stop(this.#engine);
  }
}

function checkProfiles(profiles: SrtpProfile[]): SrtpProfile[] {
  if (profiles.length === 0 || profiles.some((profile) => !(profile in PROFILE_NAMES))) {
    throw new TypeError(`srtpProfiles must be a non-empty list of 'gcm' and 'cm', got ${JSON.stringify(profiles)}`);
  }
  return profiles;
}
