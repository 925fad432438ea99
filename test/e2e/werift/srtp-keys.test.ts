/** The SRTP fast path (lib/werift/srtp-keys.ts): werift's session keys become KeyObjects, and media still flows. */
import assert from 'node:assert/strict';
import { KeyObject } from 'node:crypto';
import { test } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket, useVP8 } from 'werift';
import { useKeyObjectsForSrtp } from '../../../lib/werift/srtp-keys.ts';
import { waitFor } from '../helpers.ts';

test('after connecting, every SRTP/SRTCP session key is a KeyObject and RTP still decrypts on the other side', async () => {
  const config = { codecs: { audio: [], video: [useVP8()] }, iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false };
  const sender = new RTCPeerConnection(config);
  const receiver = new RTCPeerConnection(config);
  try {
    const track = new MediaStreamTrack({ kind: 'video' });
    sender.addTransceiver(track, { direction: 'sendonly' });
    let received = 0;
    receiver.onTrack.subscribe((remote) => remote.onReceiveRtp.subscribe(() => received++));
    await sender.setLocalDescription(await sender.createOffer());
    await receiver.setRemoteDescription(sender.localDescription!);
    await receiver.setLocalDescription(await receiver.createAnswer());
    await sender.setRemoteDescription(receiver.localDescription!);
    assert.ok(await waitFor(() => sender.connectionState === 'connected' && receiver.connectionState === 'connected', 10_000));

    assert.equal(useKeyObjectsForSrtp(sender), 8, 'SRTP and SRTCP, local and remote, RTP and RTCP keys');
    assert.equal(useKeyObjectsForSrtp(sender), 0, 'idempotent');
    const cipher = (sender.dtlsTransports[0] as unknown as { srtp: { localContext: { cipher: { srtpSessionKey: unknown } } } })
      .srtp.localContext.cipher;
    assert.ok(cipher.srtpSessionKey instanceof KeyObject);

    for (let seq = 0; seq < 50; seq++) {
      track.writeRtp(new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: seq * 3000, payloadType: 96, marker: true }), Buffer.alloc(1000, seq)));
    }
    assert.ok(await waitFor(() => received >= 45, 3_000), `the receiver decrypted ${received} of 50 packets`);
  } finally {
    await sender.close();
    await receiver.close();
  }
});
