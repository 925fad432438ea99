/** lib/werift/werift-patches.ts: the server refuses a werift without its patches, naming them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Connection, DtlsServer, DtlsSocket } from 'werift';
import { assertWeriftPatched, missingWeriftPatches } from '../../../../lib/werift/werift-patches.ts';

test('every patch of patches/ is applied to the werift that loads (npm install ran patches/apply.mjs)', () => {
  assert.deepEqual(missingWeriftPatches(), []);
  assert.doesNotThrow(() => assertWeriftPatched());
});

test('a missing patch is named, and the server will not start without it', () => {
  const markers = [[Connection, 'patchStunAuth'], [DtlsSocket, 'patchBoundedReassembly'], [DtlsServer, 'patchNoHelloVerify']] as const;
  const saved = markers.map(([owner, name]) => (owner as unknown as Record<string, unknown>)[name]);
  try {
    for (const [owner, name] of markers) (owner as unknown as Record<string, unknown>)[name] = undefined;
    assert.deepEqual(missingWeriftPatches(), ['004 stun-auth', '006 bounded-reassembly', '007 no-hello-verify']);
    assert.throws(() => assertWeriftPatched(), /werift is not patched \(004 stun-auth, 006 bounded-reassembly, 007 no-hello-verify\).*patches\/apply\.mjs/);
  } finally {
    markers.forEach(([owner, name], index) => ((owner as unknown as Record<string, unknown>)[name] = saved[index]));
  }
});
