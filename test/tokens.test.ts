import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createTokenSigner, TokenError } from '../src/server/rooms/builtin/tokens.js';
import { DEFAULT_GRANTS } from '../src/server/rooms/provider.js';

const input = { orgId: 'org-1', roomId: 'room-1', roomName: 'consult-42', identity: 'patient:abc', grants: { ...DEFAULT_GRANTS } };

describe('builtin access tokens', () => {
  const signer = createTokenSigner('a'.repeat(48));

  test('a signed token verifies to the same room, identity and grants', async () => {
    const { token, claims } = await signer.sign(input, 3600);
    const verified = await signer.verify(token);
    assert.deepEqual(verified, claims);
    assert.equal(verified.identity, 'patient:abc');
    assert.equal(verified.roomName, 'consult-42');
    assert.deepEqual(verified.grants, { publish: true, subscribe: true, data: true, admin: false });
  });

  test('every token has its own id', async () => {
    const [one, two] = await Promise.all([signer.sign(input, 60), signer.sign(input, 60)]);
    assert.notEqual(one.claims.tokenId, two.claims.tokenId);
  });

  test('expired, tampered, foreign-key and garbage tokens are refused with a reason', async () => {
    const issued = new Date('2030-01-01T00:00:00Z');
    const { token } = await signer.sign(input, 60, issued);
    await assert.rejects(signer.verify(token, new Date(issued.getTime() + 61_000)), (e: unknown) => e instanceof TokenError && e.reason === 'expired');
    assert.equal((await signer.verify(token, new Date(issued.getTime() + 30_000))).identity, input.identity);

    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload.room = 'another-room';
    const forged = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    await assert.rejects(signer.verify(forged, issued), (e: unknown) => e instanceof TokenError && e.reason === 'invalid');

    const other = createTokenSigner('b'.repeat(48));
    await assert.rejects(other.verify(token, issued), (e: unknown) => e instanceof TokenError && e.reason === 'invalid');
    for (const garbage of ['', 'x', 'a.b.c', `${h}.${p}.`]) {
      await assert.rejects(signer.verify(garbage, issued), (e: unknown) => e instanceof TokenError && e.reason === 'invalid');
    }
  });

  test('the header carries HS256 only', async () => {
    const { token } = await signer.sign(input, 60);
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString());
    assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
    const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${token.split('.')[1]}.`;
    await assert.rejects(signer.verify(none), TokenError);
  });
});
