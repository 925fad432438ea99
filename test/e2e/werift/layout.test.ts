/**
 * The werift adapter (lib/werift/): every non-public field it relies on, checked on a live connection, so
 * that a werift release that moves one fails here, naming the field, instead of silently sending through
 * the slow path or skewing /stats.
 */
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { test } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection, useVP8, type RTCRtpSender } from 'werift';
import { directSendProblem, missingSenderFields, SenderAccess, SENDER_FIELDS } from '../../../lib/werift/sender-access.ts';
import { senderCounts } from '../../../lib/werift/sender-stats.ts';
import { installedWeriftVersion, WERIFT_VERSION } from '../../../lib/werift/werift-version.ts';
import { waitFor } from '../helpers.ts';

async function connectedSender(): Promise<{ sender: RTCRtpSender; close(): Promise<void> }> {
  const config = { codecs: { audio: [], video: [useVP8()] }, iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false };
  const local = new RTCPeerConnection(config);
  const remote = new RTCPeerConnection(config);
  const sender = local.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' }).sender;
  await local.setLocalDescription(await local.createOffer());
  await remote.setRemoteDescription(local.localDescription!);
  await remote.setLocalDescription(await remote.createAnswer());
  await local.setRemoteDescription(remote.localDescription!);
  assert.ok(await waitFor(() => local.connectionState === 'connected' && remote.connectionState === 'connected', 10_000));
  return { sender, close: async () => void (await Promise.all([local.close(), remote.close()])) };
}

test('the installed werift is the release the adapter was written for', () => {
  assert.equal(installedWeriftVersion(), WERIFT_VERSION, 'package.json pins werift exactly; the adapter is checked against that release');
});

test('a connected sender has every field the direct send path reads or writes', async () => {
  const { sender, close } = await connectedSender();
  try {
    assert.deepEqual(missingSenderFields(sender), [], 'werift moved these fields');
    assert.equal(directSendProblem(sender), undefined, 'AES-GCM between werift peers: the direct path applies');
    const access = SenderAccess.of(sender);
    assert.ok(access instanceof SenderAccess);
    assert.ok(access.sending);
    const route = access.iceRoute();
    assert.ok(route, 'the nominated pair, with consent to send');
    assert.ok(isIP(route.remoteAddress), `an IP address: ${route.remoteAddress}`);
    assert.equal(typeof route.remotePort, 'number');
    assert.equal(route.local?.type, 'udp4', 'the local socket werift sends from');
    const counts = senderCounts(sender, Date.now());
    assert.equal(typeof counts.packetsSent, 'number');
  } finally {
    await close();
  }
});

test('a field werift no longer has is named, and the direct path steps aside', async () => {
  const { sender, close } = await connectedSender();
  try {
    for (const [path] of SENDER_FIELDS) {
      const [first, ...rest] = path.replace('()', '').split('.');
      // A copy of the sender with that one field gone (nested fields: the object holding it is copied too).
      const mutated = Object.create(sender) as Record<string, unknown>;
      if (rest.length === 0) Object.defineProperty(mutated, first!, { value: undefined });
      else Object.defineProperty(mutated, first!, { value: withoutPath((sender as unknown as Record<string, unknown>)[first!], rest) });
      const missing = missingSenderFields(mutated as unknown as RTCRtpSender);
      assert.deepEqual(missing, [path], `removing ${path} is reported as exactly that`);
      assert.match(directSendProblem(mutated as unknown as RTCRtpSender) ?? '', new RegExp(`layout changed: .*${path.replace(/[.()]/g, '\\$&')}`));
    }
  } finally {
    await close();
  }
});

/** A shallow chain of copies of `value` down `path`, with the last key set to undefined. */
function withoutPath(value: unknown, path: string[]): unknown {
  const copy = Object.create(value as object) as Record<string, unknown>;
  const [key, ...rest] = path;
  Object.defineProperty(copy, key!, { value: rest.length === 0 ? undefined : withoutPath((value as Record<string, unknown>)[key!], rest) });
  return copy;
}

