/**
 * Werift viewers behind a link (test/support/links/werift-viewers.ts), each on its own ports so that
 * `portCaps` caps them apart, sending transport-cc feedback as a browser writes it: the server's estimate
 * of each follows its own link. Needs root (network namespaces); skipped otherwise.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sleep, tempDir } from '../helpers.ts';
import { createLink } from '../../support/links/link.ts';
import { startLinkServer } from '../../support/links/server.ts';
import { startWeriftViewers, weriftViewerPorts } from '../../support/links/werift-viewers.ts';

const skip = process.getuid?.() !== 0 ? 'needs root: network namespaces, veth, tc and nftables' : false;
const FIRST_PORT = 51_000;

describe('werift viewers behind per-port caps', { skip, timeout: 90_000 }, () => {
  const data = tempDir();
  after(() => data.cleanup());

  test('each gets its own estimate from its feedback: the capped one stays low, the other climbs to the top', async () => {
    // Viewer 0 behind 300 kbit/s, viewer 1 uncapped; both 40 ms RTT.
    const link = await createLink({ delayMs: 20, portCaps: [{ ports: weriftViewerPorts(FIRST_PORT, 0), rateKbit: 300 }] });
    const server = await startLinkServer([link], { source: 'testsrc', resolution: [1280, 720], customDataLocation: data.path });
    const viewers = startWeriftViewers(link, { offerUrl: `${server.urlFor(link)}offer`, count: 2, firstPort: FIRST_PORT, seconds: 60 });
    try {
      await viewers.joined(20_000);
      assert.equal(viewers.failures.size, 0, [...viewers.failures.values()].join('; '));
      const video = (index: number) => server.rtc.stats().viewers.find((viewer) => viewer.id === viewers.ids[index])?.video;
      let topAfterMs: number | undefined;
      const start = performance.now();
      while (performance.now() - start < 20_000) {
        if (topAfterMs === undefined && video(1)?.rendition === 0) topAfterMs = performance.now() - start;
        await sleep(500);
      }
      const [capped, free] = [video(0), video(1)];
      const counters = viewers.samples.at(-1)!.counters;
      console.log(`capped at 300 kbit/s: ${JSON.stringify(capped)}; uncapped: ${JSON.stringify(free)}, on the top rung after ${topAfterMs === undefined ? 'never' : Math.round(topAfterMs)} ms; ` +
        `frames ${counters.map((c) => c.frames).join(', ')}; dropped at the cap ${(await link.stats()).portCaps[0]!.dropped}`);
      assert.ok(counters.every((c) => c.frames >= 100), `both play: ${counters.map((c) => c.frames).join(', ')} frames`);
      // Without feedback the server gives up on an estimate after 3 s and sends the top rung unpaced.
      assert.ok(capped?.estimate !== undefined && free?.estimate !== undefined, 'the server has an estimate of both');
      assert.ok(capped.estimate <= 450_000, `capped at 300 kbit/s, estimated at ${capped.estimate}`);
      assert.equal(capped.rendition, 2, 'the capped one on the lowest rung');
      assert.ok(topAfterMs !== undefined, 'the uncapped one reached the top rung');
    } finally {
      await viewers.close();
      await server.close();
      await link.close();
    }
  });
});
