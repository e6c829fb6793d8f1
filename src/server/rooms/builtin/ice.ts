import { createHmac } from 'node:crypto';
import type { RtcIceServer } from '../../../shared/rtc.js';
import type { Config } from '../../config.js';

/**
 * TURN-REST credentials (draft-uberti-behave-turn-rest, what coturn's `use-auth-secret` checks): the
 * username is "<expiry unix seconds>:<identity>" and the password is base64(HMAC-SHA1(secret, username)).
 * They stop working at the expiry; nothing is stored.
 */
export function turnCredentials(secret: string, identity: string, ttlSeconds: number, now = new Date()): { username: string; credential: string; expiresAt: Date } {
  const expiry = Math.floor(now.getTime() / 1000) + ttlSeconds;
  const username = `${expiry}:${identity}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential, expiresAt: new Date(expiry * 1000) };
}

/** The ICE servers handed to one participant's browser: STUN as configured, TURN with fresh credentials. */
export function iceServersFor(rtc: Config['rtc'], identity: string, now = new Date()): RtcIceServer[] {
  const servers: RtcIceServer[] = [];
  if (rtc.stunUrls.length > 0) servers.push({ urls: [...rtc.stunUrls] });
  if (rtc.turnUrls.length > 0 && rtc.turnSecret) {
    const { username, credential } = turnCredentials(rtc.turnSecret, identity, rtc.turnCredentialTtlS, now);
    servers.push({ urls: [...rtc.turnUrls], username, credential });
  }
  return servers;
}
