/**
 * A viewer's VP8 PictureIDs never go back (lib/sender/picture-ids.ts). A PLI is answered with the current
 * GOP again, and a rendition switch starts on another encoder's pictures: with the source's own numbers the
 * viewer would get PictureIDs it had decoded already, and Chromium drops such pictures and the ones after
 * them (frozen for up to a GOP on a lossy link). Real ffmpeg, a real werift viewer, its PLI on the wire.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PictureLossIndication, RtcpPayloadSpecificFeedback } from 'werift';
import { vp8PictureIdField, vp8KeyframeSize } from '../../lib/rtp/rtp-payload.ts';
import { connectWeriftViewer, sleep, startServer, tempDir, testOptions, waitFor } from './helpers.ts';

interface Picture {
  id: number;
  keyframe: boolean;
  timestamp: number;
}

test('after a PLI the replayed GOP carries PictureIDs after the last one sent, not ones the viewer has', { timeout: 60_000 }, async () => {
  const data = tempDir();
  const server = await startServer(testOptions(data.path, { resolution: [320, 240], gop: 30 }));
  const viewer = await connectWeriftViewer(`${server.url}/whep`, 'vp8', { whep: true });
  try {
    await viewer.connected;
    const pictures: Picture[] = [];
    let ssrc = 0;
    viewer.rtpListeners.push((rtp) => {
      ssrc = rtp.header.ssrc;
      const payload = rtp.payload;
      if (!(payload[0]! & 0x10)) return; // not a picture's first packet
      const field = vp8PictureIdField(payload, 0);
      assert.ok(field >= 0, 'ffmpeg\'s VP8 carries PictureIDs');
      const at = field & 0xffff;
      const id = field >> 16 === 2 ? payload.readUInt16BE(at) & 0x7fff : payload[at]! & 0x7f;
      pictures.push({ id, keyframe: vp8KeyframeSize(payload) !== undefined, timestamp: rtp.header.timestamp });
    });
    // Past the GOP's keyframe by 20 pictures: a replay sends those 20 again.
    assert.ok(await waitFor(() => pictures.length >= 50 && pictures.at(-1)!.id % 30 >= 20, 10_000, 5), `pictures: ${pictures.length}`);
    const before = pictures.length;
    const transport = viewer.pc.getTransceivers()[0]!.dtlsTransport;
    await transport.sendRtcp([new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 1, mediaSsrc: ssrc }) })]);
    await sleep(1_500);
    assert.equal(server.rtc.stats().viewers[0]?.video?.keyframeRequests, 1, 'the PLI was answered with a GOP replay');
    const replayed = pictures.slice(before).findIndex((picture) => picture.keyframe);
    assert.ok(replayed >= 0, 'a keyframe came after the PLI');
    // Every picture's number is the one after the last: the replay too (the source's numbers would go back 20).
    const steps = pictures.slice(1).map((picture, index) => (picture.id - pictures[index]!.id) & 0x7fff);
    const back = steps.findIndex((step) => step !== 1);
    assert.equal(back, -1, `PictureID ${pictures[back]?.id} then ${pictures[back + 1]?.id} (picture ${back + 1} of ${pictures.length}, the replay's keyframe at ${before + replayed})`);
    assert.ok(pictures.slice(1).every((picture, index) => picture.timestamp !== pictures[index]!.timestamp), 'one first packet per picture');
  } finally {
    await viewer.pc.close();
    await server.close();
    data.cleanup();
  }
});
