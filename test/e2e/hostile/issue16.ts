/**
 * Measures every row of issue 16's table against the werift in node_modules (patched or not: run
 * `node patches/apply.mjs --reverse` first for the "before" column, `node patches/apply.mjs` after), and
 * prints a Markdown table. Not a test: the tests assert; this reports. Loopback only, bounded.
 *   node test/e2e/hostile/issue16.ts
 */
import { Connection } from 'werift';
import { sleep, tempDir, waitFor, type WeriftViewer } from '../helpers.ts';
import {
  blast, connectLoopbackViewer, credentialsOf, inject, longestGapMs, routeOf, startHost, type HostProcess,
} from './harness.ts';
import {
  alert, checkAttributes, hugeFragment, malformedClientHello, random, record, strayFragment, stun,
} from './packets.ts';
import { connectForgingViewer, connectHeldViewer } from './scenarios.ts';

const patched = (Connection as unknown as { patchNoDefaultStun?: boolean }).patchNoDefaultStun === true;
const rng = random(16);
const rows: [string, string][] = [];
const report = (what: string, result: string) => {
  rows.push([what, result]);
  console.log(`${what}: ${result}`);
};
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

async function serverView(host: HostProcess, viewer: WeriftViewer): Promise<{ state: string; packetsSent: number }> {
  const stats = (await (await fetch(`${host.url}/stats`)).json()) as { viewers: { id: string; state: string; packetsSent: number }[] };
  const found = stats.viewers.find((each) => each.id === viewer.publicId);
  return { state: found?.state ?? 'gone', packetsSent: found?.packetsSent ?? 0 };
}

/** Sends `datagrams` at a connected viewer, then says what became of it over the next 3 s. */
async function afterDatagrams(host: HostProcess, datagrams: Buffer[], how: 'fresh socket' | 'own pair'): Promise<string> {
  const viewer = await connectLoopbackViewer(host.url);
  try {
    await viewer.connected;
    await waitFor(() => viewer.frames > 10, 5_000);
    if (how === 'own pair') await inject(viewer, datagrams);
    else await blast(routeOf(viewer).server, datagrams, { sockets: 1, settleMs: 0 });
    const frames = viewer.frames;
    const before = await serverView(host, viewer);
    await sleep(3_000);
    const after = await serverView(host, viewer);
    const got = viewer.frames - frames;
    const dtls = (viewer.pc.dtlsTransports[0] as unknown as { state: string }).state;
    return `${got > 60 ? 'video goes on' : got === 0 ? '**video stopped**' : `${got} frames in 3 s`}; server /stats ${after.state}, packets ${before.packetsSent} → ${after.packetsSent}; viewer's DTLS ${dtls}`;
  } finally {
    await viewer.close();
  }
}

const data = tempDir();
let host = await startHost(data.path, { resolution: [320, 240] });
try {
  // Row 1: one 15-byte datagram from any address.
  report('ONE 15-byte warning alert from another address', await afterDatagrams(host, [alert(1, 10)], 'fresh socket'));
  report('ONE 15-byte record of unknown content type from another address', await afterDatagrams(host, [record(25, 0, 1, Buffer.from([1, 0]))], 'fresh socket'));
  report('the same two, from the viewer\'s own address', await afterDatagrams(host, [alert(1, 10), record(25, 0, 1, Buffer.from([1, 0]))], 'own pair'));
  // Row 2: one malformed ClientHello.
  const hello = malformedClientHello(rng);
  report('one malformed ClientHello from another address', await afterDatagrams(host, [hello], 'fresh socket'));
  report('one malformed ClientHello from the viewer\'s own address', await afterDatagrams(host, [hello], 'own pair'));

  // Row 3: unauthenticated STUN, then the role probe.
  {
    const viewer = await connectLoopbackViewer(host.url);
    await viewer.connected;
    const ice = credentialsOf(viewer);
    const target = routeOf(viewer).server;
    const kinds: Record<string, Buffer> = {
      'no MESSAGE-INTEGRITY': stun({ transactionId: rng.bytes(12), attributes: checkAttributes(ice) }),
      'wrong MESSAGE-INTEGRITY': stun({ transactionId: rng.bytes(12), attributes: checkAttributes(ice), integrityKey: 'wrong' }),
      'truncated MESSAGE-INTEGRITY': stun({ transactionId: rng.bytes(12), attributes: checkAttributes(ice), integrityKey: ice.serverPassword, truncateIntegrity: 10 }),
      'no FINGERPRINT': stun({ transactionId: rng.bytes(12), attributes: checkAttributes(ice), integrityKey: ice.serverPassword, fingerprint: 'none' }),
      'unknown comprehension-required attribute': stun({ transactionId: rng.bytes(12), attributes: [...checkAttributes(ice), [0x7777, Buffer.alloc(4)]] }),
    };
    const answered: string[] = [];
    for (const [kind, datagram] of Object.entries(kinds)) {
      const { answers } = await blast(target, [datagram], { sockets: 1, from: '127.0.0.3' });
      if (answers.length) answered.push(`${kind}: ${answers.length}`);
    }
    await blast(target, [stun({ transactionId: rng.bytes(12), attributes: checkAttributes(ice, { role: 'controlled', tieBreaker: 0n }), integrityKey: 'wrong' })], { sockets: 1, from: '127.0.0.3' });
    const probeId = rng.bytes(12);
    const probe = await blast(target, [stun({ transactionId: probeId, attributes: checkAttributes(ice, { tieBreaker: 1n }), integrityKey: ice.serverPassword })], { sockets: 1, from: '127.0.0.4' });
    const reply = probe.answers.find(({ data }) => data.subarray(8, 20).equals(probeId))?.data;
    const role = !reply ? 'no answer' : (reply.readUInt16BE(0) & 0x0110) === 0x0100 ? 'success (still controlled)' : '**487: the role switched**';
    report('STUN requests with a wrong, missing or truncated MESSAGE-INTEGRITY, no FINGERPRINT, unknown comprehension-required attribute; then an unauthenticated ICE-CONTROLLED with tie-breaker 0',
      `answered: ${answered.join(', ') || 'none'}; a real (authenticated) check afterwards: ${role}`);
    await viewer.close();
  }

  // Row 4: 8000 unauthenticated requests from 1000 ports.
  {
    const viewer = await connectLoopbackViewer(host.url);
    await viewer.connected;
    const ice = credentialsOf(viewer);
    const before = await host.state();
    // Binding requests as a browser's, but without MESSAGE-INTEGRITY.
    const requests = Array.from({ length: 8_000 }, () => stun({ transactionId: rng.bytes(12), attributes: checkAttributes(ice) }));
    const { answers } = await blast(routeOf(viewer).server, requests, { sockets: 1_000, settleMs: 3_000, from: '127.0.0.5' });
    const after = await host.state();
    const bytes = answers.reduce((sum, { data }) => sum + data.length, 0);
    report('8000 Binding requests without MESSAGE-INTEGRITY from 1000 ports', `${answers.length} datagrams (${mb(bytes)}) sent back; heap ${mb(before.heapUsed)} → ${mb(after.heapUsed)}`);
    await viewer.close();
  }

  // Row 5: 8000 fragments that never complete, at a session still handshaking.
  {
    const held = await connectHeldViewer(host.url);
    const before = await host.state();
    await inject(held.viewer, Array.from({ length: 8_000 }, () => strayFragment(rng)));
    await sleep(1_000);
    const after = await host.state();
    await sleep(5_000);
    const later = await host.state();
    report('8000 DTLS handshake fragments never completed (session still handshaking)',
      `external ${mb(before.external)} → ${mb(after.external)}, 5 s later ${mb(later.external)}; RSS ${mb(before.rss)} → ${mb(later.rss)}`);
    held.release();
    const connected = await held.viewer.connected.then(() => true, () => false);
    rows.at(-1)![1] += connected ? '; the viewer then connects' : '; **the viewer then fails to connect**';
    console.log(`  the held viewer then connects: ${connected}`);
    await held.viewer.close();
  }
  await host.stop();

  // Row 6: 20 datagrams announcing 16 MiB messages, at a connected viewer and at one handshaking; a bystander watches.
  host = await startHost(data.path, { resolution: [320, 240] });
  {
    const bystander = await connectLoopbackViewer(host.url);
    const target = await connectLoopbackViewer(host.url);
    await Promise.all([bystander.connected, target.connected]);
    await waitFor(() => bystander.frames > 10, 5_000);
    const held = await connectHeldViewer(host.url);
    const before = host.rss();
    let peak = before;
    let crashed = false;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, host.rss());
      } catch {
        crashed = true; // the server process is gone
      }
    }, 50);
    const start = performance.now();
    await blast(routeOf(target).server, Array.from({ length: 20 }, () => hugeFragment(rng)), { sockets: 1, settleMs: 0 });
    await inject(held.viewer, Array.from({ length: 20 }, () => hugeFragment(rng)));
    await sleep(5_000);
    clearInterval(sampler);
    const gap = longestGapMs(bystander, start);
    report('20 datagrams announcing 16 MiB handshake messages (20 at a connected viewer from another address, 20 at one still handshaking)',
      `RSS ${mb(before)} → peak ${mb(peak)}; a bystander's longest frame gap ${gap.raw.toFixed(0)} ms${crashed ? '; **the server process crashed**' : ''}`);
    // Then the handshaking viewer sends its real ClientHello: it meets what was buffered.
    held.release();
    await sleep(2_000);
    const alive = await fetch(`${host.url}/stats`).then(() => true, () => false);
    if (!alive) rows.at(-1)![1] += '; **the server process died** once the handshaking viewer sent its real ClientHello';
    console.log(`  server alive afterwards: ${alive}`);
    await Promise.all([bystander, target, held.viewer].map((viewer) => viewer.close()));
  }
  await host.stop();
  host = await startHost(data.path, { resolution: [320, 240] });

  // Row 7: forged handshakes.
  for (const forge of ['certificate-verify', 'finished'] as const) {
    const forger = await connectForgingViewer(host.url, forge);
    await sleep(2_500);
    const view = await serverView(host, forger);
    report(`a DTLS handshake with the offer's certificate but a garbage ${forge === 'finished' ? 'Finished' : 'CertificateVerify'}`,
      `viewer ${forger.pc.connectionState}, ${forger.packets} RTP packets received; server /stats: ${view.state}`);
    await forger.close();
  }
} finally {
  await host.stop();
  data.cleanup();
}
console.log(`\n| what was sent | werift ${patched ? 'patched (patches/)' : '0.25.2 unpatched'} |\n|---|---|`);
for (const [what, result] of rows) console.log(`| ${what} | ${result} |`);
process.exit(0); // werift's DTLS retransmission timers of the forgers and held viewers would keep it ~30 s
