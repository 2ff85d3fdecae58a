import { asc, count, gt, type Column } from 'drizzle-orm';
import { getTableConfig as pgTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import { getTableConfig, type SQLiteTable } from 'drizzle-orm/sqlite-core';
import type { Db } from './client.ts';
import type { PgDb } from './pg.ts';
import * as pgSchema from './schema-pg.ts';
import * as sqliteSchema from './schema.ts';

/**
 * Tables in the order a copy must fill them (referenced before referencing). Each pair is
 * the same table in both schemas (tests/db/schema-equivalence.test.ts).
 */
const TABLES = [
  ['tokens', sqliteSchema.tokens, pgSchema.tokens],
  ['incidents', sqliteSchema.incidents, pgSchema.incidents],
  ['incident_entities', sqliteSchema.incidentEntities, pgSchema.incidentEntities],
  ['hits', sqliteSchema.hits, pgSchema.hits],
  ['alerts', sqliteSchema.alerts, pgSchema.alerts],
  ['users', sqliteSchema.users, pgSchema.users],
  ['sessions', sqliteSchema.sessions, pgSchema.sessions],
  ['api_keys', sqliteSchema.apiKeys, pgSchema.apiKeys],
  ['audit_log', sqliteSchema.auditLog, pgSchema.auditLog],
  ['assets', sqliteSchema.assets, pgSchema.assets],
  ['intel_indicators', sqliteSchema.intelIndicators, pgSchema.intelIndicators],
  ['expected_rules', sqliteSchema.expectedRules, pgSchema.expectedRules],
  ['drill_runs', sqliteSchema.drillRuns, pgSchema.drillRuns],
  ['settings', sqliteSchema.settings, pgSchema.settings],
  ['token_terms', sqliteSchema.tokenTerms, pgSchema.tokenTerms],
] as const satisfies readonly (readonly [string, SQLiteTable, PgTable])[];

/** Rows per INSERT: well under PostgreSQL's 65,535 bind parameters for the widest table (hits, 28 columns). */
const CHUNK = 1000;

export interface CopyProgress {
  table: string;
  copied: number;
  total: number;
}

export interface CopyResult {
  tables: { table: string; rows: number }[];
  rows: number;
  seconds: number;
}

/** The copy cannot start (the target already holds data) or did not verify. Nothing was committed. */
export class CopyError extends Error {}

/**
 * Copy a whole SQLite deployment into an empty PostgreSQL database: every table, ids kept,
 * in one PostgreSQL transaction (all or nothing) read from one SQLite snapshot (the server
 * may keep running; hits it records after the snapshot are not copied, so stop the
 * listeners first for a cut-over). Identity sequences continue after the copied ids, and
 * each table's row count is checked before the commit.
 */
export async function copySqliteToPostgres(source: Db, target: PgDb, onProgress?: (p: CopyProgress) => void): Promise<CopyResult> {
  const started = Date.now();
  const client = await target.$client.connect();
  const snapshot = source.$client;
  snapshot.prepare('begin').run();
  try {
    await client.query('begin');
    const { rows: busy } = await client.query<{ n: string }>(
      `select (select count(*) from tokens) + (select count(*) from hits) + (select count(*) from users) + (select count(*) from settings) as n`,
    );
    if (Number(busy[0]?.n ?? 0) > 0) {
      throw new CopyError('the PostgreSQL database already holds Honeytrail data (tokens, hits, users or settings); copy into an empty database');
    }
    const tables: CopyResult['tables'] = [];
    for (const [name, lite, pgTable] of TABLES) {
      const key = primaryKey(lite);
      const total = (source.select({ n: count() }).from(lite).get() as { n: number }).n;
      let copied = 0;
      let last: unknown;
      onProgress?.({ table: name, copied, total });
      for (;;) {
        const page = source
          .select()
          .from(lite)
          .where(last === undefined ? undefined : gt(key, last))
          .orderBy(asc(key))
          .limit(CHUNK)
          .all() as Record<string, unknown>[];
        if (page.length === 0) break;
        // The drizzle builders run on this one client, inside its transaction.
        const { query, params } = pgInsert(target, pgTable, page);
        await client.query(query, params);
        copied += page.length;
        last = page[page.length - 1]?.[keyName(lite)];
        onProgress?.({ table: name, copied, total });
        if (page.length < CHUNK) break;
      }
      const { rows } = await client.query<{ n: string }>(`select count(*) as n from "${name}"`);
      if (Number(rows[0]?.n) !== total) throw new CopyError(`${name}: copied ${rows[0]?.n} rows of ${total}; rolled back`);
      if (pgTableConfig(pgTable).columns.some((c) => c.name === 'id' && c.columnType !== 'PgText')) {
        await client.query(`select setval(pg_get_serial_sequence('"${name}"', 'id'), coalesce((select max(id) from "${name}"), 0) + 1, false)`);
      }
      tables.push({ table: name, rows: total });
    }
    await client.query('commit');
    return { tables, rows: tables.reduce((a, t) => a + t.rows, 0), seconds: (Date.now() - started) / 1000 };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    snapshot.prepare('rollback').run();
    client.release();
  }
}

function primaryKey(table: SQLiteTable): Column {
  const pk = getTableConfig(table).columns.find((c) => c.primary);
  if (!pk) throw new Error(`${getTableConfig(table).name} has no single-column primary key`);
  return pk;
}

/** The JS property name of a table's primary key (rows from drizzle are keyed by property, not column name). */
function keyName(table: SQLiteTable): string {
  const pk = primaryKey(table);
  const entry = Object.entries(table).find(([, v]) => v === pk);
  if (!entry) throw new Error(`no property for ${pk.name}`);
  return entry[0];
}

/** SQL and parameters of a multi-row INSERT built by drizzle's PostgreSQL dialect (so values map exactly as the pg schema says). */
function pgInsert(target: PgDb, table: PgTable, rows: Record<string, unknown>[]): { query: string; params: unknown[] } {
  const { sql, params } = target.insert(table).values(rows as never).toSQL();
  return { query: sql, params };
}
