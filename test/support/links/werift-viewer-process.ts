/**
 * Werift viewers inside a link's viewer namespace (werift-viewers.ts runs this there): each its own peer
 * connection on its own two UDP ports (`icePortRange`, so that the link can cap each apart), signalling as
 * the default page does (POST /offer), with the feedback a browser gives: NACK, PLI (werift's receiver) and
 * transport-cc every 50 ms as a browser writes it (twcc-reporter.ts; `"feedback": "werift"` leaves it to
 * werift's own receiver-side TWCC, which is broken: see there).
 *
 *   node werift-viewer-process.ts '{"offerUrl": …, "count": 10, "firstPort": 50000, "seconds": 60, "spacingMs": 200}'
 *
 * Prints one JSON line per event: `{"joined": i, "viewer": publicId}`, `{"failed": i, "error": …}`, and once a
 * second `{"sample": [counters of each viewer]}` (cumulative). Ends on stdin's end or `quit`, and after
 * `seconds` whatever happens.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { RTCPeerConnection, useNACK, usePLI, useTransportWideCC, useTWCC, useVP8, type RTCRtpReceiver } from 'werift';
import { TwccReporter } from './twcc-reporter.ts';

export interface ViewerProcessConfig {
  offerUrl: string;
  count: number;
  /** Viewer i listens on firstPort + 2i (and + 2i + 1, which werift's range needs). */
  firstPort: number;
  /** The process ends this long after it started, whatever happens. */
  seconds: number;
  /** Between two joins. */
  spacingMs: number;
  /** Who writes the transport-cc feedback: twcc-reporter.ts (as a browser does: the default) or werift. */
  feedback?: 'browser' | 'werift';
}

/** One viewer's counters since it joined; packets and frames once each, however often they came. */
export interface ViewerCounters {
  /** Distinct RTP sequence numbers received, and their bytes. */
  packets: number;
  bytes: number;
  /** Distinct packets with the marker bit: frames. */
  frames: number;
  /** Sequence numbers from the first received to the highest (received or not). */
  expected: number;
}

/**
 * How often a viewer sends transport-cc feedback. libwebrtc spends 5 % of the received bitrate on it,
 * every 50–250 ms: every 50 ms from a few hundred kbit/s, as these viewers receive.
 */
const FEEDBACK_INTERVAL_MS = 50;

/** Retries of a refused join (503/429: the server's admission), and the wait when it names none. */
const JOIN_TRIES = 10;
const RETRY_MS = 1_000;

const config = JSON.parse(process.argv[2]!) as ViewerProcessConfig;
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const peers: RTCPeerConnection[] = [];
let ending = false;

async function end(code: number): Promise<never> {
  if (!ending) {
    ending = true;
    await Promise.race([Promise.all(peers.map((pc) => pc.close().catch(() => {}))), sleep(2_000)]);
  }
  process.exit(code);
}
setTimeout(() => void end(0), config.seconds * 1000).unref();
createInterface({ input: process.stdin }).on('line', (line) => line === 'quit' && void end(0)).on('close', () => void end(0));

const counters: ViewerCounters[] = Array.from({ length: config.count }, () => ({ packets: 0, bytes: 0, frames: 0, expected: 0 }));

/** Counts each sequence number once: a retransmission of what arrived is no new packet. */
function tally(counter: ViewerCounters) {
  const seen = new Uint8Array(65536);
  let first: number | undefined;
  let highest = 0; // extended: 16 bits plus wraps
  return (seq: number, marker: boolean, bytes: number) => {
    if (first === undefined) first = highest = seq;
    else {
      const delta = ((seq - highest + 32768) & 0xffff) - 32768;
      if (delta > 0) {
        // Forget what lies half the space ahead, so that a number seen a wrap ago counts again.
        for (let s = highest + 1; s <= highest + delta; s++) seen[(s + 32768) & 0xffff] = 0;
        highest += delta;
      }
    }
    counter.expected = highest - first + 1;
    if (seen[seq]) return;
    seen[seq] = 1;
    counter.packets++;
    counter.bytes += bytes;
    if (marker) counter.frames++;
  };
}

/**
 * Puts a TwccReporter where werift's receiver keeps its ReceiverTWCC: werift hands it every packet's
 * transport sequence number as it arrives (`handleTWCC`), and it sends feedback every 50 ms until the
 * receiver stops (which clears `twccRunning`).
 */
function reportTransportFeedback(receiver: RTCRtpReceiver, mediaSsrc: () => number): void {
  const reporter = new TwccReporter();
  const stand = {
    twccRunning: true,
    handleTWCC: (sequence: number) => reporter.record(sequence, Number(process.hrtime.bigint() / 1000n)),
  };
  (receiver as unknown as { receiverTWCC: typeof stand }).receiverTWCC = stand;
  const timer = setInterval(() => {
    if (!stand.twccRunning) return clearInterval(timer);
    const packets = reporter.take(receiver.rtcpSsrc, mediaSsrc());
    if (packets.length) receiver.dtlsTransport.sendRtcp(packets.map((packet) => ({ serialize: () => packet })) as never).catch(() => {});
  }, FEEDBACK_INTERVAL_MS);
}

async function join(index: number): Promise<void> {
  const pc = new RTCPeerConnection({
    codecs: { audio: [], video: [useVP8({ rtcpFeedback: [useNACK(), usePLI(), useTWCC()] })] },
    headerExtensions: { audio: [], video: [useTransportWideCC()] },
    bundlePolicy: 'max-bundle',
    iceServers: [],
    iceUseIpv6: false,
    icePortRange: [config.firstPort + 2 * index, config.firstPort + 2 * index + 1],
  });
  peers.push(pc);
  const count = tally(counters[index]!);
  let mediaSsrc = 0;
  pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => {
    mediaSsrc = rtp.header.ssrc;
    count(rtp.header.sequenceNumber, rtp.header.marker, rtp.serializeSize);
  }));
  const transceiver = pc.addTransceiver('video', { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(config.offerUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sdp: pc.localDescription!.sdp, type: 'offer' }),
      signal: AbortSignal.timeout(10_000),
    });
    if ((response.status === 503 || response.status === 429) && attempt < JOIN_TRIES) {
      await response.body?.cancel();
      await sleep(Number(response.headers.get('retry-after') ?? 0) * 1000 || RETRY_MS);
      continue;
    }
    const body = (await response.json()) as { sdp?: string; viewer?: string; error?: string };
    if (!response.ok || !body.sdp) throw new Error(`POST /offer answered ${response.status}: ${body.error ?? ''}`);
    await pc.setRemoteDescription({ type: 'answer', sdp: body.sdp });
    // After the answer: setting it makes werift's receiver drop whatever TWCC writer it had.
    if (config.feedback !== 'werift') reportTransportFeedback(transceiver.receiver, () => mediaSsrc);
    print({ joined: index, viewer: body.viewer, attempts: attempt });
    return;
  }
}

const joins: Promise<void>[] = [];
for (let index = 0; index < config.count && !ending; index++) {
  joins.push(join(index).catch((error: Error) => void print({ failed: index, error: error.message })));
  await sleep(config.spacingMs);
}
setInterval(() => print({ sample: counters }), 1_000);
await Promise.all(joins);
