import type { Config } from '../config.js';
import { loadOrCreateSecret } from '../secrets.js';
import { iceServersFor } from './builtin/ice.js';
import { BuiltinProvider } from './builtin/provider.js';
import type { SfuLogger } from './builtin/sfu/index.js';
import { createTokenSigner } from './builtin/tokens.js';
import type { MediaProvider } from './provider.js';
import { TwilioVideoApi } from './twilio/api.js';
import { TwilioProvider } from './twilio/provider.js';
import { TwilioTokenMinter } from './twilio/tokens.js';

/** Picks the media provider named by MEDIA_PROVIDER. An unavailable one fails at start-up, never silently. */
export function createMediaProvider(config: Config, log?: SfuLogger): MediaProvider {
  switch (config.mediaProvider) {
    case 'builtin': {
      const secret = config.tokenSigningSecret ?? loadOrCreateSecret(config.dataDir, 'token-signing');
      const url = new URL(config.publicUrl);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.pathname = '/rtc';
      const rtc = config.rtc;
      return new BuiltinProvider({
        signer: createTokenSigner(secret),
        rtcUrl: url.toString(),
        sfu: {
          iceAdditionalHostAddresses: [...rtc.announcedAddresses],
          iceUseInterfaceAddresses: rtc.useInterfaceAddresses,
          ...(rtc.udpPortRange ? { iceUdpPortRange: [rtc.udpPortRange[0], rtc.udpPortRange[1]] as [number, number] } : {}),
          rembBps: rtc.maxBitrateBps,
        },
        reconnectGraceMs: rtc.reconnectGraceMs,
        iceServersFor: (identity) => iceServersFor(rtc, identity),
        maxPayloadBytes: Math.max(config.wsMaxPayloadBytes, 256 * 1024),
        recordingsDir: rtc.recordingsDir,
        groups: { downlinkBps: config.groups.downlinkBps, audioBitrateBps: config.groups.audioBitrateBps },
        ...(log ? { log } : {}),
      });
    }
    case 'twilio': {
      // config.ts refuses MEDIA_PROVIDER=twilio without these, naming each missing or malformed one.
      const t = config.twilio;
      const accountSid = t.accountSid!;
      const apiKeySid = t.apiKeySid!;
      const apiKeySecret = t.apiKeySecret!;
      return new TwilioProvider({
        api: new TwilioVideoApi({ accountSid, apiKeySid, apiKeySecret, baseUrl: t.videoApiBaseUrl, timeoutMs: t.requestTimeoutMs }),
        minter: new TwilioTokenMinter(accountSid, apiKeySid, apiKeySecret),
        publicUrl: config.publicUrl,
        authToken: t.authToken!,
        compositions: t.videoCompositions,
        ...(log ? { log } : {}),
      });
    }
  }
}

/**
 * Where the media provider's browser client connects beyond this server: the pages' Content-Security-Policy lets
 * them (connect-src). The builtin client connects to this server only; twilio-video to Twilio's signaling and its
 * insights gateway (the hosts its README's CSP section lists).
 */
export function mediaClientConnectSources(config: Config): string[] {
  switch (config.mediaProvider) {
    case 'builtin':
      return [];
    case 'twilio':
      return ['wss://global.vss.twilio.com', 'wss://sdkgw.us1.twilio.com'];
  }
}
