/**
 * Join links. A link is `ovj_` + base64url(link id (16 bytes) ‖ HMAC-SHA256(key, id) truncated to 16 bytes):
 * it names its row in `visit_links` (expiry, revocation, visit, participant) and proves the server issued it.
 * A forged or mistyped link is refused before any database work, and the database holds nothing that would
 * let anyone who reads it make a link.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

export const LINK_PREFIX = 'ovj_';
/** Post-visit survey links (`ovs_`): the same construction over a participant id, under another context. */
export const SURVEY_PREFIX = 'ovs_';
/** Intake-form links (`ovi_`): the same construction over an intake request id. */
export const INTAKE_PREFIX = 'ovi_';
/** Care links (`ovc_`): a care circle member's sign-in (or one check-in call's link), over a `care_links` row id. */
export const CARE_PREFIX = 'ovc_';
const ID_BYTES = 16;
const MAC_BYTES = 16;
const KINDS = {
  join: { prefix: LINK_PREFIX, context: Buffer.from('openvisit join link v1\0') },
  survey: { prefix: SURVEY_PREFIX, context: Buffer.from('openvisit survey link v1\0') },
  intake: { prefix: INTAKE_PREFIX, context: Buffer.from('openvisit intake link v1\0') },
  care: { prefix: CARE_PREFIX, context: Buffer.from('openvisit care link v1\0') },
} as const;

export interface LinkSigner {
  /** The link token for a link id (a uuid). */
  sign(linkId: string): string;
  /** The link id when the token is one of ours, undefined otherwise. */
  verify(token: string): string | undefined;
}

/**
 * A signer of join links (`join`, over link ids), survey links (`survey`, over participant ids), intake links (`intake`)
 * or care links (`care`, over care link ids); one never passes as another.
 */
export function createLinkSigner(secret: string | Buffer, kind: keyof typeof KINDS = 'join'): LinkSigner {
  const key: KeyObject = createSecretKey(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);
  const { prefix, context } = KINDS[kind];
  const mac = (id: Buffer) => createHmac('sha256', key).update(context).update(id).digest().subarray(0, MAC_BYTES);
  return {
    sign(linkId) {
      const id = Buffer.from(linkId.replace(/-/g, ''), 'hex');
      if (id.length !== ID_BYTES) throw new Error('a link id is a uuid');
      return prefix + Buffer.concat([id, mac(id)]).toString('base64url');
    },
    verify(token) {
      if (!token.startsWith(prefix) || token.length > 64) return undefined;
      const raw = Buffer.from(token.slice(prefix.length), 'base64url');
      if (raw.length !== ID_BYTES + MAC_BYTES) return undefined;
      const id = raw.subarray(0, ID_BYTES);
      if (!timingSafeEqual(raw.subarray(ID_BYTES), mac(id))) return undefined;
      const hex = id.toString('hex');
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    },
  };
}

/** Whether a host name is this computer only (localhost, *.localhost, 127.0.0.0/8, ::1). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return host === 'localhost' || host.endsWith('.localhost') || /^127(?:\.\d{1,3}){3}$/.test(host) || host === '::1';
}

/**
 * Where links point (PUBLIC_URL, never a request's Host) and what that means for a patient on another device:
 * a loopback origin opens on this computer only; cameras and microphones need https (or a loopback origin).
 */
export function linkOrigin(config: { publicUrl: string; port: number }): { publicUrl: string; configured: boolean; loopback: boolean; secure: boolean } {
  const url = new URL(config.publicUrl);
  const loopback = isLoopbackHost(url.hostname);
  return {
    publicUrl: config.publicUrl,
    configured: config.publicUrl !== `http://localhost:${config.port}`,
    loopback,
    secure: url.protocol === 'https:' || loopback,
  };
}
