import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { MIGRATIONS_DIR, openPglite, openPostgres, type Database } from '../../src/server/db/index.js';

export type DbKind = 'pglite' | 'postgres';

/** Every server test runs on both databases; TEST_DB=pglite|postgres narrows it while developing. */
export const DB_KINDS: DbKind[] = process.env.TEST_DB ? [process.env.TEST_DB as DbKind] : ['pglite', 'postgres'];

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function migrationsHash(): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const file = path.join(dir, name);
      if (name.endsWith('.sql') || name.endsWith('.json')) h.update(name).update(readFileSync(file));
      else if (!name.includes('.')) walk(file);
    }
  };
  walk(MIGRATIONS_DIR);
  return h.digest('hex').slice(0, 16);
}

/**
 * A migrated PGlite snapshot, made once per migration set and kept under node_modules/.cache:
 * a fresh in-memory instance costs ~3 s of initdb, loading the snapshot under 1 s.
 */
async function pgliteSnapshot(): Promise<Blob> {
  const dir = path.resolve('node_modules/.cache/openvisit');
  const file = path.join(dir, `pglite-${migrationsHash()}.tar.gz`);
  if (existsSync(file)) return new Blob([readFileSync(file)]);
  const database = await openPglite();
  await database.migrate();
  const blob = await database.pglite!.dumpDataDir('gzip');
  await database.close();
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, Buffer.from(await blob.arrayBuffer()));
  renameSync(tmp, file);
  return blob;
}

/** A fresh, migrated, empty database of the given kind; `close()` disposes of it (PostgreSQL: drops it). */
export async function createTestDatabase(kind: DbKind): Promise<Database & { url?: string }> {
  if (kind === 'pglite') {
    return openPglite({ loadDataDir: await pgliteSnapshot() });
  }
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `The PostgreSQL test database is not reachable at ${TEST_DATABASE_URL} (${(err as Error).message}). ` +
        'Start it (Debian: pg_ctlcluster 15 main start) or set TEST_DATABASE_URL; npm test runs every server test on PostgreSQL too.',
    );
  }
  const name = `ovt_${process.pid}_${randomBytes(4).toString('hex')}`;
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  const database = await openPostgres(url.toString(), 10);
  await database.migrate();
  return {
    ...database,
    url: url.toString(),
    async close() {
      await database.close();
      const dropper = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await dropper.connect();
      try {
        await dropper.query(`drop database if exists ${name} with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
