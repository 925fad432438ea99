/**
 * `npm run build && node bench/whip-ingest.ts`: what a WebRTC publisher's packet costs on its way into the ingest, in µs of
 * CPU per packet (medians of 5 runs).
 *
 * 1. In this process, per 1 200-byte VP8 packet carrying a browser's header extensions (MID, RID,
 *    transport-cc): what werift does anyway for every packet it receives (parse it; clone it for the
 *    track), then what webgear-rtc adds on the public path (werift's `onReceiveRtp` of the remote track):
 *    the buffer rebuilt from the parsed packet, the transport-cc bookkeeping, the layer router and three
 *    ingest streams (no viewer bound). `serialize()` beside it, the other way to get a buffer back.
 * 2. End to end: a werift publisher in another process sends a 720p 2.5 Mbit/s VP8 clip over WHIP to a
 *    server in this one; this process's CPU per packet received (SRTP decryption, werift's receiver, and
 *    all of 1), with no viewer: its CPU while the packets come (the clip played 8 times faster than
 *    real time, about 2 300 packets/s), less its CPU while the publisher is stopped (the connection's own
 *    timers), over the packets.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { RtpHeader, RtpPacket } from 'werift';
import { IngestStream } from '../lib/ingest/ingest-stream.ts';
import { TransportFeedback } from '../lib/ingest/transport-feedback.ts';
import { buildRtpPacket } from '../lib/rtp/rtp-packet.ts';
import { LayerRouter } from '../lib/source/webrtc/layer-router.ts';
import { startServer, sleep, tempDir, testOptions } from '../test/e2e/helpers.ts';

const RUNS = 5;
/** The publisher plays its 2.5 Mbit/s clip this many times faster than real time: the packets' cost dominates. */
const SPEED = 8;
const PACKETS = 50_000;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const cpuUs = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** µs of this process's CPU per call of `step(i)` (not wall time: others' load does not count), median of RUNS runs of PACKETS calls. */
function perPacket(step: (i: number) => void): number {
  for (let i = 0; i < 5_000; i++) step(i); // warm up
  const runs: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = cpuUs();
    for (let i = 0; i < PACKETS; i++) step(i);
    runs.push((cpuUs() - start) / PACKETS);
  }
  return median(runs);
}

/** A browser's simulcast packet as it arrives decrypted: one-byte extensions MID, RID, transport-cc. */
function browserPacket(seq: number): Buffer {
  const header = new RtpHeader({
    payloadType: 96,
    sequenceNumber: seq & 0xffff,
    timestamp: seq * 3000,
    ssrc: 0x1234,
    marker: seq % 4 === 3,
    extension: true,
    extensions: [
      { id: 9, payload: Buffer.from('0') },
      { id: 10, payload: Buffer.from('h') },
      { id: 4, payload: Buffer.from([seq >> 8, seq & 0xff]) },
    ],
  });
  const payload = Buffer.alloc(1_200 - 24, 0x55);
  payload[0] = 0x90; // VP8 descriptor: X, S
  payload[1] = 0x80;
  payload[2] = 0x80 | ((seq >> 8) & 0x7f);
  payload[3] = seq & 0xff;
  return new RtpPacket(header, payload).serialize();
}

const raw = Array.from({ length: 1_024 }, (_, i) => browserPacket(i));
const parsed = raw.map((buffer) => RtpPacket.deSerialize(buffer));

const parse = perPacket((i) => RtpPacket.deSerialize(raw[i & 1023]!));
const clone = perPacket((i) => parsed[i & 1023]!.clone());
const rebuild = perPacket((i) => {
  const rtp = parsed[i & 1023]!;
  buildRtpPacket(rtp.header, rtp.payload);
});
const serialize = perPacket((i) => parsed[i & 1023]!.serialize());
const feedback = new TransportFeedback({ send: () => {}, senderSsrc: 1, intervalMs: 1e9 });
let now = 0;
const twcc = perPacket((i) => {
  feedback.onPacket(i & 0xffff, (now += 300));
  if ((i & 15) === 15) feedback.flush();
});
feedback.stop();
const streams = [new IngestStream('vp8', 2_500_000), new IngestStream('vp8', 800_000), new IngestStream('vp8', 250_000)];
const router = new LayerRouter({
  codec: 'vp8',
  streams: 3,
  gop: 0,
  deliver: (index, packet, at) => streams[index]!.push(packet, at),
  requestKeyframe: () => {},
});
router.push('h', buildRtpPacket({ marker: true, payloadType: 96, sequenceNumber: 0, timestamp: 0, ssrc: 0x1234 },
  Buffer.from([0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02, 0x00])), 0); // a 1280x720 keyframe
const route = perPacket((i) => {
  const rtp = parsed[i & 1023]!;
  router.push('h', buildRtpPacket(rtp.header, rtp.payload), i);
});

console.log('1. per 1 200-byte packet, in this process (µs, median of 5 × 50 000)');
console.log(`   werift, for every packet anyway: parse ${parse.toFixed(2)}, clone for the track ${clone.toFixed(2)}`);
console.log(`   the public path's buffer: rebuilt ${rebuild.toFixed(2)} (serialize() instead: ${serialize.toFixed(2)})`);
console.log(`   transport-cc bookkeeping ${twcc.toFixed(2)}; rebuilt + layer router + 3 ingest streams ${route.toFixed(2)}`);

// 2. End to end: this process's CPU while the publisher sends, less its CPU while the publisher is
// stopped (SIGSTOP: its connection, the timers and the event loop stay, only its packets stop), per packet.
const data = tempDir();
const server = await startServer(testOptions(data.path, { source: 'whip' }));
const publisher = spawn(process.execPath, ['test/e2e/fixtures/whip-publisher.ts', `${server.url}/whip`, JSON.stringify({ size: [1280, 720], bitrate: 2_500_000, speed: SPEED })], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  let output = '';
  publisher.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  while (!output.includes('CONNECTED')) {
    if (publisher.exitCode !== null) throw new Error(`the publisher exited: ${output}`);
    await sleep(100);
  }
  await sleep(3_000); // the connection and the clip settle
  const runs: number[] = [];
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const packetsBefore = server.rtc.stats().source.packets;
    const activeStart = cpuUs();
    await sleep(3_000);
    const activePerSecond = (cpuUs() - activeStart) / 3;
    const packetsPerSecond = (server.rtc.stats().source.packets - packetsBefore) / 3;
    publisher.kill('SIGSTOP');
    await sleep(200);
    const pausedStart = cpuUs();
    await sleep(2_000); // under the 3 s after which a silent publisher is "down"
    const pausedPerSecond = (cpuUs() - pausedStart) / 2;
    publisher.kill('SIGCONT');
    await sleep(1_000);
    runs.push((activePerSecond - pausedPerSecond) / packetsPerSecond);
    rates.push(packetsPerSecond);
  }
  console.log("2. end to end: this process's CPU per packet received from a werift publisher in another process");
  console.log(`   ${median(runs).toFixed(1)} µs per packet at ${median(rates).toFixed(0)} packets/s (runs: ${runs.map((value) => value.toFixed(1)).join(', ')})`);
} finally {
  publisher.kill('SIGCONT');
  publisher.kill('SIGTERM');
  await once(publisher, 'exit');
  await server.close();
  data.cleanup();
}
