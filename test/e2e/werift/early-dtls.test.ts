/**
 * lib/werift/early-dtls.ts: a ClientHello that reaches the server before werift starts its DTLS server is kept
 * and handed to it, instead of waiting for the browser's resend (Chromium: 50 ms later).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection, useVP8 } from 'werift';
import { keepEarlyDtlsPackets } from '../../../lib/werift/early-dtls.ts';

interface TransportInternals {
  state: string;
  setState(state: string): void;
  onStateChange: { subscribe(handler: (state: string) => void): unknown };
  iceTransport: { connection: { onData: { subscribe(handler: (data: Buffer) => void): unknown; execute(data: Buffer): void } } };
}

test('DTLS packets that arrive before werift listens reach its DTLS server when it starts; others are not kept', async () => {
  const config = { codecs: { audio: [], video: [useVP8()] }, iceServers: [], iceUseIpv6: false };
  const browser = new RTCPeerConnection(config);
  const server = new RTCPeerConnection(config);
  try {
    browser.addTransceiver('video', { direction: 'recvonly' });
    await browser.setLocalDescription(await browser.createOffer());
    await server.setRemoteDescription(browser.localDescription!);
    server.addTrack(new MediaStreamTrack({ kind: 'video' }));
    assert.equal(keepEarlyDtlsPackets(server), 1, 'one (bundled) transport watched');

    const transport = server.dtlsTransports[0] as unknown as TransportInternals;
    const { onData } = transport.iceTransport.connection;
    const clientHello = Buffer.from([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]); // a DTLS 1.2 handshake record
    const stunOrRtp = Buffer.from([0x80, 96, 0, 1]);
    onData.execute(clientHello); // ICE connected on the browser's side only: werift has no DTLS server yet
    onData.execute(stunOrRtp);

    // What werift does when its ICE connects: "connecting", then its DTLS server subscribes, in one tick.
    const reachedDtlsServer: Buffer[] = [];
    transport.onStateChange.subscribe((state) => {
      if (state === 'connecting') onData.subscribe((data) => reachedDtlsServer.push(data));
    });
    transport.setState('connecting');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(reachedDtlsServer, [clientHello], 'the kept ClientHello, and only DTLS');

    onData.execute(clientHello); // a resend now goes straight to the server, once
    assert.equal(reachedDtlsServer.length, 2);
  } finally {
    await browser.close();
    await server.close();
  }
});
