import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config.js';

/**
 * A secret generated once and kept in DATA_DIR/secrets/<name>.key (mode 0600), for single-machine
 * installs that set none. Several processes on several machines must share it through configuration.
 */
export function loadOrCreateSecret(dataDir: string, name: string, bytes = 32): Buffer {
  const dir = path.join(dataDir, 'secrets');
  const file = path.join(dir, `${name}.key`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, randomBytes(bytes).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const secret = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
  if (secret.length < 16) throw new Error(`The secret file ${file} is damaged (too short); remove it to generate a new one.`);
  return secret;
}

/**
 * The key join, survey and intake links are signed with (each kind apart: visits/links.ts): LINK_SIGNING_SECRET,
 * else one kept in DATA_DIR. Visits and messaging each ask; the file is made once.
 */
export function linkSigningSecret(config: Pick<Config, 'dataDir' | 'visits'>): string | Buffer {
  return config.visits.linkSigningSecret ?? loadOrCreateSecret(config.dataDir, 'join-links');
}
