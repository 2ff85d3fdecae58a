import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import * as schema from './schema-pg.ts';
import { isPostgresUrl, redactUrl } from './url.ts';

export { isPostgresUrl, redactUrl };

export type PgDb = NodePgDatabase<typeof schema> & { $client: pg.Pool };

/** Where drizzle-kit writes the PostgreSQL migrations (`npm run db:generate`). */
export const PG_MIGRATIONS = resolve(dirname(fileURLToPath(import.meta.url)), '../../drizzle/pg');

export interface PgOpenOptions {
  /** `postgres://user:password@host:port/database` (also `postgresql://`). */
  url: string;
  /** Pooled connections. @default 10 */
  max?: number;
  /** Apply pending migrations before returning. @default true */
  migrate?: boolean;
}


/**
 * Open PostgreSQL through a connection pool (drizzle's node-postgres driver) and apply the
 * migrations in `drizzle/pg`. Connections fail fast (5 s) rather than hang a start-up.
 */
export async function openPostgres(options: PgOpenOptions): Promise<PgDb> {
  const pool = new pg.Pool({ connectionString: options.url, max: options.max ?? 10, connectionTimeoutMillis: 5000, application_name: 'honeytrail' });
  // An idle client that loses its connection emits 'error' on the pool; without a listener that would end the process.
  pool.on('error', () => undefined);
  // So does a checked-out one (a transaction's, while the server restarts): pg-pool listens only
  // while a client is idle or running pool.query(). The statement in flight fails with the error
  // anyway, and the pool drops the dead client when it is released.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = drizzle(pool, { schema }) as PgDb;
  try {
    await pool.query('select 1');
    if (options.migrate ?? true) await migrateOnce(pool, db);
  } catch (err) {
    await pool.end();
    throw new Error(`cannot use PostgreSQL at ${redactUrl(options.url)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return db;
}

/** Names the migration lock (any fixed int8). */
const MIGRATE_LOCK = 7_368_797_458;

/**
 * Apply pending migrations while holding a session advisory lock, so processes started at the
 * same moment on one database (several nodes, a restart of all) take turns: the first applies
 * them, the others then find nothing to do instead of failing on "already exists".
 */
async function migrateOnce(pool: pg.Pool, db: PgDb): Promise<void> {
  const lock = await pool.connect();
  try {
    await lock.query('select pg_advisory_lock($1)', [MIGRATE_LOCK]);
    await migrate(db, { migrationsFolder: PG_MIGRATIONS });
  } finally {
    await lock.query('select pg_advisory_unlock($1)', [MIGRATE_LOCK]).catch(() => undefined);
    lock.release();
  }
}

/** Cheap liveness probe (for /healthz). */
export async function pingPostgres(db: PgDb): Promise<boolean> {
  try {
    await db.$client.query('select 1');
    return true;
  } catch {
    return false;
  }
}

export async function closePostgres(db: PgDb): Promise<void> {
  await db.$client.end();
}

