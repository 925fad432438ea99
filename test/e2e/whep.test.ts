/**
 * WHEP (issue #7): the HTTP exchange (201/Location/ETag, PATCH trickle, DELETE, OPTIONS with ICE servers,
 * CORS), a werift WHEP viewer that receives RTP, and medooze's whep.js playing from another origin in Chromium.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import Koa from 'koa';
import request from 'supertest';
import {
  assertPlaysAt, connectWeriftViewer, launchChromium, measureFrames, sourceFrames, startServer, tempDir, testOptions, waitFor,
  type TestServer,
} from './helpers.ts';

const SDP = 'application/sdp';
const TRICKLE = 'application/trickle-ice-sdpfrag';

/** A fragment as whep.js sends it: the session's ufrag/pwd, then candidates per media section. */
function fragment(ufrag: string, pwd: string, candidates: string[], mid = '0'): string {
  return `a=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:${mid}\r\n${candidates
    .map((candidate) => `a=${candidate}\r\n`)
    .join('')}a=end-of-candidates\r\n`;
}

const sdpLine = (sdp: string, name: string): string => new RegExp(`^a=${name}:(.*?)\\r?$`, 'm').exec(sdp)![1]!;

describe('WHEP over HTTP', { timeout: 90_000 }, () => {
  const data = tempDir();
  let server: TestServer;

  before(async () => {
    server = await startServer(testOptions(data.path, { resolution: [320, 240] }));
  });
  after(async () => {
    await server?.close();
    data.cleanup();
  });

  test('POST an SDP offer: 201, the answer as application/sdp, Location, ETag, CORS exposing them; media flows', async () => {
    const viewer = await connectWeriftViewer(`${server.url}/whep`, 'vp8', { whep: true });
    try {
      assert.match(viewer.resourceUrl!, new RegExp(`^${server.url}/whep/[0-9a-f-]{36}$`));
      assert.match(viewer.etag!, /^"[^"]+"$/);
      assert.match(viewer.answerSdp, /^v=0/);
      await viewer.connected;
      assert.ok(await waitFor(() => viewer.packets >= 30, 5_000), `RTP arrives (${viewer.packets} packets)`);
      const stats = server.rtc.stats().viewers;
      assert.deepEqual(stats.map((entry) => [entry.signaling, entry.state]), [['whep', 'connected']]);
      assert.ok(!viewer.resourceUrl!.includes(stats[0]!.id), 'the public id is not the session key');
    } finally {
      await viewer.close();
    }
  });

  test('the 201 carries the headers a cross-origin player needs', async () => {
    const raw = await fetchOffer(server.url);
    try {
      assert.equal(raw.status, 201);
      assert.equal(raw.headers.get('content-type'), SDP);
      assert.equal(raw.headers.get('access-control-allow-origin'), '*');
      const exposed = raw.headers.get('access-control-expose-headers')!.split(',');
      for (const header of ['Location', 'ETag', 'Link']) assert.ok(exposed.includes(header), `${header} is exposed`);
      assert.equal(raw.headers.get('accept-patch'), TRICKLE);
    } finally {
      await raw.close();
    }
  });

  test('PATCH: candidates → 204; wrong If-Match → 412; a new ufrag (ICE restart) → 422; wrong type → 415', async () => {
    const viewer = await connectWeriftViewer(`${server.url}/whep`, 'vp8', { whep: true });
    try {
      const local = viewer.pc.localDescription!.sdp;
      const ufrag = sdpLine(local, 'ice-ufrag');
      const pwd = sdpLine(local, 'ice-pwd');
      const candidate = sdpLine(local, 'candidate');
      const path = new URL(viewer.resourceUrl!).pathname;
      const agent = request(server.url);
      const body = fragment(ufrag, pwd, [`candidate:${candidate}`]);
      await agent.patch(path).set('Content-Type', TRICKLE).set('If-Match', viewer.etag!).send(body).expect(204);
      await agent.patch(path).set('Content-Type', TRICKLE).send(body).expect(204); // If-Match is optional
      const stale = await agent.patch(path).set('Content-Type', TRICKLE).set('If-Match', '"stale"').send(body).expect(412);
      assert.match(stale.text, /If-Match/);
      const restart = await agent.patch(path).set('Content-Type', TRICKLE).set('If-Match', '*').send(fragment('newufrag', 'newpwd0123456789012345', []));
      assert.equal(restart.status, 422, 'WHEP: trickle without restart support answers 422');
      assert.match(restart.text, /ICE restart/);
      await agent.patch(path).set('Content-Type', 'application/json').send('{}').expect(415);
      await agent.patch(path).set('Content-Type', TRICKLE).send('this is not SDP\r\n').expect(400);
      await viewer.connected;
      assert.ok(await waitFor(() => viewer.packets > 0, 5_000), 'the session still streams');
    } finally {
      await viewer.close();
    }
  });

  test('DELETE the resource: 200, the viewer is gone; again (or an unknown session): 404 as text', async () => {
    const viewer = await connectWeriftViewer(`${server.url}/whep`, 'vp8', { whep: true });
    try {
      await viewer.connected;
      const path = new URL(viewer.resourceUrl!).pathname;
      const before = server.rtc.stats().viewers.length; // earlier tests' viewers may not be dropped yet
      await request(server.url).delete(path).expect(200);
      assert.equal(server.rtc.stats().viewers.length, before - 1);
      const again = await request(server.url).delete(path).expect(404);
      assert.match(again.headers['content-type']!, /^text\/plain/);
      await request(server.url).patch('/whep/no-such-session').set('Content-Type', TRICKLE).send(fragment('a', 'b', [])).expect(404);
    } finally {
      await viewer.close();
    }
  });

  test('bad POSTs: not application/sdp → 415, not SDP → 400, PUT → 405; HEAD/GET discover the endpoint', async () => {
    const agent = request(server.url);
    const json = await agent.post('/whep').send({ sdp: 'v=0' }).expect(415);
    assert.match(json.text, /application\/sdp/);
    const garbage = await agent.post('/whep').set('Content-Type', SDP).send('hello').expect(400);
    assert.match(garbage.headers['content-type']!, /^text\/plain/);
    await agent.put('/whep').expect(405);
    const head = await agent.head('/whep').expect(200);
    assert.match(head.headers['content-type']!, /^application\/sdp/);
    assert.equal(head.headers['accept-post'], SDP);
    assert.equal((await agent.get('/whep').expect(200)).text, '');
  });

  test('OPTIONS (a CORS preflight): 204 allowing POST, PATCH, DELETE and If-Match from any origin, with Accept-Post', async () => {
    const preflight = await request(server.url)
      .options('/whep')
      .set('Origin', 'http://player.example')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type')
      .expect(204);
    assert.equal(preflight.headers['access-control-allow-origin'], '*');
    assert.equal(preflight.headers['accept-post'], SDP);
    for (const method of ['POST', 'PATCH', 'DELETE']) assert.match(preflight.headers['access-control-allow-methods']!, new RegExp(method));
    assert.match(preflight.headers['access-control-allow-headers']!, /If-Match/);
    const resource = await request(server.url)
      .options('/whep/any-session')
      .set('Origin', 'http://player.example')
      .set('Access-Control-Request-Method', 'DELETE')
      .expect(204);
    assert.equal(resource.headers['access-control-allow-origin'], '*');
  });
});

/** POSTs a werift offer to /whep and returns the raw response (and a way to end the session). */
async function fetchOffer(base: string): Promise<Response & { close(): Promise<void> }> {
  const { RTCPeerConnection, useVP8 } = await import('werift');
  const pc = new RTCPeerConnection({ codecs: { audio: [], video: [useVP8()] }, iceServers: [] });
  pc.addTransceiver('video', { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  const response = await fetch(`${base}/whep`, {
    method: 'POST',
    headers: { 'Content-Type': SDP, Origin: 'http://player.example' },
    body: pc.localDescription!.sdp,
  });
  const location = response.headers.get('location');
  return Object.assign(response, {
    async close() {
      if (location) await fetch(new URL(location, base), { method: 'DELETE' });
      await pc.close();
    },
  });
}

test('OPTIONS and the 201 announce the ICE servers as Link rel="ice-server", TURN credentials included', async () => {
  const data = tempDir();
  // STUN and TURN at a closed loopback port: nothing answers, gathering gives up quickly.
  const iceServers = [
    { urls: 'stun:127.0.0.1:9' },
    { urls: ['turn:127.0.0.1:9?transport=udp'], username: 'user', credential: 'se"cret' },
  ];
  const server = await startServer(testOptions(data.path, { iceServers }));
  try {
    const options = await request(server.url).options('/whep').expect(204);
    assert.equal(options.headers['accept-post'], SDP);
    const links = String(options.headers.link).split(/,\s*(?=<)/);
    assert.deepEqual(links, [
      '<stun:127.0.0.1:9>; rel="ice-server"',
      '<turn:127.0.0.1:9?transport=udp>; rel="ice-server"; username="user"; credential="se\\"cret"; credential-type="password"',
    ]);
    const page = await request(server.url).get('/').expect(200);
    assert.match(page.text, /stun:127\.0\.0\.1:9/, 'the page gets the same ICE servers');
    const started = Date.now();
    const raw = await fetchOffer(server.url);
    try {
      assert.equal(raw.status, 201);
      assert.equal(raw.headers.get('link'), links.join(', '));
      console.log(`answer with unreachable STUN/TURN configured: ${Date.now() - started} ms`);
    } finally {
      await raw.close();
    }
  } finally {
    await server.close();
    data.cleanup();
  }
});

test('authorize guards WHEP (a plain OPTIONS too: it would show TURN credentials) but never a CORS preflight; refusals carry CORS', async () => {
  const data = tempDir();
  const iceServers = [{ urls: 'turn:127.0.0.1:9', username: 'user', credential: 'secret' }];
  const server = await startServer(testOptions(data.path, { iceServers, authorize: (ctx) => ctx.get('Authorization') === 'Bearer ok' }));
  try {
    const plain = await request(server.url).options('/whep').expect(403);
    assert.equal(plain.headers.link, undefined, 'no TURN credentials without authorization');
    const preflight = await request(server.url)
      .options('/whep')
      .set('Origin', 'http://player.example')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type')
      .expect(204);
    assert.match(preflight.headers['access-control-allow-headers']!, /Authorization/);
    assert.equal(preflight.headers.link, undefined, 'an unguarded preflight shows no TURN credentials');
    const refused = await request(server.url).post('/whep').set('Origin', 'http://player.example').set('Content-Type', SDP).send('v=0\r\n').expect(403);
    assert.equal(refused.headers['access-control-allow-origin'], '*', 'a player on another site can read the 403');
    assert.match(refused.headers['content-type']!, /^text\/plain/);
    const allowed = await request(server.url).options('/whep').set('Authorization', 'Bearer ok').expect(204);
    assert.match(String(allowed.headers.link), /username="user"/);
  } finally {
    await server.close();
    data.cleanup();
  }
});

test('corsOrigins: only the listed origins get CORS headers', async () => {
  const data = tempDir();
  const server = await startServer(testOptions(data.path, { corsOrigins: ['http://allowed.example'] }));
  try {
    const allowed = await request(server.url)
      .options('/whep')
      .set('Origin', 'http://allowed.example')
      .set('Access-Control-Request-Method', 'POST')
      .expect(204);
    assert.equal(allowed.headers['access-control-allow-origin'], 'http://allowed.example');
    const other = await request(server.url)
      .options('/whep')
      .set('Origin', 'http://other.example')
      .set('Access-Control-Request-Method', 'POST');
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  } finally {
    await server.close();
    data.cleanup();
  }
});

test('under a prefix, Location is the mounted resource and DELETE works there', async () => {
  const data = tempDir();
  const server = await startServer(testOptions(data.path, { prefix: '/cam', resolution: [320, 240] }));
  try {
    const viewer = await connectWeriftViewer(`${server.url}/cam/whep`, 'vp8', { whep: true });
    assert.match(new URL(viewer.resourceUrl!).pathname, /^\/cam\/whep\/[0-9a-f-]{36}$/);
    await viewer.connected;
    await request(server.url).delete(new URL(viewer.resourceUrl!).pathname).expect(200);
    assert.equal(server.rtc.stats().viewers.length, 0);
    await viewer.close();
  } finally {
    await server.close();
    data.cleanup();
  }
});

describe("medooze's whep.js (npm whip-whep) in Chromium, from another origin", { timeout: 90_000 }, () => {
  const data = tempDir();
  let server: TestServer;
  let playerSite: ReturnType<Koa['listen']>;
  let playerUrl: string;
  const whepJs = readFileSync(createRequire(import.meta.url).resolve('whip-whep/whep.js'), 'utf8');

  before(async () => {
    server = await startServer(testOptions(data.path, { resolution: [640, 360] }));
    // The player's own site: another port, so another origin, serving whep.js as it comes from npm.
    const site = new Koa();
    site.use((ctx) => {
      if (ctx.path === '/whep.js') {
        ctx.type = 'text/javascript';
        ctx.body = whepJs;
        return;
      }
      ctx.type = 'html';
      ctx.body = `<!doctype html><video autoplay muted playsinline></video>
<script type="module">
  import { WHEPClient } from '/whep.js';
  const video = document.querySelector('video');
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.ontrack = (e) => { video.srcObject = e.streams[0] ?? new MediaStream([e.track]); };
  const client = new WHEPClient();
  window.whep = { client, pc, error: null };
  client.view(pc, ${JSON.stringify(`${server.url}/whep`)}).catch((e) => { window.whep.error = String(e); });
</script>`;
    });
    playerSite = site.listen(0, '127.0.0.1');
    await new Promise((resolve) => playerSite.once('listening', resolve));
    playerUrl = `http://localhost:${(playerSite.address() as AddressInfo).port}/`;
  });
  after(async () => {
    await server?.close();
    await new Promise((resolve) => playerSite?.close(resolve));
    data.cleanup();
  });

  test('plays the stream, trickles by PATCH, and its stop() DELETEs the session', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('requestfinished', async (req) => {
        const response = await req.response();
        if (req.url().startsWith(server.url)) requests.push(`${req.method()} ${response?.status()}`);
      });
      await page.goto(playerUrl);
      await page.waitForFunction(() => {
        const video = document.querySelector('video');
        return (video && video.videoWidth > 0 && video.currentTime > 0) || (window as any).whep?.error;
      }, undefined, { timeout: 15_000 });
      assert.equal(await page.evaluate(() => (window as any).whep.error), null);
      const report = await measureFrames(page, 3_000, sourceFrames(server));
      console.log('whep.js playback', report, requests);
      assert.deepEqual([report.width, report.height], [640, 360]);
      assertPlaysAt(report, 25);
      assert.ok(requests.includes('POST 201'), 'the offer was answered across origins');
      assert.ok(requests.includes('PATCH 204'), 'candidates were trickled');
      assert.equal(server.rtc.stats().viewers.length, 1);
      await page.evaluate(() => (window as any).whep.client.stop());
      // Within 3 s only its DELETE can end it: a silent viewer is dropped after 8 s.
      assert.ok(await waitFor(() => server.rtc.stats().viewers.length === 0, 3_000), 'stop() ended the session');
    } finally {
      await browser.close();
    }
  });
});
