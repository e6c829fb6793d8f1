// The media provider contract (test/helpers/media-provider-contract.ts) run against the builtin provider: made by the
// loader from configuration as the server makes it, attached to a bare HTTP server as its ProviderHost, participants
// are headless werift clients (test/helpers/rtc.ts) joining over the real `WS /rtc` with the tokens it minted.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import Fastify, { type FastifyPluginAsync } from 'fastify';
import { loadConfig } from '../src/server/config.js';
import { systemCtx } from '../src/server/context.js';
import { auditEvents, roomRecordings, rooms } from '../src/server/db/schema.js';
import { AppError } from '../src/server/http/errors.js';
import { UpgradeRouter } from '../src/server/http/upgrade.js';
import { LocalRecordingStore } from '../src/server/rooms/builtin/recordings.js';
import { deleteExpiredRecordings } from '../src/server/rooms/lifecycle.js';
import { createMediaProvider } from '../src/server/rooms/loader.js';
import { CAPABILITY_MEMBERS, type MediaCapability, type MediaProvider, type MintedToken, type ProviderHost } from '../src/server/rooms/provider.js';
import { revokeParticipantTokens } from '../src/server/rooms/service.js';
import { createTestApp, freePort, type TestApp } from './helpers/app.js';
import { createTestOrg, errorOf, expectStatus, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';
import { mediaProviderContract, type ContractParticipant, type MediaKind, type MediaProviderHarness } from './helpers/media-provider-contract.js';
import { RtcClient } from './helpers/rtc.js';

const SOURCE_OF = { audio: 'microphone', video: 'camera' } as const;

function participant(client: RtcClient): ContractParticipant {
  const tag = (publisher: string, kind: MediaKind) => `${publisher}/${SOURCE_OF[kind]}`;
  return {
    identity: client.identity,
    receives: (publisher, kind) => client.receives(tag(publisher, kind), 5),
    receivesNothingOf: (publisher, kinds = ['audio', 'video']) => client.receivesNothingOf(...kinds.map((kind) => tag(publisher, kind))),
    disconnected: async () => {
      await client.closed();
    },
    leave: async () => {
      client.send({ type: 'leave' });
      await client.closed();
      await client.close();
    },
    close: () => client.close(),
  };
}

async function builtinHarness(): Promise<MediaProviderHarness> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ovt-provider-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    RTC_ANNOUNCED_ADDRESSES: '127.0.0.1',
    RTC_USE_INTERFACE_ADDRESSES: 'false',
    RTC_RECONNECT_GRACE_SECONDS: '1',
  });
  const provider = createMediaProvider(config);
  // The ProviderHost the app gives it, on a bare server: upgrades by exact path, routes in their own scope.
  const server = Fastify();
  const upgrades = new UpgradeRouter();
  server.server.on('upgrade', upgrades.handle);
  provider.attach?.({ registerUpgrade: (p, handler) => upgrades.register(p, handler), registerRoutes: (plugin) => void server.register(plugin) });
  await server.listen({ host: '127.0.0.1', port });
  return {
    provider,
    async connect(token: MintedToken, identity: string, options: { publish?: readonly MediaKind[] } = {}) {
      const publish = options.publish ?? ['audio', 'video'];
      // Clients connect where the token says (ws://…/rtc); RtcClient takes the server's base URL.
      const base = new URL(token.url);
      base.protocol = base.protocol === 'wss:' ? 'https:' : 'http:';
      const client = await RtcClient.connect(base.origin, token.token, identity, { publish: publish.map((kind) => SOURCE_OF[kind]), media: publish.length > 0 });
      return participant(client);
    },
    async close() {
      await provider.shutdown?.();
      await server.close();
      await provider.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

mediaProviderContract('builtin', builtinHarness);

describe('the builtin recording store (local files)', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'ovt-store-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('opens and deletes files under RECORDINGS_DIR only: a path leading outside it, a directory or a missing file is absent', async () => {
    const dir = path.join(root, 'recordings');
    mkdirSync(path.join(dir, 'org', 'room'), { recursive: true });
    writeFileSync(path.join(dir, 'org', 'room', 'a.webm'), Buffer.alloc(1234, 1));
    const outside = path.join(root, 'secret.webm');
    writeFileSync(outside, 'not yours');
    const store = new LocalRecordingStore(dir);

    const media = await store.open({ ref: 'org/room/a.webm', file: 'org/room/a.webm' });
    assert.ok(media);
    assert.deepEqual([media.bytes, media.contentType], [1234, 'video/webm']);
    media.stream.destroy();
    for (const file of ['../secret.webm', outside, 'org/../../secret.webm', 'org/room', 'org/room/missing.webm', '']) {
      assert.equal(await store.open({ ref: file, file }), null, file);
      await store.delete({ ref: file, file });
    }
    assert.equal(await store.open({ ref: 'x', file: null }), null, 'a recording without a local file');
    assert.equal(readFileSync(outside, 'utf8'), 'not yours', 'nothing outside RECORDINGS_DIR was touched');
    await store.delete({ ref: 'org/room/a.webm', file: 'org/room/a.webm' });
    assert.equal(existsSync(path.join(dir, 'org', 'room', 'a.webm')), false);
    await store.delete({ ref: 'org/room/a.webm', file: 'org/room/a.webm' });
  });
});

/**
 * The builtin provider as a provider without `missing` would be: the capabilities undeclared and their members
 * absent (everything else delegates to it, so rooms and tokens still work). `routes` are registered through its
 * ProviderHost, as a hosted provider's status callbacks would be.
 */
function lacking(inner: MediaProvider, missing: readonly MediaCapability[], routes?: FastifyPluginAsync): MediaProvider {
  const hidden = new Set<string | symbol>(missing.flatMap((c) => CAPABILITY_MEMBERS[c]));
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'capabilities') return target.capabilities.filter((c) => !missing.includes(c));
      if (hidden.has(property)) return undefined;
      if (property === 'attach' && routes) {
        return (host: ProviderHost) => {
          target.attach?.(host);
          host.registerRoutes(routes);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

for (const kind of DB_KINDS) {
  describe(`the rooms layer over a provider without routing, recording or token revocation, on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    const callbacks: unknown[] = [];

    before(async () => {
      t = await createTestApp(kind, {
        media: (config) =>
          lacking(createMediaProvider(config), ['routing', 'recording', 'tokenRevocation'], async (scope) => {
            scope.post('/webhooks/contract/status', async (request) => {
              callbacks.push(request.body);
              return { ok: true };
            });
          }),
      });
      a = await createTestOrg(t.app);
    });
    after(() => t.close());

    const unavailable = (res: Awaited<ReturnType<TestOrg['apiKey']['get']>>, capability: string) => {
      expectStatus(res, 501, 'capability_unavailable', capability);
      assert.deepEqual(errorOf(res).details, { capability, provider: 'builtin' });
    };

    test('rooms and tokens work; routing, recording and revocation answer 501 capability_unavailable naming the capability and provider', async () => {
      assert.equal((await a.apiKey.post('/api/v1/rooms', { name: 'plain' })).statusCode, 201);
      assert.equal((await a.apiKey.post('/api/v1/tokens', { room: 'plain', identity: 'pat' })).statusCode, 201);
      unavailable(await a.apiKey.patch('/api/v1/rooms/plain/participants/pat', { group: 'side' }), 'routing');
      unavailable(await a.apiKey.post('/api/v1/rooms/plain/recording/start'), 'recording');
      unavailable(await a.apiKey.post('/api/v1/rooms/plain/recording/stop'), 'recording');
      // Revocation is the rooms layer's own on such a provider (stored, the channel refuses the old tokens), so a
      // denial never fails halfway; the audit says the provider took no part.
      assert.equal(await revokeParticipantTokens(t.app.rooms, systemCtx(a.orgId), 'plain', 'pat'), true);
      const [revoked] = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.orgId, a.orgId), eq(auditEvents.action, 'room.tokens_revoked')));
      assert.deepEqual(revoked?.details, { identity: 'pat', provider: false });
      assert.match(errorOf(await a.apiKey.patch('/api/v1/rooms/plain/participants/pat', { group: 'side' })).message, /"builtin" does not offer server-side routing/);
    });

    test('recordings: a download and the retention sweep need the provider’s store; a recording of another provider is not served', async () => {
      const room = (await a.apiKey.post('/api/v1/rooms', { name: 'kept' })).json() as { id: string };
      const [recording] = await t.database.db
        .insert(roomRecordings)
        .values({ orgId: a.orgId, roomId: room.id, identity: 'pat', content: 'camera', status: 'completed', providerRef: `ref-${randomUUID()}`, file: null, mediaType: 'video/mp4', startedAt: new Date(Date.now() - 60_000), endedAt: new Date(), bytes: 10 })
        .returning();
      const listed = (await a.apiKey.get('/api/v1/rooms/kept/recordings')).json().data as { mediaType: string }[];
      assert.deepEqual(listed.map((r) => r.mediaType), ['video/mp4'], 'the media type is the one the provider declared');
      unavailable(await a.clinician.get(`/api/v1/recordings/${recording!.id}/media`), 'recording');
      await assert.rejects(deleteExpiredRecordings(t.app.rooms, 1, new Date(Date.now() + 2 * 86_400_000)), (err: unknown) => err instanceof AppError && err.code === 'capability_unavailable');

      // Made by another provider (MEDIA_PROVIDER was switched): its store is not this one.
      await t.database.db.update(rooms).set({ provider: 'elsewhere' }).where(eq(rooms.id, room.id));
      const other = await a.clinician.get(`/api/v1/recordings/${recording!.id}/media`);
      expectStatus(other, 501, 'capability_unavailable');
      assert.deepEqual(errorOf(other).details, { capability: 'recording', provider: 'builtin', recordedBy: 'elsewhere' });
      assert.equal(await deleteExpiredRecordings(t.app.rooms, 1, new Date(Date.now() + 2 * 86_400_000)), 0, 'not this provider’s to expire');
      const [row] = await t.database.db.select().from(roomRecordings).where(and(eq(roomRecordings.orgId, a.orgId), eq(roomRecordings.id, recording!.id)));
      assert.equal(row!.deletedAt, null);
    });

    test('a provider’s HTTP routes are served outside /api/v1, without the API’s authentication', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/webhooks/contract/status', payload: { RoomSid: 'RM1', StatusCallbackEvent: 'room-ended' } });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(callbacks, [{ RoomSid: 'RM1', StatusCallbackEvent: 'room-ended' }]);
      expectStatus(await t.app.inject({ method: 'POST', url: '/api/v1/webhooks/contract/status', payload: {} }), 404, 'route_not_found');
    });
  });
}
