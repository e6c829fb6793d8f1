import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Encryption at rest for message bodies, subjects and intake answers: AES-256-GCM with a random 96-bit IV per
 * value. A value is `v1.<key id>.<iv>.<tag>.<ciphertext>` (base64url); the key id (the first 8 hex characters of
 * the key's SHA-256) says which key wrote it, so a later key rotation can keep reading old rows.
 */
export interface Cipher {
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
  readonly keyId: string;
}

export function createCipher(key: Buffer): Cipher {
  if (key.length !== 32) throw new Error('The message encryption key must be 32 bytes.');
  const keyId = createHash('sha256').update(key).digest('hex').slice(0, 8);
  return {
    keyId,
    encrypt(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', keyId, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
    },
    decrypt(sealed) {
      const [version, id, iv, tag, ct] = sealed.split('.');
      if (version !== 'v1' || iv === undefined || tag === undefined || ct === undefined) throw new Error('not an encrypted value');
      if (id !== keyId) throw new Error(`this value was encrypted with another key (${id}); set MESSAGE_ENCRYPTION_KEY to it`);
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}
