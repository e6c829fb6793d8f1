import type { Config } from '../config.js';
import { loadOrCreateSecret } from '../secrets.js';
import { BuiltinProvider } from './builtin/provider.js';
import { createTokenSigner } from './builtin/tokens.js';
import type { MediaProvider } from './provider.js';

/** Picks the media provider named by MEDIA_PROVIDER. An unavailable one fails at start-up, never silently. */
export function createMediaProvider(config: Config): MediaProvider {
  switch (config.mediaProvider) {
    case 'builtin': {
      const secret = config.tokenSigningSecret ?? loadOrCreateSecret(config.dataDir, 'token-signing');
      const url = new URL(config.publicUrl);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.pathname = '/rtc';
      return new BuiltinProvider({ signer: createTokenSigner(secret), rtcUrl: url.toString() });
    }
    case 'twilio':
      throw new Error('MEDIA_PROVIDER=twilio is not available in this version yet; use MEDIA_PROVIDER=builtin.');
  }
}
