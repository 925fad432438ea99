/** ICE configuration (issue #7): the server's candidates use `icePortRange` and announce `iceAdditionalHostAddresses`. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectWeriftViewer, startServer, tempDir, testOptions, waitFor } from './helpers.ts';

test('icePortRange bounds the ports of the answer\'s candidates; an announced address (NAT, Docker) is offered too', { timeout: 60_000 }, async () => {
  const data = tempDir();
  const range: [number, number] = [47_100, 47_149];
  const server = await startServer(
    testOptions(data.path, { resolution: [320, 240], icePortRange: range, iceAdditionalHostAddresses: ['127.0.0.1', '203.0.113.7'] }),
  );
  try {
    for (const signaling of ['offer', 'whep'] as const) {
      const viewer = await connectWeriftViewer(`${server.url}/${signaling}`, 'vp8', { whep: signaling === 'whep' });
      try {
        const candidates = [...viewer.answerSdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ host/gm)];
        assert.ok(candidates.length > 0, viewer.answerSdp);
        for (const [, , port] of candidates) {
          assert.ok(Number(port) >= range[0] && Number(port) <= range[1], `port ${port} is in ${range.join('–')}`);
        }
        assert.ok(candidates.some(([, address]) => address === '203.0.113.7'), 'the announced address is a candidate');
        await viewer.connected;
        assert.ok(await waitFor(() => viewer.packets > 10, 5_000), `media flows (${viewer.packets} packets)`);
      } finally {
        await viewer.close();
      }
    }
  } finally {
    await server.close();
    data.cleanup();
  }
});
