/**
 * The hostile-input families, each aimed at one connected viewer (the "watcher") of a running server:
 * from other addresses (fresh loopback sockets), from the watcher's own address (over its own ICE pair,
 * and with a forged source as root), and as the watcher itself with its session's password. Each
 * returns what it sent and what came back; the caller checks the watcher, the bystanders and the
 * server. Packet counts are `scale` times the short run's.
 */
import { sleep, type WeriftViewer } from '../helpers.ts';
import { blast, credentialsOf, iceConnectionOf, iceTargetsOf, inject, routeOf, spoof, spoofer, type Address } from './harness.ts';
import {
  STUN, alert, checkAttributes, hostileRecord, hugeFragment, mediaGarbage, randomDatagram, record, strayFragment, stun,
  unauthenticatedStun, type Rng,
} from './packets.ts';

export interface Arena {
  /** The viewer every family aims at. */
  watcher: WeriftViewer;
  rng: Rng;
  /** How many times the short run's packets to send. */
  scale: number;
}

export interface FamilyOutcome {
  sent: number;
  /** Datagrams that came back to the attacking sockets, when there is a way to see them. */
  answers: number;
  /** The first of them, in hex. */
  sample?: string;
  /** Anything the family found out (answers by kind, probe results). */
  details?: Record<string, unknown>;
}

export interface Family {
  name: string;
  /** Why it cannot run here (not root…), or undefined. */
  skip?: () => string | undefined;
  run(arena: Arena): Promise<FamilyOutcome>;
}

const repeat = function* (count: number, make: () => Buffer): Generator<Buffer> {
  for (let i = 0; i < count; i++) yield make();
};

/** Every socket of the watcher's session the attacks go to: the one carrying its media, and its announced loopback candidate. */
function targetsOf(watcher: WeriftViewer): Address[] {
  const media = routeOf(watcher).server;
  return [media, ...iceTargetsOf(watcher.answerSdp).filter(([, port]) => port !== media[1])];
}

/** Sends from fresh sockets to each of the watcher's session sockets in turn; sums the outcomes. */
async function blastAll(watcher: WeriftViewer, count: number, make: () => Buffer, sockets = 8): Promise<FamilyOutcome> {
  let sent = 0;
  let answers = 0;
  let sample: string | undefined;
  for (const target of targetsOf(watcher)) {
    const result = await blast(target, repeat(count, make), { sockets });
    sent += result.sent;
    answers += result.answers.length;
    sample ??= result.answers[0]?.data.toString('hex');
  }
  return { sent, answers, sample };
}

const STUN_CLASS = (data: Buffer): string => {
  if (data.length < 20 || data.readUInt32BE(4) !== 0x2112a442) return 'not STUN';
  return ({ 0x0000: 'request', 0x0010: 'indication', 0x0100: 'success', 0x0110: 'error' } as Record<number, string>)[data.readUInt16BE(0) & 0x0110]!;
};

export const FAMILIES: Family[] = [
  {
    name: 'random bytes, from other addresses and from the viewer\'s own',
    async run({ watcher, rng, scale }) {
      const outcome = await blastAll(watcher, 500 * scale, () => randomDatagram(rng));
      outcome.sent += await inject(watcher, repeat(300 * scale, () => randomDatagram(rng)));
      return outcome;
    },
  },
  {
    name: 'malformed and unauthenticated STUN from other addresses (role attributes, USE-CANDIDATE, unknown attributes)',
    async run({ watcher, rng, scale }) {
      const ice = credentialsOf(watcher);
      return blastAll(watcher, 2_000 * scale, () => unauthenticatedStun(ice, rng), 32);
    },
  },
  {
    name: 'STUN with the session\'s password (a hostile viewer): unknown comprehension-required attribute, role probe, flood',
    async run({ watcher, rng, scale }) {
      const ice = credentialsOf(watcher);
      const [target] = targetsOf(watcher);
      const byKind = (answers: { data: Buffer }[]) =>
        answers.reduce<Record<string, number>>((counts, { data }) => ({ ...counts, [STUN_CLASS(data)]: (counts[STUN_CLASS(data)] ?? 0) + 1 }), {});
      // Unknown comprehension-required attribute, authenticated: 420, never success (RFC 5389 §7.3.1).
      const unknown = await blast(target!, [stun({ transactionId: rng.bytes(12), attributes: [...checkAttributes(ice), [0x7777, Buffer.alloc(4)]], integrityKey: ice.serverPassword })], { sockets: 1, from: '127.0.0.2' });
      // The server answers checks as the controlled agent: an authenticated ICE-CONTROLLING check gets
      // success. Had an unauthenticated ICE-CONTROLLED switched its role, it would get 487.
      const probeId = rng.bytes(12);
      const probe = await blast(target!, [stun({ transactionId: probeId, attributes: checkAttributes(ice, { tieBreaker: 1n }), integrityKey: ice.serverPassword })], { sockets: 1, from: '127.0.0.2' });
      const probeAnswer = probe.answers.find(({ data }) => data.subarray(8, 20).equals(probeId));
      const errorCode = (data: Buffer) => {
        for (let at = 20; at + 4 <= data.length; at += 4 + Math.ceil(data.readUInt16BE(at + 2) / 4) * 4) {
          if (data.readUInt16BE(at) === STUN.ERROR_CODE) return data[at + 6]! * 100 + data[at + 7]!;
        }
        return undefined;
      };
      // A flood of authenticated checks from many ports: answers stay bounded (rate limit, peer-reflexive cap).
      const start = performance.now();
      // From 127.0.0.2: the checks the server starts towards these sockets must not reach the sockets
      // other families send from (127.0.0.1), where they would look like answers.
      const flood = await blast(target!, repeat(500 * scale, () => stun({ transactionId: rng.bytes(12), attributes: checkAttributes(ice), integrityKey: ice.serverPassword })), { sockets: 64, from: '127.0.0.2' });
      return {
        sent: 2 + flood.sent,
        answers: unknown.answers.length + probe.answers.length + flood.answers.length,
        details: {
          unknownAttribute: byKind(unknown.answers),
          unknownAttributeError: unknown.answers.map(({ data }) => errorCode(data)).find((code) => code !== undefined),
          probe: probeAnswer ? STUN_CLASS(probeAnswer.data) : 'none',
          probeError: probeAnswer ? errorCode(probeAnswer.data) : undefined,
          flood: byKind(flood.answers),
          floodSeconds: (performance.now() - start) / 1000,
        },
      };
    },
  },
  {
    name: 'DTLS records, alerts and ClientHello mutations from other addresses',
    run: ({ watcher, rng, scale }) => blastAll(watcher, 1_000 * scale, () => hostileRecord(rng)),
  },
  {
    name: 'DTLS records, alerts and ClientHello mutations from the viewer\'s own address',
    async run({ watcher, rng, scale }) {
      // The two 15-byte datagrams first, then the rest.
      const first = [alert(1, 0), alert(1, 10), record(25, 0, 1, Buffer.from([1, 0])), alert(2, 40)];
      const sent = (await inject(watcher, first)) + (await inject(watcher, repeat(500 * scale, () => hostileRecord(rng))));
      return { sent, answers: 0 };
    },
  },
  {
    name: 'handshake fragments (never completed, 16 MiB announced) from other addresses and the viewer\'s own',
    async run({ watcher, rng, scale }) {
      const outcome = await blastAll(watcher, 1_000 * scale, () => (rng.next() < 0.01 ? hugeFragment(rng) : strayFragment(rng)));
      outcome.sent += await inject(watcher, repeat(20, () => hugeFragment(rng)));
      outcome.sent += await inject(watcher, repeat(2_000 * scale, () => strayFragment(rng)));
      return outcome;
    },
  },
  {
    name: 'RTP, RTCP and TURN-looking garbage from other addresses and the viewer\'s own',
    async run({ watcher, rng, scale }) {
      const outcome = await blastAll(watcher, 1_000 * scale, () => mediaGarbage(rng));
      outcome.sent += await inject(watcher, repeat(1_000 * scale, () => mediaGarbage(rng)));
      return outcome;
    },
  },
  {
    name: 'mutated copies of the viewer\'s own packets (SRTCP, STUN), from its own address',
    async run({ watcher, rng, scale }) {
      // What the viewer really sends on its pair for a moment (receiver reports, consent checks)…
      const transport = (iceConnectionOf(watcher).nominated as unknown as { protocol: { transport: { send(data: Buffer, addr?: unknown): Promise<void> } } }).protocol.transport;
      const send = transport.send;
      const seen: Buffer[] = [];
      transport.send = (data, addr) => {
        if (seen.length < 64) seen.push(Buffer.from(data));
        return send(data, addr);
      };
      await sleep(1_500);
      transport.send = send;
      if (seen.length === 0) return { sent: 0, answers: 0, details: { captured: 0 } };
      // …with bits flipped, cut short or made longer, and replayed as is.
      const mutate = (): Buffer => {
        const copy = Buffer.from(rng.pick(seen));
        switch (rng.int(0, 3)) {
          case 0:
            for (let i = rng.int(1, 4); i > 0; i--) copy[rng.int(0, copy.length - 1)]! ^= 1 << rng.int(0, 7);
            return copy;
          case 1: return copy.subarray(0, rng.int(1, copy.length));
          case 2: return Buffer.concat([copy, rng.bytes(rng.int(1, 64))]);
          default: return copy;
        }
      };
      return { sent: await inject(watcher, repeat(500 * scale, mutate)), answers: 0, details: { captured: seen.length } };
    },
  },
  {
    name: 'everything, spoofed from the viewer\'s own address with a raw socket',
    skip: () => (process.getuid?.() !== 0 ? 'needs root (raw socket)' : spoofer() ? undefined : 'no C compiler for test/e2e/hostile/spoof.c'),
    async run({ watcher, rng, scale }) {
      const ice = credentialsOf(watcher);
      const makers = [() => hostileRecord(rng), () => unauthenticatedStun(ice, rng), () => mediaGarbage(rng), () => strayFragment(rng), () => randomDatagram(rng)];
      const datagrams = [alert(1, 0), record(25, 0, 1, Buffer.from([1, 0])), ...repeat(1_000 * scale, () => rng.pick(makers)())];
      const { viewer, server } = routeOf(watcher);
      return { sent: await spoof(viewer, server, datagrams), answers: 0 };
    },
  },
];
