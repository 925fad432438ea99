/**
 * The hostile suite's own generator: an "unauthenticated" STUN request must never be an authenticated one.
 * A CI run drew a random username fragment equal to the server's (werift's are 4 hex digits) and so sent a
 * request signed with the right password: the server answered it, rightly, and the suite failed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unauthenticatedStun, type Rng } from '../../e2e/hostile/packets.ts';

const usernameOf = (message: Buffer): string | undefined => {
  for (let at = 20; at + 4 <= message.length; at += 4 + Math.ceil(message.readUInt16BE(at + 2) / 4) * 4) {
    if (message.readUInt16BE(at) === 0x0006) return message.subarray(at + 4, at + 4 + message.readUInt16BE(at + 2)).toString();
  }
  return undefined;
};

test("the unknown-username variant never names the server's own username fragment", () => {
  const ice = { serverUfrag: 'a1b2', serverPassword: 'p'.repeat(22), clientUfrag: 'c3d4' };
  // An rng that picks the unknown-username variant (5) and draws exactly the server's fragment.
  const rng: Rng = {
    next: () => 0,
    int: () => 5,
    bytes: (length) => (length === 2 ? Buffer.from(ice.serverUfrag, 'hex') : Buffer.alloc(length)),
    pick: (items) => items[0]!,
  };
  const username = usernameOf(unauthenticatedStun(ice, rng));
  assert.ok(username, 'the request has a USERNAME');
  assert.notEqual(username.split(':')[0], ice.serverUfrag);
});
