import type { RunResult } from 'better-sqlite3';
import { sql, type AnyColumn, type SQL } from 'drizzle-orm';
import pg from 'pg';
import type { Db } from './client.ts';
import type { PgDb } from './pg.ts';
import * as lite from './schema.ts';
import * as pgs from './schema-pg.ts';

/**
 * One set of query functions for both dialects (issue #10).
 *
 * The contract: a shared query body calls `shared(db)` and gets the drizzle database typed as
 * the SQLite `Db` builder plus `t`, the tables of the right schema module typed as the SQLite
 * ones. That is sound because the row types of the two schemas are identical (held by
 * tests/db/schema-equivalence.test.ts) and drizzle's select/insert/update/delete builders have
 * the same shape in both dialects, so one typed body runs on either at runtime.
 *
 * The rule for shared bodies: only awaited builders (`await db.select()...`, `.limit(1)` then
 * `[0]`, `.returning()` for written rows and for "did it change"); never `.get()`, `.all()`,
 * `.run()`, `.prepare()` or `$client` (they exist on SQLite only). Raw `sql` fragments must be
 * valid in SQLite and PostgreSQL alike, or branch on `isPg` (JSON functions, `max(a, b)` vs
 * `greatest`, LIKE case rules, text collation). Dates, booleans, JSON and `count()` go through
 * drizzle columns and helpers, which map them for each driver.
 *
 * Hot-path statement bundles (hit writer, trail, outbox and the worker's claim, token lookups,
 * the DNS echo check, the trail's asset and intel reads) run per hit inside better-sqlite3
 * transactions: they stay synchronous and SQLite-only until their PostgreSQL versions land, and
 * take `Db`, not `AnyDb`.
 */

/** Either database: embedded SQLite or a PostgreSQL pool. */
export type AnyDb = Db | PgDb;

/** True for PostgreSQL (a node-postgres pool behind drizzle). */
export function isPg(db: AnyDb): db is PgDb {
  return db.$client instanceof pg.Pool;
}

const sqliteTables = {
  tokens: lite.tokens,
  hits: lite.hits,
  incidents: lite.incidents,
  incidentEntities: lite.incidentEntities,
  alerts: lite.alerts,
  users: lite.users,
  sessions: lite.sessions,
  apiKeys: lite.apiKeys,
  auditLog: lite.auditLog,
  assets: lite.assets,
  intelIndicators: lite.intelIndicators,
  expectedRules: lite.expectedRules,
  drillRuns: lite.drillRuns,
  intelFeeds: lite.intelFeeds,
  intelFeedItems: lite.intelFeedItems,
  settings: lite.settings,
  tokenTerms: lite.tokenTerms,
  tokenFiles: lite.tokenFiles,
};

/** The tables, as shared query bodies see them (SQLite-typed, whichever dialect runs). */
export type Tables = typeof sqliteTables;

const pgTables = {
  tokens: pgs.tokens,
  hits: pgs.hits,
  incidents: pgs.incidents,
  incidentEntities: pgs.incidentEntities,
  alerts: pgs.alerts,
  users: pgs.users,
  sessions: pgs.sessions,
  apiKeys: pgs.apiKeys,
  auditLog: pgs.auditLog,
  assets: pgs.assets,
  intelIndicators: pgs.intelIndicators,
  expectedRules: pgs.expectedRules,
  drillRuns: pgs.drillRuns,
  intelFeeds: pgs.intelFeeds,
  intelFeedItems: pgs.intelFeedItems,
  settings: pgs.settings,
  tokenTerms: pgs.tokenTerms,
  tokenFiles: pgs.tokenFiles,
} satisfies Record<keyof Tables, unknown>;

/** The query builders a shared body may use (nothing that runs SQL by itself). */
export type SharedDb = Pick<Db, 'select' | 'selectDistinct' | 'insert' | 'update' | 'delete'>;

/** A database and its tables for a shared query body (see the contract above). */
export interface Shared {
  db: SharedDb;
  t: Tables;
}

/** The builder and tables for a shared query body, whichever dialect `db` is. */
export function shared(db: AnyDb): Shared {
  return isPg(db) ? { db: db as unknown as Db, t: pgTables as unknown as Tables } : { db, t: sqliteTables };
}

/**
 * Ascending sort key for a text column in SQLite's order: bytewise (BINARY), NULLs first.
 * PostgreSQL sorts by the database's collation (en_US puts `a` before `B`) and NULLs last,
 * so there the key is the C collation with NULLS FIRST.
 */
export function textAsc(db: AnyDb, column: AnyColumn): SQL {
  return isPg(db) ? sql`${column} collate "C" asc nulls first` : sql`${column} asc`;
}

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';

/**
 * Substring match with LIKE wildcards in the needle taken literally, case-insensitive for
 * ASCII letters only: SQLite's LIKE rule. PostgreSQL's LIKE is case-sensitive and its
 * `lower()`/ILIKE fold by locale, so there both sides are folded with an ASCII-only
 * `translate()` to give the same answers.
 */
export function containsText(db: AnyDb, column: AnyColumn, needle: string): SQL {
  const escaped = needle.replace(/[\\%_]/g, (c) => `\\${c}`);
  if (!isPg(db)) return sql`${column} like ${`%${escaped}%`} escape '\\'`;
  const folded = escaped.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return sql`translate(${column}, ${UPPER}, ${LOWER}) like ${`%${folded}%`} escape '\\'`;
}

/** A write statement for `atomically`: an insert, update or delete builder without `.returning()`, not yet run. */
export interface WriteStatement extends PromiseLike<unknown> {
  run(): unknown;
}

/**
 * Run write statements as one transaction, all or nothing; returns the rows each one changed.
 * The statements are built up front from the handle `build` gets (no reads in between, no
 * `.returning()`): SQLite runs them synchronously inside one better-sqlite3 transaction,
 * PostgreSQL in BEGIN/COMMIT on one pooled connection. For the few writes that must not
 * half-apply (bulk token actions, CSV and intel imports).
 */
export async function atomically(db: AnyDb, build: (s: Shared) => WriteStatement[]): Promise<number[]> {
  if (isPg(db)) {
    return db.transaction(async (tx) => {
      const counts: number[] = [];
      for (const statement of build({ db: tx as unknown as Db, t: pgTables as unknown as Tables })) {
        const result = (await statement) as pg.QueryResult;
        counts.push(result.rowCount ?? 0);
      }
      return counts;
    });
  }
  return db.$client.transaction(() => build(shared(db)).map((statement) => (statement.run() as RunResult).changes))();
}

/** The row an `insert … returning()` wrote (one row inserted, one returned). */
export function insertedRow<T>(rows: readonly T[]): T {
  const [row] = rows;
  if (!row) throw new Error('insert returned no row');
  return row;
}

/** Whether an error (or its cause, drizzle wraps driver errors) is a unique-constraint violation, in either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as Error & { code?: unknown }).code;
    if (code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return true;
  }
  return false;
}

/**
 * One raw SQL statement with `?` placeholders on either database; resolves with its rows.
 * For checks and tools that count what is stored (tests, benchmarks), not for the app's queries.
 * PostgreSQL's bigint results (count, sum) come back as numbers, as SQLite gives them.
 */
export async function rawQuery<T = Record<string, unknown>>(db: AnyDb, query: string, ...args: unknown[]): Promise<T[]> {
  if (isPg(db)) {
    let i = 0;
    const res = await db.$client.query(query.replace(/\?/g, () => `$${++i}`), args);
    const bigints = res.fields.filter((f) => f.dataTypeID === INT8 || f.dataTypeID === NUMERIC).map((f) => f.name);
    for (const row of res.rows as Record<string, unknown>[]) for (const k of bigints) if (row[k] !== null) row[k] = Number(row[k]);
    return res.rows as T[];
  }
  const stmt = db.$client.prepare(query);
  return (stmt.reader ? stmt.all(...args) : (stmt.run(...args), [])) as T[];
}

/** PostgreSQL type ids of int8 and numeric (what count() and sum() return). */
const INT8 = 20;
const NUMERIC = 1700;

