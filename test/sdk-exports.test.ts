// The SDK bundle's public surface (dist/sdk/openvisit.js, as served at /sdk/openvisit.js), loaded in Node: it
// exports the provider-neutral layer only (no adapter, engine, signal client, transport or peer connection), and
// connect() refuses a token answer whose provider it has no adapter for, with a clear error, before it touches the
// browser (capture, sockets): so this runs without one.
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';

const BUNDLE = pathToFileURL(path.resolve(import.meta.dirname, '../dist/sdk/openvisit.js')).href;

interface Sdk {
  connect(answer: { provider: string; url: string; token: string }): Promise<unknown>;
  Room: new () => object;
}

describe('the SDK bundle', () => {
  test('exports the neutral Room, connect() and the state machine, and nothing of an adapter', async () => {
    const sdk = (await import(BUNDLE)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(sdk).sort(), ['ConnectError', 'ConnectionMachine', 'EVENTS', 'LocalParticipant', 'Room', 'STATES', 'TRANSITIONS', 'connect']);
    const room = new (sdk as unknown as Sdk).Room();
    const names = new Set<string>();
    for (let o: object | null = room; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) for (const name of Object.getOwnPropertyNames(o)) names.add(name);
    assert.deepEqual(
      [...names].filter((n) => /peer|^pc$|transport|engine|signal|adapter/i.test(n)),
      [],
      `the room's public members: ${[...names].join(', ')}`,
    );
  });

  test('connect() rejects a token answer for an unknown provider with ConnectError unknown_provider', async () => {
    const sdk = (await import(BUNDLE)) as unknown as Sdk;
    await assert.rejects(sdk.connect({ provider: 'acme-video', url: 'wss://media.example/acme', token: 'x' }), {
      name: 'ConnectError',
      reason: 'unknown_provider',
      message: 'This SDK cannot join rooms of the media provider "acme-video" (it supports: builtin, twilio).',
    });
    // A name inherited by every object is not a provider either.
    await assert.rejects(sdk.connect({ provider: 'constructor', url: 'wss://x', token: 'x' }), { reason: 'unknown_provider' });
  });
});
