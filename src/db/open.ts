import type { Config } from '../config.ts';
import { sqlitePath } from '../config.ts';
import { closeDatabase, openDatabase } from './client.ts';
import { closePostgres, isPostgresUrl, openPostgres } from './pg.ts';
import type { AnyDb } from './store.ts';

/** The database DATABASE_URL names (migrated), for the entry points that need only the database (worker, drill, local admin commands). */
export async function openConfiguredDatabase(config: Config): Promise<{ db: AnyDb; close(): Promise<void> }> {
  if (isPostgresUrl(config.DATABASE_URL)) {
    const db = await openPostgres({ url: config.DATABASE_URL, max: config.PG_POOL_SIZE });
    return { db, close: () => closePostgres(db) };
  }
  const db = openDatabase({ path: sqlitePath(config.DATABASE_URL), synchronous: config.SQLITE_SYNCHRONOUS });
  return { db, close: async () => closeDatabase(db) };
}
