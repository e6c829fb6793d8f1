import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import type { Config } from '../config.js';
import { acquireDataDirLock, type DataDirLock } from './lock.js';
import { schema, type Schema } from './schema.js';

/** A Drizzle database or transaction: feature code takes this and never knows which driver is below. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

export interface Database {
  readonly kind: 'pglite' | 'postgres';
  readonly db: Db;
  /** Runs pending migrations (safe to call from several processes at once on PostgreSQL). */
  migrate(): Promise<void>;
  /** The embedded client, for tools that need it (snapshots in tests); absent on PostgreSQL. */
  readonly pglite?: PGlite;
  /** Cheap liveness query for /readyz. */
  ping(): Promise<void>;
  /**
   * Raw SQL for libraries that bring their own (the job queue, pg-boss): `$1`-style parameters. Without
   * values the text may hold several statements (PGlite runs it with exec(), PostgreSQL with the simple
   * protocol); the answer is the last statement's rows. Feature code uses `db`, never this.
   */
  executeSql(text: string, values?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../drizzle', import.meta.url));
/** An arbitrary constant naming the advisory lock that serialises migrations across processes. */
const MIGRATION_LOCK_KEY = 7_212_044_331;

export interface OpenDatabaseOptions {
  /** Names the process in the embedded lock file, shown to a second process that is refused. */
  command?: string;
}

export async function openDatabase(database: Config['database'], options: OpenDatabaseOptions = {}): Promise<Database> {
  if (database.kind === 'postgres') return openPostgres(database.url, database.poolSize);
  return openPglite({ dataDir: database.dataDir, command: options.command ?? process.argv.slice(1).join(' ') });
}

export interface PgliteOptions {
  /** A data directory (guarded by a lock file); absent = in memory (tests). */
  dataDir?: string | undefined;
  /** A tarball made by `dumpDataDir()` to start from (tests start from a migrated snapshot). */
  loadDataDir?: Blob | undefined;
  command?: string | undefined;
}

export async function openPglite(options: PgliteOptions = {}): Promise<Database> {
  const { dataDir } = options;
  let lock: DataDirLock | undefined;
  if (dataDir !== undefined) lock = acquireDataDirLock(dataDir, options.command ?? 'openvisit');
  let client: PGlite;
  try {
    client = new PGlite({ ...(dataDir !== undefined ? { dataDir } : {}), ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}) });
    await client.waitReady;
  } catch (err) {
    lock?.release();
    throw err;
  }
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  let closed = false;
  return {
    kind: 'pglite',
    db,
    async migrate() {
      await migratePglite(drizzlePglite(client, { schema }), { migrationsFolder: MIGRATIONS_DIR });
    },
    async ping() {
      await client.query('select 1');
    },
    async executeSql(text, values) {
      // A prepared statement holds one command: parameterless SQL (pg-boss's schema and maintenance scripts)
      // goes through exec(), which runs several.
      if (!values || values.length === 0) {
        const results = await client.exec(text);
        return { rows: (results.at(-1)?.rows ?? []) as Record<string, unknown>[] };
      }
      const result = await client.query<Record<string, unknown>>(text, values as unknown[]);
      return { rows: result.rows };
    },
    pglite: client,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await client.close();
      } finally {
        lock?.release();
      }
    },
  };
}

export async function openPostgres(url: string, poolSize = 10): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5000 });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  let closed = false;
  return {
    kind: 'postgres',
    db,
    async migrate() {
      const client = await pool.connect();
      try {
        await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
        await migratePg(drizzlePg(client, { schema }), { migrationsFolder: MIGRATIONS_DIR });
      } finally {
        await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
        client.release();
      }
    },
    async ping() {
      await db.execute(sql`select 1`);
    },
    async executeSql(text, values) {
      // Without values pg uses the simple protocol, which runs several statements and answers an array.
      const result = (await pool.query(text, values && values.length > 0 ? (values as unknown[]) : undefined)) as pg.QueryResult | pg.QueryResult[];
      const last = Array.isArray(result) ? result.at(-1) : result;
      return { rows: (last?.rows ?? []) as Record<string, unknown>[] };
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

/** SQLSTATE of a driver error (PGlite and pg both expose `code`; match on it, never on the class). */
export function sqlState(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 3 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
