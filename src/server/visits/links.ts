/**
 * Join links. A link is `ovj_` + base64url(link id (16 bytes) ‖ HMAC-SHA256(key, id) truncated to 16 bytes):
 * it names its row in `visit_links` (expiry, revocation, visit, participant) and proves the server issued it.
 * A forged or mistyped link is refused before any database work, and the database holds nothing that would
 * let anyone who reads it make a link.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

export const LINK_PREFIX = 'ovj_';
const ID_BYTES = 16;
const MAC_BYTES = 16;
const CONTEXT = Buffer.from('openvisit join link v1\0');

export interface LinkSigner {
  /** The link token for a link id (a uuid). */
  sign(linkId: string): string;
  /** The link id when the token is one of ours, undefined otherwise. */
  verify(token: string): string | undefined;
}

export function createLinkSigner(secret: string | Buffer): LinkSigner {
  const key: KeyObject = createSecretKey(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);
  const mac = (id: Buffer) => createHmac('sha256', key).update(CONTEXT).update(id).digest().subarray(0, MAC_BYTES);
  return {
    sign(linkId) {
      const id = Buffer.from(linkId.replace(/-/g, ''), 'hex');
      if (id.length !== ID_BYTES) throw new Error('a link id is a uuid');
      return LINK_PREFIX + Buffer.concat([id, mac(id)]).toString('base64url');
    },
    verify(token) {
      if (!token.startsWith(LINK_PREFIX) || token.length > 64) return undefined;
      const raw = Buffer.from(token.slice(LINK_PREFIX.length), 'base64url');
      if (raw.length !== ID_BYTES + MAC_BYTES) return undefined;
      const id = raw.subarray(0, ID_BYTES);
      if (!timingSafeEqual(raw.subarray(ID_BYTES), mac(id))) return undefined;
      const hex = id.toString('hex');
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    },
  };
}
