/**
 * A steady viewer's video is numbered and queued in C (its lane: lib/native/lane.h), one call per source
 * packet for every such viewer; anything else takes it back to JavaScript (a picture loss, a repair) and it
 * returns once steady. Whichever side sends, the viewer sees one stream: sequence numbers one after the
 * other, PictureIDs too, every packet decrypted, and a packet sent from the lane repaired from its
 * history. Real ffmpeg, a real werift viewer (its transport-wide feedback does not parse, so the server
 * gives it up after 3 s and the viewer is unpaced), its PLI and NACK on the wire; and Chromium, paced by its
 * estimate, which the lane's records of what it sent keep up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GenericNack, PictureLossIndication, RtcpPayloadSpecificFeedback, RtcpTransportLayerFeedback } from 'werift';
import { nativeLanes } from '../../lib/native/index.ts';
import { vp8PictureIdField } from '../../lib/rtp/rtp-payload.ts';
import { assertPlaysAt, connectWeriftViewer, launchChromium, measureFrames, openPlayer, sleep, sourceFrames, startServer, tempDir, testOptions, waitFor } from './helpers.ts';

const skip = nativeLanes ? false : 'the addon\'s send thread and batch are off here (lanes need both)';

test('a steady viewer goes to its lane; a picture loss and a repair take it back and it returns, one stream throughout', { skip, timeout: 60_000 }, async () => {
  const data = tempDir();
  const server = await startServer(testOptions(data.path, { resolution: [320, 240], gop: 30 }));
  const viewer = await connectWeriftViewer(`${server.url}/whep`, 'vp8', { whep: true });
  try {
    await viewer.connected;
    const seqs: number[] = [];
    /** The PictureID of each packet that starts a picture, by sequence number. */
    const pictureOf = new Map<number, number>();
    let ssrc = 0;
    viewer.rtpListeners.push((rtp) => {
      ssrc = rtp.header.ssrc;
      seqs.push(rtp.header.sequenceNumber);
      if (!(rtp.payload[0]! & 0x10)) return; // not a picture's first packet
      const field = vp8PictureIdField(rtp.payload, 0);
      const at = field & 0xffff;
      pictureOf.set(rtp.header.sequenceNumber, field >> 16 === 2 ? rtp.payload.readUInt16BE(at) & 0x7fff : rtp.payload[at]! & 0x7f);
    });
    const video = () => server.rtc.stats().viewers[0]?.video;
    assert.ok(await waitFor(() => video()?.lane.now === true, 10_000, 20), `in its lane: ${JSON.stringify(video())}`);
    await sleep(500);
    const transport = viewer.pc.getTransceivers()[0]!.dtlsTransport;

    // A picture loss: the GOP again, from JavaScript, then back to the lane.
    const entered = video()!.lane.entered;
    await transport.sendRtcp([new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 1, mediaSsrc: ssrc }) })]);
    assert.ok(await waitFor(() => video()!.keyframeRequests === 1 && video()!.lane.now && video()!.lane.entered > entered, 5_000, 10), `back in its lane: ${JSON.stringify(video())}`);
    await sleep(300);

    // A repair of a packet the lane sent: from the lane's history, while the viewer is back in JavaScript.
    const repaired = seqs.at(-5)!;
    const copiesBefore = seqs.filter((seq) => seq === repaired).length;
    await transport.sendRtcp([new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: ssrc, lost: [repaired] }) })]);
    assert.ok(await waitFor(() => seqs.filter((seq) => seq === repaired).length > copiesBefore, 3_000, 10), `packet ${repaired} sent again: ${JSON.stringify(video()?.nacks)}`);
    assert.ok(await waitFor(() => video()!.lane.now && video()!.lane.entered > entered + 1, 5_000, 10), 'in its lane again after the repair');
    await sleep(500);

    // One stream: every sequence number once, one after the other (the repair aside); PictureIDs likewise.
    const once = seqs.filter((seq, index) => !(seq === repaired && seqs.indexOf(seq) !== index));
    assert.equal(once.length, seqs.length - 1, 'nothing sent twice but the repair');
    const pictures = once.filter((seq) => pictureOf.has(seq)).map((seq) => pictureOf.get(seq)!);
    const gaps = once.slice(1).map((seq, index) => (seq - once[index]!) & 0xffff).map((step, index) => [step, index] as const).filter(([step]) => step !== 1);
    assert.deepEqual(gaps, [], `sequence numbers one after the other (${once.length} packets)`);
    const steps = pictures.slice(1).map((id, index) => (id - pictures[index]!) & 0x7fff);
    assert.deepEqual(steps.filter((step) => step !== 1), [], `PictureIDs one after the other (${pictures.length} pictures)`);
    assert.ok(viewer.frames > 60, `frames decoded by werift: ${viewer.frames}`);
  } finally {
    await viewer.pc.close();
    await server.close();
    data.cleanup();
  }
});

test('a browser (transport-cc, paced by its estimate) goes to its lane too, and plays at the top rung with its estimate kept up', { skip, timeout: 60_000 }, async () => {
  const data = tempDir();
  const browser = await launchChromium();
  const server = await startServer(testOptions(data.path, { source: 'testsrc', resolution: [1280, 720], framerate: 30 }));
  try {
    const page = await browser.newPage();
    await openPlayer(page, `${server.url}/`);
    const video = () => server.rtc.stats().viewers[0]?.video;
    assert.ok(await waitFor(() => video()?.lane.now === true && video()?.rendition === 0, 15_000, 20), `in its lane on the top rung: ${JSON.stringify(video())}`);
    const feedbackBefore = video()!.feedback;
    const report = await measureFrames(page, 4_000, sourceFrames(server));
    assertPlaysAt(report, 25);
    const after = video()!;
    assert.deepEqual([report.width, report.height], [1280, 720]);
    assert.equal(after.rendition, 0);
    assert.ok(after.feedback.received > feedbackBefore.received + 10 && after.feedback.malformed === 0, `its feedback read: ${JSON.stringify(after.feedback)}`);
    // The feedback finds what the lane sent only in the lane's records of it.
    const acknowledged = after.feedback.packetsAcknowledged - feedbackBefore.packetsAcknowledged;
    assert.ok(acknowledged > 300, `packets the feedback acknowledged in 4 s: ${acknowledged}`);
    assert.ok(after.estimate !== undefined && after.estimate > 2_500_000, `estimate ${after.estimate}`);
    assert.ok(after.lane.now || after.lane.entered > 1, `the lane used: ${JSON.stringify(after.lane)}`);
  } finally {
    await browser.close();
    await server.close();
    data.cleanup();
  }
});
