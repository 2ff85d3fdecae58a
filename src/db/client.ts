import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { ensurePrivateDir, ensurePrivateFile } from '../files.ts';
import * as schema from './schema.ts';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/** Where drizzle-kit writes the SQLite migrations (`npm run db:generate`). */
export const SQLITE_MIGRATIONS = resolve(dirname(fileURLToPath(import.meta.url)), '../../drizzle/sqlite');

export interface OpenOptions {
  /** File path, or `:memory:` for throwaway databases. */
  path: string;
  /** `FULL` also survives power loss at the cost of one fsync per commit. @default 'NORMAL' */
  synchronous?: 'NORMAL' | 'FULL';
  /** Apply pending migrations before returning. @default true */
  migrate?: boolean;
}

/**
 * Open the embedded database: owner-only files, WAL journal (readers never block the writer), a
 * busy timeout instead of instant SQLITE_BUSY, foreign keys enforced, then apply migrations.
 * In WAL mode with synchronous=NORMAL a committed transaction survives a process crash.
 */
export function openDatabase(options: OpenOptions): Db {
  if (options.path !== ':memory:') privateDatabaseFiles(options.path);
  const sqlite = new Database(options.path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('cache_size = -32000');
  sqlite.pragma('temp_store = MEMORY');
  const db = drizzle(sqlite, { schema }) as Db;
  if (options.migrate ?? true) migrate(db, { migrationsFolder: SQLITE_MIGRATIONS });
  return db;
}

/**
 * The database's folder 0700 and the database, WAL and shared-memory files 0600 (they hold
 * planted secrets and hit data): created so, or tightened when an earlier version left them 0644.
 */
function privateDatabaseFiles(path: string): void {
  ensurePrivateDir(dirname(resolve(path)));
  ensurePrivateFile(path);
  for (const extra of [`${path}-wal`, `${path}-shm`]) if (existsSync(extra)) ensurePrivateFile(extra);
}

/** Cheap liveness probe used by /healthz. */
export function pingDatabase(db: Db): boolean {
  try {
    db.$client.prepare('select 1').get();
    return true;
  } catch {
    return false;
  }
}

/** Close the database, checkpointing the WAL so the file is self-contained. */
export function closeDatabase(db: Db): void {
  if (!db.$client.open) return;
  try {
    db.$client.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.$client.close();
  }
}
