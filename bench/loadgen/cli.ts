/**
 * node bench/loadgen/cli.ts --url http://127.0.0.1:8000 --viewers 200 --spacing-ms 20 --seconds 30
 *
 * Joins the viewers, prints progress and a summary; `--json <file>` writes the whole report (every viewer).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatSummary, runLoad, type SrtpProfile } from './index.ts';

const usage = `usage: node bench/loadgen/cli.ts --url <server> --viewers <n> --seconds <s> [options]
  --url <url>              the server's base URL (WHEP at <url>/whep); loopback or --allow-address only
  --viewers <n>            viewers to join (1–5000)
  --spacing-ms <ms>        between two joins (default 20)
  --seconds <s>            length of the whole run, from the first join (≤ 600)
  --connect-timeout-ms <ms> ICE + DTLS deadline after the answer (default 15000)
  --srtp <list>            SRTP profiles offered, by preference: gcm,cm (default) or cm or gcm
  --batch-us <µs>          once all are connected, the native thread's pause after each wake-up, so that
                           recvmmsg reads datagrams in batches (default 20000)
  --receive-offload <on|off> UDP_GRO on the viewers' sockets: a GSO send of the server crosses loopback as one
                           (default on; off: each datagram on its own, as a browser receives)
  --retry-refused-s <s>    a viewer answered 503 POSTs again after its Retry-After, as a player does, for up
                           to this long after its first POST (default 0: a 503 is final)
  --bind <ip>              local address of the viewers' sockets (default 127.0.0.1)
  --allow-address <ip>     an address besides 127.0.0.0/8 that may be contacted (your namespace); repeatable
  --server-pid <pid>       also report this process's CPU over the same window
  --slice-s <s>            and in slices of it this long, with their median (default 5)
  --json <file>            write the full report (every viewer) there`;

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    viewers: { type: 'string' },
    'spacing-ms': { type: 'string', default: '20' },
    seconds: { type: 'string' },
    'connect-timeout-ms': { type: 'string', default: '15000' },
    srtp: { type: 'string', default: 'gcm,cm' },
    bind: { type: 'string', default: '127.0.0.1' },
    'batch-us': { type: 'string', default: '20000' },
    'receive-offload': { type: 'string', default: 'on' },
    'retry-refused-s': { type: 'string', default: '0' },
    'allow-address': { type: 'string', multiple: true, default: [] },
    'server-pid': { type: 'string' },
    'slice-s': { type: 'string', default: '5' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help || !values.url || !values.viewers || !values.seconds) {
  console.log(usage);
  process.exit(values.help ? 0 : 2);
}

const number = (name: string, text: string | undefined) => {
  const value = Number(text);
  if (text === undefined || !Number.isFinite(value)) {
    console.error(`--${name} must be a number, got ${text}\n${usage}`);
    process.exit(2);
  }
  return value;
};

if (values['receive-offload'] !== 'on' && values['receive-offload'] !== 'off') {
  console.error(`--receive-offload must be on or off, got ${values['receive-offload']}\n${usage}`);
  process.exit(2);
}

const report = await runLoad({
  url: values.url,
  viewers: number('viewers', values.viewers),
  spacingMs: number('spacing-ms', values['spacing-ms']),
  seconds: number('seconds', values.seconds),
  connectTimeoutMs: number('connect-timeout-ms', values['connect-timeout-ms']),
  srtpProfiles: values.srtp.split(',').map((name) => name.trim()) as SrtpProfile[],
  bindAddress: values.bind,
  batchUs: number('batch-us', values['batch-us']),
  receiveOffload: values['receive-offload'] === 'on',
  retryRefusedForMs: number('retry-refused-s', values['retry-refused-s']) * 1000,
  allowAddresses: values['allow-address'],
  serverPid: values['server-pid'] === undefined ? undefined : number('server-pid', values['server-pid']),
  sliceSeconds: number('slice-s', values['slice-s']),
  onProgress: (line) => console.error(line),
});
console.log(formatSummary(report.summary));
if (values.json) {
  writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`report: ${values.json}`);
}
