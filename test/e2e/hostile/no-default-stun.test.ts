/**
 * Issue 20 item 1 (werift patch 001): nothing leaves for a server the options do not name. In a network
 * namespace of its own (loopback only) whose resolver is a recorder (test/e2e/hostile/dns-recorder.ts, which
 * answers every name with a loopback address so that a STUN request would follow and be counted), werift
 * viewers join through the real middleware and 100 more offers come 20 ms apart: no DNS query, no UDP to
 * port 19302 (nft counters), and every answer fast. Unpatched werift asked for stun.l.google.com on every
 * answer and waited up to 5 s for it. Needs root (network namespaces).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { Connection, RTCPeerConnection } from 'werift';
import { tempDir } from '../helpers.ts';

const namespace = `webgear-hostile-${process.pid}`;
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const inNamespace = (...args: string[]) => execFileSync('ip', ['netns', 'exec', namespace, ...args], { encoding: 'utf8' });

/** The nft counters of the namespace's output chain, by destination port. */
function counters(): Record<string, number> {
  const ruleset = JSON.parse(inNamespace('nft', '-j', 'list', 'table', 'inet', 'webgear_hostile')) as {
    nftables: { rule?: { comment?: string; expr: { counter?: { packets: number } }[] } }[];
  };
  const found: Record<string, number> = {};
  for (const { rule } of ruleset.nftables) {
    const counter = rule?.expr.find((expr) => expr.counter)?.counter;
    if (rule?.comment && counter) found[rule.comment] = counter.packets;
  }
  return found;
}

test('werift has no STUN server of its own: none by default, none behind an empty configuration', async () => {
  const unconfigured = new RTCPeerConnection({});
  assert.deepEqual(unconfigured.config.iceServers, [], 'no default iceServers');
  await unconfigured.close();
  const connection = new Connection(false, {});
  assert.equal(connection.stunServer, undefined, 'no fallback STUN server in the ICE agent');
  await connection.close();
});

test('werift without iceServers: no DNS lookup, no STUN request, fast answers (in a namespace whose resolver records every query)', {
  skip: process.getuid?.() !== 0 ? 'needs root (network namespace)' : undefined,
  timeout: 90_000,
}, async () => {
  const data = tempDir();
  ip('netns', 'add', namespace);
  try {
    mkdirSync(`/etc/netns/${namespace}`, { recursive: true });
    writeFileSync(`/etc/netns/${namespace}/resolv.conf`, 'nameserver 127.0.0.1\n');
    ip('-n', namespace, 'link', 'set', 'lo', 'up');
    execFileSync('ip', ['netns', 'exec', namespace, 'nft', '-f', '-'], {
      input: `table inet webgear_hostile {
        chain output {
          type filter hook output priority 0; policy accept;
          udp dport 19302 counter comment "stun"
          udp dport 53 counter comment "dns"
        }
      }`,
    });
    const joins = spawn('ip', ['netns', 'exec', namespace, process.execPath, 'test/e2e/hostile/fixtures/joins.ts', data.path, '3', '100', '20'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    joins.stdout.on('data', (chunk: Buffer) => (output += chunk));
    const [code] = (await once(joins, 'exit')) as [number];
    assert.equal(code, 0, output);
    const result = JSON.parse(output.trim().split('\n').at(-1)!) as {
      queries: { name: string }[];
      viewersWatching: number;
      answered: number;
      answerMs: { p50: number; p90: number; max: number };
    };
    const sent = counters();
    console.log(`POST /offer → answer over 100 offers 20 ms apart: p50 ${result.answerMs.p50} ms, p90 ${result.answerMs.p90} ms, max ${result.answerMs.max} ms; DNS queries ${result.queries.length}; UDP to 19302: ${sent.stun}`);
    assert.equal(result.viewersWatching, 3, 'the werift viewers watch');
    assert.deepEqual(result.queries, [], 'no DNS query');
    assert.equal(sent.dns, 0, 'no UDP to port 53');
    assert.equal(sent.stun, 0, 'no UDP to port 19302');
    assert.equal(result.answered, 100);
    assert.ok(result.answerMs.p50 < 1_000, `answers p50 ${result.answerMs.p50} ms`);
  } finally {
    ip('netns', 'del', namespace);
    rmSync(`/etc/netns/${namespace}`, { recursive: true, force: true });
    data.cleanup();
  }
});
