import { createSecretKey, type KeyObject } from 'node:crypto';
import twilio from 'twilio';

const { AccessToken } = twilio.jwt;
const { VideoGrant } = AccessToken;

/** Twilio caps an access token's life at 24 hours. */
export const MAX_TOKEN_TTL_S = 86_400;

/**
 * Twilio Video access tokens (HS256 JWTs, header `cty: twilio-fpa;v=1`, `iss` the API key SID, `sub` the account SID,
 * `grants.identity`, `grants.video.room`), for one identity in one room. The secret is handed to the signer as a
 * KeyObject made once: given a string, the JWT library first tries it as a PEM key and throws, which costs about 40x
 * (platform.md: ~2k against ~100k tokens/s per core, byte-identical tokens).
 */
export class TwilioTokenMinter {
  readonly #key: KeyObject;

  constructor(
    readonly accountSid: string,
    readonly apiKeySid: string,
    apiKeySecret: string,
  ) {
    this.#key = createSecretKey(Buffer.from(apiKeySecret, 'utf8'));
  }

  mint(identity: string, room: string, ttlSeconds: number): string {
    // The SDK's types say string; jsonwebtoken takes the KeyObject as it is.
    const token = new AccessToken(this.accountSid, this.apiKeySid, this.#key as unknown as string, { identity, ttl: Math.min(MAX_TOKEN_TTL_S, ttlSeconds) });
    token.addGrant(new VideoGrant({ room }));
    return token.toJwt();
  }
}
