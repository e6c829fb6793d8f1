/**
 * The media providers this SDK can join, by the name the server's token answer gives (`provider`): the one place
 * that lists them, as the server's rooms/loader.ts does. A hosted provider's adapter is added here beside builtin;
 * one whose client library is large loads it in its connect (twilio/: twilio-video is a chunk of its own).
 */
import type { AdapterFactory } from './adapter.js';
import { createBuiltinAdapter } from './builtin/room.js';
import { ConnectError } from './errors.js';
import { createTwilioAdapter } from './twilio/index.js';

const ADAPTERS: Readonly<Record<string, AdapterFactory>> = { builtin: createBuiltinAdapter, twilio: createTwilioAdapter() };

/** The adapter for `provider`; an unknown name is refused at once, before any capture or connection. */
export function adapterFor(provider: string): AdapterFactory {
  const factory = Object.hasOwn(ADAPTERS, provider) ? ADAPTERS[provider] : undefined;
  if (!factory) {
    throw new ConnectError('unknown_provider', `This SDK cannot join rooms of the media provider "${provider}" (it supports: ${Object.keys(ADAPTERS).join(', ')}).`);
  }
  return factory;
}
