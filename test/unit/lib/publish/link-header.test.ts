import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { iceServersFromLink } from '../../../../lib/publish/link-header.ts';
import { iceServerLinks } from '../../../../middleware/whep.ts';

describe('iceServersFromLink (RFC 9725 §4.6)', () => {
  test("RFC 9725's example: STUN, then TURN with password credentials", () => {
    const header = [
      '<stun:stun.example.net>; rel="ice-server"',
      '<turn:turn.example.net?transport=udp>; rel="ice-server"; username="user"; credential="myPassword"; credential-type="password"',
      '<turn:turn.example.net?transport=tcp>; rel="ice-server"; username="user"; credential="myPassword"; credential-type="password"',
      '<turns:turn.example.net?transport=tcp>; rel="ice-server"; username="user"; credential="myPassword"; credential-type="password"',
    ].join(', ');
    assert.deepEqual(iceServersFromLink(header), [
      { urls: 'stun:stun.example.net' },
      { urls: 'turn:turn.example.net?transport=udp', username: 'user', credential: 'myPassword' },
      { urls: 'turn:turn.example.net?transport=tcp', username: 'user', credential: 'myPassword' },
      { urls: 'turns:turn.example.net?transport=tcp', username: 'user', credential: 'myPassword' },
    ]);
  });

  test('what our own WHEP endpoint writes reads back the same (quotes and commas in credentials included)', () => {
    const servers = [{ urls: 'stun:127.0.0.1:3478' }, { urls: 'turn:turn.example.com:3478', username: 'a "b", c', credential: 's;e=c' }];
    assert.deepEqual(iceServersFromLink(iceServerLinks(servers).join(', ')), servers);
  });

  test('other relations, other schemes and non-password credentials are left out', () => {
    const header = [
      '<https://whip.example.com/next>; rel="next"',
      '<http://stun.example.net>; rel="ice-server"',
      '<turn:turn.example.net>; rel="ice-server"; username="u"; credential="token"; credential-type="oauth"',
    ].join(', ');
    assert.deepEqual(iceServersFromLink(header), [{ urls: 'turn:turn.example.net' }]);
  });

  test('no header, an empty one or garbage: none', () => {
    assert.deepEqual(iceServersFromLink(null), []);
    assert.deepEqual(iceServersFromLink(''), []);
    assert.deepEqual(iceServersFromLink('<<<not a link'), []);
  });
});
