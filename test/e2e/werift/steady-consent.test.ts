/**
 * werift patch 013 (steady-consent): once connected, each consent round (RFC 7675, every 4-6 s) restarts the
 * same expiry timer and leaves no finished request to be aborted by the next round: nothing of a round
 * outlives it. Two real werift peers over loopback, one round (bounded: 10 s), with each build werift ships.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { RTCPeerConnection } from 'werift';

interface ConnectionInternals {
  consentExpiryTimer: NodeJS.Timeout | undefined;
  consentRequestAbort: AbortController | undefined;
  nominated?: { consentRequestsSent: number; responsesReceived: number };
}

const config = { iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false };

const cjs = createRequire(import.meta.url)('werift') as { RTCPeerConnection: typeof RTCPeerConnection };
for (const [build, PeerConnection] of [['ESM bundle', RTCPeerConnection], ['CommonJS build', cjs.RTCPeerConnection]] as const) {
  test(`${build}: a consent round refreshes the running expiry timer and leaves no controller to abort`, { timeout: 20_000 }, async () => {
    const offerer = new PeerConnection(config);
    const answerer = new PeerConnection(config);
    try {
      offerer.createDataChannel('consent');
      await offerer.setLocalDescription(await offerer.createOffer());
      await answerer.setRemoteDescription(offerer.localDescription!);
      await answerer.setLocalDescription(await answerer.createAnswer());
      await offerer.setRemoteDescription(answerer.localDescription!);
      const deadline = Date.now() + 10_000;
      const until = async (done: () => boolean, what: string) => {
        while (!done()) {
          assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      const connection = answerer.iceTransports[0]!.connection as unknown as ConnectionInternals;
      await until(() => connection.nominated !== undefined && connection.consentExpiryTimer !== undefined, 'ICE to connect');
      const timer = connection.consentExpiryTimer;
      const pair = connection.nominated!;
      const sent = pair.consentRequestsSent;
      const answered = pair.responsesReceived;
      await until(() => pair.consentRequestsSent > sent && pair.responsesReceived > answered, 'a consent round and its answer');
      assert.equal(connection.consentExpiryTimer, timer, 'the same timer, restarted');
      assert.equal(connection.consentRequestAbort, undefined, "the round's controller is let go once its request is answered");
    } finally {
      await offerer.close();
      await answerer.close();
    }
  });
}
