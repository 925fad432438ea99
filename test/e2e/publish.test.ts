/**
 * `publish` without an SFU (runs anywhere; the real ingest is in publish-janus.test.ts): what the WHIP
 * client sends, how it fails and waits, and that it starts the source by itself. The endpoint here is a
 * plain HTTP server that records the requests and answers what each test needs.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, describe, test } from 'node:test';
import { sleep, startServer, tempDir, testOptions, waitFor, type TestServer } from './helpers.ts';

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/** An HTTP server on loopback answering every request with `respond`, keeping what it got. */
async function endpoint(respond: (request: Recorded, response: ServerResponse) => void): Promise<{ url: string; requests: Recorded[]; server: Server }> {
  const requests: Recorded[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const recorded = { method: request.method!, url: request.url!, headers: request.headers, body, at: performance.now() };
      requests.push(recorded);
      respond(recorded, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/whip/live`, requests, server };
}

describe('publish: the WHIP client', { timeout: 60_000 }, () => {
  const data = tempDir();
  let server: TestServer | undefined;
  after(() => data.cleanup());
  const publishOf = () => server!.rtc.stats().publish!;

  test('the offer: POST application/sdp with the Bearer token, sendonly video and audio, candidates, CRLF; a 503 waits its Retry-After', async () => {
    const whip = await endpoint((_, response) => {
      response.writeHead(503, { 'Retry-After': '3', 'Content-Type': 'text/plain' }).end('busy, come back later');
    });
    try {
      server = await startServer(testOptions(data.path, { audio: 'lavfi:sine=frequency=440', publish: { url: `${whip.url}?key=secret`, token: 'T0k-en' } }));
      assert.ok(await waitFor(() => whip.requests.length >= 1, 10_000), 'the endpoint is offered to without any viewer');
      assert.equal(server.rtc.stats().source.state, 'running', 'the source started by itself');
      const [offer] = whip.requests;
      assert.equal(offer!.method, 'POST');
      assert.equal(offer!.url, '/whip/live?key=secret');
      assert.equal(offer!.headers['content-type'], 'application/sdp');
      assert.equal(offer!.headers.authorization, 'Bearer T0k-en');
      const sdp = offer!.body;
      assert.ok(sdp.startsWith('v=0\r\n') && !/[^\r]\n/.test(sdp), 'an SDP with CRLF line ends');
      assert.deepEqual(sdp.match(/^m=\w+/gm), ['m=video', 'm=audio']);
      assert.equal(sdp.match(/^a=sendonly$/gm)?.length, 2);
      assert.match(sdp, /^a=mid:0$/m);
      assert.match(sdp, /^a=fingerprint:sha-256 /m);
      assert.match(sdp, /^a=candidate:.* typ host/m);
      assert.match(sdp, /^a=end-of-candidates$/m, 'gathered before it left (no STUN here)');
      assert.match(sdp, /^a=rtcp-fb:\d+ transport-cc$/m, 'the endpoint can give an estimate');

      assert.ok(await waitFor(() => publishOf().lastError !== undefined, 2_000));
      const publish = publishOf();
      assert.equal(publish.state, 'retrying');
      assert.equal(publish.url, `${whip.url}`, 'stats show the endpoint without its query');
      assert.match(publish.lastError!, /answered 503: busy, come back later/);
      assert.doesNotMatch(publish.lastError!, /secret/, 'nor its errors');
      await sleep(2_000);
      assert.equal(whip.requests.length, 1, 'Retry-After: 3 s, not the first backoff (1 s)');
      assert.ok(await waitFor(() => whip.requests.length === 2, 3_000));
      assert.ok(whip.requests[1]!.at - whip.requests[0]!.at >= 2_900);
      assert.equal(publishOf().restarts, 1);
    } finally {
      await server?.close();
      whip.server.close();
    }
  });

  test('an endpoint that is not there: retried at 1, 2, 4 s…, the error named; close() at once, mid-wait', async () => {
    const whip = await endpoint(() => undefined);
    await new Promise((resolve) => whip.server.close(resolve)); // nothing listens there now
    server = await startServer(testOptions(data.path, { publish: whip.url }));
    try {
      assert.ok(await waitFor(() => publishOf().restarts === 2 && publishOf().state === 'retrying', 6_000), JSON.stringify(publishOf()));
      const publish = publishOf();
      assert.equal(publish.state, 'retrying');
      assert.match(publish.lastError!, new RegExp(`POST ${whip.url} failed: ECONNREFUSED`));
      assert.equal(publish.connectedAt, undefined);
      assert.equal(publish.packetsSent, 0);
      await sleep(1_000);
      assert.equal(publishOf().restarts, 2, 'the third waits 4 s');
      const closing = performance.now();
      await server.close();
      assert.ok(performance.now() - closing < 1_500, 'close() does not wait for the backoff');
      assert.equal(publishOf().state, 'closed');
    } finally {
      await server.close();
    }
  });

  test('close() while the source has not delivered yet: at once', async () => {
    // A network source nothing sends to: the publisher waits for its first picture.
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    const port = silent.address().port;
    silent.close();
    server = await startServer(testOptions(data.path, { source: `udp://127.0.0.1:${port}`, publish: 'http://127.0.0.1:9/whip' }));
    try {
      await sleep(1_500);
      assert.equal(publishOf().state, 'starting');
      const closing = performance.now();
      await server.close();
      assert.ok(performance.now() - closing < 2_000, `closed in ${Math.round(performance.now() - closing)} ms`);
    } finally {
      await server.close();
    }
  });

  test('a 201 without Location is an error naming it (the session could never be ended)', async () => {
    const whip = await endpoint((_, response) => {
      response.writeHead(201, { 'Content-Type': 'application/sdp' }).end('v=0\r\n');
    });
    try {
      server = await startServer(testOptions(data.path, { publish: { url: whip.url } }));
      assert.ok(await waitFor(() => publishOf().lastError !== undefined, 10_000));
      assert.match(publishOf().lastError!, /without a Location header/);
    } finally {
      await server?.close();
      whip.server.close();
    }
  });
});
