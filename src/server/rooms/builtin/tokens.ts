import { createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import type { Grants } from '../provider.js';

/**
 * Access tokens of the builtin media plane: HS256 JWTs scoped to one room and one identity. The secret is
 * a KeyObject made once (a string secret is re-parsed on every signature: ~50x slower, see
 * shared/notes/platform.md).
 */

export const TOKEN_ISSUER = 'openvisit';
export const TOKEN_AUDIENCE = 'openvisit-rtc';

export interface TokenClaims {
  orgId: string;
  roomId: string;
  roomName: string;
  identity: string;
  grants: Grants;
  /** Unique per token, for audit and revocation. */
  tokenId: string;
  issuedAt: Date;
  expiresAt: Date;
}

export type TokenFailure = 'expired' | 'invalid';

export class TokenError extends Error {
  constructor(readonly reason: TokenFailure) {
    super(reason === 'expired' ? 'The access token has expired.' : 'The access token is not valid.');
    this.name = 'TokenError';
  }
}

export interface TokenSigner {
  sign(input: Omit<TokenClaims, 'tokenId' | 'issuedAt' | 'expiresAt'>, ttlSeconds: number, now?: Date): Promise<{ token: string; claims: TokenClaims }>;
  verify(token: string, now?: Date): Promise<TokenClaims>;
}

export function createTokenSigner(secret: string | Buffer): TokenSigner {
  const key: KeyObject = createSecretKey(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);
  return {
    async sign(input, ttlSeconds, now = new Date()) {
      const iat = Math.floor(now.getTime() / 1000);
      const tokenId = randomUUID();
      const exp = iat + ttlSeconds;
      const token = await new SignJWT({ org: input.orgId, rid: input.roomId, room: input.roomName, grants: input.grants })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setSubject(input.identity)
        .setJti(tokenId)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(key);
      return { token, claims: { ...input, tokenId, issuedAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000) } };
    },
    async verify(token, now = new Date()) {
      try {
        const { payload } = await jwtVerify(token, key, {
          issuer: TOKEN_ISSUER,
          audience: TOKEN_AUDIENCE,
          algorithms: ['HS256'],
          currentDate: now,
        });
        const grants = payload.grants as Partial<Grants> | undefined;
        if (
          typeof payload.sub !== 'string' ||
          typeof payload.org !== 'string' ||
          typeof payload.rid !== 'string' ||
          typeof payload.room !== 'string' ||
          typeof payload.jti !== 'string' ||
          typeof payload.exp !== 'number' ||
          typeof payload.iat !== 'number' ||
          !grants ||
          typeof grants !== 'object'
        ) {
          throw new TokenError('invalid');
        }
        return {
          orgId: payload.org,
          roomId: payload.rid,
          roomName: payload.room,
          identity: payload.sub,
          grants: { publish: grants.publish === true, subscribe: grants.subscribe === true, data: grants.data === true, admin: grants.admin === true },
          tokenId: payload.jti,
          issuedAt: new Date(payload.iat * 1000),
          expiresAt: new Date(payload.exp * 1000),
        };
      } catch (err) {
        if (err instanceof TokenError) throw err;
        if (err instanceof joseErrors.JWTExpired) throw new TokenError('expired');
        throw new TokenError('invalid');
      }
    },
  };
}
