/**
 * The benchmark's load generator, in its own process so that the benchmark can pause it (SIGSTOP) while
 * it reads the server's CPU: then the viewers' own decryption does not share the 2 cores with the server.
 *
 *   node bench/load.ts <offer URL> <viewers>
 * Prints `READY` once every viewer receives frames. On stdin, `mark` starts a measuring window and
 * `report` prints `REPORT {fps[], loss[]}` for the window (frames per second and % of packets lost).
 */
import { createInterface } from 'node:readline';
import { connectWeriftViewer, sleep, waitFor, type WeriftViewer } from '../test/e2e/helpers.ts';

const [url, count] = [process.argv[2]!, Number(process.argv[3] ?? 40)];

/**
 * A connected viewer. A join the server's admission refuses (503, 429: busy) or that does not connect in
 * 10 s (a loaded machine: werift's DTLS is JavaScript, 13 handshakes at once) is tried again a second
 * later, 10 times at most.
 */
async function join(): Promise<WeriftViewer> {
  for (let attempt = 1; ; attempt++) {
    let viewer: WeriftViewer | undefined;
    try {
      viewer = await connectWeriftViewer(url);
      await viewer.connected;
      return viewer;
    } catch (error) {
      await viewer?.close();
      const status = (error as { status?: number }).status;
      const busy = status === 503 || status === 429 || /did not connect/.test((error as Error).message);
      if (!busy || attempt >= 10) throw error;
      await sleep(1_000);
    }
  }
}

const viewers: WeriftViewer[] = [];
for (let joined = 0; joined < count; joined += 13) {
  viewers.push(...(await Promise.all(Array.from({ length: Math.min(13, count - joined) }, () => join()))));
}
await waitFor(() => viewers.every((viewer) => viewer.frames > 30), 15_000);

interface Tally { first: number; last: number; received: number; frames: number }
let tallies: Tally[] = [];
let markedAt = 0;
viewers.forEach((viewer, index) =>
  viewer.rtpListeners.push((rtp) => {
    const tally = tallies[index];
    if (!tally) return;
    const seq = rtp.header.sequenceNumber;
    if (tally.first < 0) tally.first = seq;
    tally.last = seq; // fewer than 2^16 packets in a window: no wrap handling beyond this
    tally.received++;
    if (rtp.header.marker) tally.frames++;
  }),
);
console.log('READY');

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'mark') {
    tallies = viewers.map(() => ({ first: -1, last: -1, received: 0, frames: 0 }));
    markedAt = performance.now();
  } else if (line === 'report') {
    const seconds = (performance.now() - markedAt) / 1000;
    const fps = tallies.map((tally) => tally.frames / seconds);
    const loss = tallies.map((tally) => {
      const expected = ((tally.last - tally.first + 65536) % 65536) + 1;
      return Math.max(0, (expected - tally.received) / expected) * 100;
    });
    console.log(`REPORT ${JSON.stringify({ fps, loss })}`);
  } else if (line === 'quit') {
    void Promise.all(viewers.map((viewer) => viewer.close())).then(() => process.exit(0));
  }
});
