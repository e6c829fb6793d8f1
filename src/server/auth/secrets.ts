import { createHash, randomBytes } from 'node:crypto';

/** 256-bit random secrets for session cookies and API keys; only their sha256 is stored. */
export function newSecret(prefix = ''): string {
  return prefix + randomBytes(32).toString('base64url');
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export const API_KEY_PREFIX = 'ovk_';
export const SESSION_COOKIE = 'ov_session';
export const PARTICIPANT_SESSION_PREFIX = 'ovp_';
export const PARTICIPANT_COOKIE = 'ov_participant';
/** A care circle member's session (from a care link): `Authorization: Bearer ovm_…` or the member cookie. */
export const MEMBER_SESSION_PREFIX = 'ovm_';
export const MEMBER_COOKIE = 'ov_member';
