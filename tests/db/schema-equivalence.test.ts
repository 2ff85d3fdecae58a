import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { getTableConfig as pgTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import { getTableConfig as sqliteTableConfig, type SQLiteTable } from 'drizzle-orm/sqlite-core';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { closePostgres, openPostgres, type PgDb } from '../../src/db/pg.ts';
import * as pgSchema from '../../src/db/schema-pg.ts';
import * as sqliteSchema from '../../src/db/schema.ts';
import type { Db } from '../../src/db/client.ts';
import { testDb } from '../helpers.ts';
import { createTestPg, type TestPg } from '../pg.ts';

/**
 * The SQLite and PostgreSQL schemas must describe one data model: the same tables, columns,
 * nullability, defaults, indexes (with their columns, uniqueness and partial predicates) and
 * the same row types in TypeScript. Checked on real databases built by each dialect's
 * migrations, on the drizzle definitions, and by asking drizzle-kit whether either schema has
 * changes its migrations lack.
 */
const run = promisify(execFile);
let pgt: TestPg;
let pgdb: PgDb;
let lite: ReturnType<typeof testDb>;

beforeAll(async () => {
  pgt = await createTestPg();
  pgdb = await openPostgres({ url: pgt.url });
  lite = testDb();
});
afterAll(async () => {
  await closePostgres(pgdb);
  await pgt.drop();
  lite.cleanup();
});

interface Column {
  table: string;
  name: string;
  notNull: boolean;
  /** Has a default or is generated (identity / autoincrement key). */
  defaulted: boolean;
}
interface IndexShape {
  name: string;
  table: string;
  columns: string;
  unique: boolean;
  where: string | null;
}

/** `WHERE "tokens"."deleted_at" is null` and `WHERE (deleted_at IS NULL)` both become `deleted_at is null`. */
const predicate = (sql: string | null | undefined, table: string): string | null => {
  const m = /\bwhere\b(.*)$/is.exec(sql ?? '');
  if (!m?.[1]) return null;
  return m[1].replace(/["()]/g, '').replaceAll(`${table}.`, '').replace(/\s+/g, ' ').trim().toLowerCase();
};

function sqliteColumns(db: Db): Column[] {
  const c = db.$client;
  const tables = c.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '__drizzle%' order by name").all() as { name: string }[];
  return tables.flatMap(({ name }) =>
    (c.prepare(`pragma table_info(${name})`).all() as { name: string; notnull: number; dflt_value: string | null; pk: number; type: string }[]).map((col) => ({
      table: name,
      name: col.name,
      notNull: col.notnull === 1 || col.pk > 0,
      defaulted: col.dflt_value !== null || (col.pk > 0 && col.type.toLowerCase() === 'integer'),
    })),
  );
}

async function pgColumns(db: PgDb): Promise<Column[]> {
  const { rows } = await db.$client.query<{ table_name: string; column_name: string; is_nullable: string; column_default: string | null; is_identity: string }>(
    "select table_name, column_name, is_nullable, column_default, is_identity from information_schema.columns where table_schema = 'public' order by table_name, ordinal_position",
  );
  return rows.map((r) => ({ table: r.table_name, name: r.column_name, notNull: r.is_nullable === 'NO', defaulted: r.column_default !== null || r.is_identity === 'YES' }));
}

function sqliteIndexes(db: Db): IndexShape[] {
  const c = db.$client;
  const rows = c.prepare("select name, tbl_name as tbl, sql from sqlite_master where type = 'index' and sql is not null").all() as { name: string; tbl: string; sql: string }[];
  return rows.map((r) => ({
    name: r.name,
    table: r.tbl,
    columns: (c.prepare(`pragma index_info(${r.name})`).all() as { name: string }[]).map((x) => x.name).join(','),
    unique: /^create unique/i.test(r.sql),
    where: predicate(r.sql, r.tbl),
  }));
}

async function pgIndexes(db: PgDb): Promise<IndexShape[]> {
  // UNIQUE constraints (PostgreSQL) and unique indexes (SQLite) are both unique indexes here; primary keys are left out.
  const { rows } = await db.$client.query<{ name: string; tbl: string; def: string; columns: string; uniq: boolean }>(`
    select i.relname as name, t.relname as tbl, pg_get_indexdef(ix.indexrelid) as def, ix.indisunique as uniq,
           (select string_agg(a.attname, ',' order by k.ord) from unnest(ix.indkey) with ordinality k(attnum, ord)
              join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum) as columns
    from pg_index ix join pg_class i on i.oid = ix.indexrelid join pg_class t on t.oid = ix.indrelid
    join pg_namespace n on n.oid = t.relnamespace where n.nspname = 'public' and not ix.indisprimary`);
  return rows.map((r) => ({ name: r.name, table: r.tbl, columns: r.columns, unique: r.uniq, where: predicate(r.def, r.tbl) }));
}

/** What a column holds, whatever the dialect calls it. */
const CLASS: Record<string, string> = {
  SQLiteText: 'text', PgText: 'text',
  SQLiteInteger: 'integer', PgInteger: 'integer', PgBigInt53: 'integer',
  SQLiteTimestamp: 'time', PgTimestamp: 'time',
  SQLiteBoolean: 'boolean', PgBoolean: 'boolean',
  SQLiteTextJson: 'json', PgJsonb: 'json',
  // Bytes: SQLite's blob read as a Buffer, PostgreSQL's bytea (a custom column, also a Buffer).
  SQLiteBlobBuffer: 'bytes', PgCustomColumn: 'bytes',
};

const byKey = <T extends { table: string; name: string }>(xs: T[]) => [...xs].sort((a, b) => `${a.table}.${a.name}`.localeCompare(`${b.table}.${b.name}`));

describe('SQLite and PostgreSQL schemas', () => {
  it('their migrations build the same tables, columns, nullability and defaults', async () => {
    const a = byKey(sqliteColumns(lite.db));
    const b = byKey(await pgColumns(pgdb));
    expect(a.length).toBeGreaterThan(80);
    expect(b).toEqual(a);
  });

  it('their migrations build the same indexes (columns, uniqueness, partial predicates)', async () => {
    const a = byKey(sqliteIndexes(lite.db));
    expect(a.some((i) => i.where === 'incident_id is null')).toBe(true);
    expect(a.some((i) => i.name === 'users_email_unique' && i.unique)).toBe(true);
    expect(byKey(await pgIndexes(pgdb))).toEqual(a);
  });

  it('the drizzle definitions agree on what each column holds, and on foreign keys', () => {
    const tables = (mod: Record<string, unknown>, is: (v: unknown) => boolean) => Object.entries(mod).filter(([, v]) => is(v));
    const lt = tables(sqliteSchema, (v) => typeof v === 'object' && v !== null && Symbol.for('drizzle:IsDrizzleTable') in v);
    const pt = tables(pgSchema, (v) => typeof v === 'object' && v !== null && Symbol.for('drizzle:IsDrizzleTable') in v);
    expect(pt.map(([k]) => k).sort()).toEqual(lt.map(([k]) => k).sort());
    for (const [key, table] of lt) {
      const l = sqliteTableConfig(table as SQLiteTable);
      const p = pgTableConfig((pgSchema as Record<string, unknown>)[key] as PgTable);
      const shape = (cols: { name: string; columnType: string }[]) => cols.map((c) => [c.name, CLASS[c.columnType] ?? `unknown ${c.columnType}`]).sort();
      expect(shape(p.columns), key).toEqual(shape(l.columns));
      const fks = (cfg: typeof l | typeof p) =>
        cfg.foreignKeys.map((fk) => {
          const r = fk.reference();
          return `${r.columns.map((c) => c.name).join(',')}->${r.foreignColumns.map((c) => c.name).join(',')} ${fk.onDelete ?? ''}`;
        }).sort();
      expect(fks(p), key).toEqual(fks(l));
    }
  });

  it('their row types are identical, so one set of query functions can return either', () => {
    expectTypeOf<pgSchema.PgTokenRow>().toEqualTypeOf<sqliteSchema.TokenRow>();
    expectTypeOf<pgSchema.PgNewTokenRow>().toEqualTypeOf<sqliteSchema.NewTokenRow>();
    expectTypeOf<pgSchema.PgHitRow>().toEqualTypeOf<sqliteSchema.HitRow>();
    expectTypeOf<pgSchema.PgNewHitRow>().toEqualTypeOf<sqliteSchema.NewHitRow>();
    expectTypeOf<pgSchema.PgIncidentRow>().toEqualTypeOf<sqliteSchema.IncidentRow>();
    expectTypeOf<pgSchema.PgAlertRow>().toEqualTypeOf<sqliteSchema.AlertRow>();
    expectTypeOf<pgSchema.PgAssetRow>().toEqualTypeOf<sqliteSchema.AssetRow>();
    expectTypeOf<pgSchema.PgApiKeyRow>().toEqualTypeOf<sqliteSchema.ApiKeyRow>();
    expectTypeOf<pgSchema.PgIntelRow>().toEqualTypeOf<sqliteSchema.IntelRow>();
    expectTypeOf<pgSchema.PgExpectedRuleRow>().toEqualTypeOf<sqliteSchema.ExpectedRuleRow>();
    expectTypeOf<pgSchema.PgDrillRunRow>().toEqualTypeOf<sqliteSchema.DrillRunRow>();
    expectTypeOf<typeof pgSchema.tokenFiles.$inferSelect>().toEqualTypeOf<typeof sqliteSchema.tokenFiles.$inferSelect>();
    expectTypeOf<typeof pgSchema.tokenFiles.$inferInsert>().toEqualTypeOf<typeof sqliteSchema.tokenFiles.$inferInsert>();
  });

  it('drizzle-kit finds no schema change that the committed migrations lack, for either dialect', async () => {
    for (const [dialect, schema, out] of [
      ['sqlite', 'src/db/schema.ts', 'drizzle/sqlite'],
      ['postgresql', 'src/db/schema-pg.ts', 'drizzle/pg'],
    ] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'ht-kit-'));
      try {
        cpSync(resolve(out), join(dir, 'out'), { recursive: true });
        const before = readdirSync(join(dir, 'out')).length;
        const config = join(dir, 'drizzle.config.mjs');
        // drizzle-kit wants `out` relative to its working directory.
        writeFileSync(config, `export default ${JSON.stringify({ dialect, schema: resolve(schema), out: './out' })};\n`);
        const kit = resolve('node_modules/.bin/drizzle-kit');
        const { stdout, stderr } = await run(kit, ['generate', '--config', config], { encoding: 'utf8', timeout: 60_000, cwd: dir });
        expect(`${stdout}${stderr}`, dialect).toMatch(/No schema changes/i);
        expect(stderr, dialect).not.toMatch(/error/i);
        expect(readdirSync(join(dir, 'out'))).toHaveLength(before);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }, 90_000);

  it('processes starting at the same moment on an empty PostgreSQL database all come up (migrations applied once)', async () => {
    const fresh = await createTestPg();
    try {
      const dbs = await Promise.all(Array.from({ length: 4 }, () => openPostgres({ url: fresh.url, max: 2 })));
      const { rows } = await (dbs[0] as PgDb).$client.query<{ n: string }>('select count(*) as n from drizzle.__drizzle_migrations');
      expect(Number(rows[0]?.n)).toBe(readdirSync(resolve('drizzle/pg')).filter((f) => f.endsWith('.sql')).length);
      for (const d of dbs) await closePostgres(d);
    } finally {
      await fresh.drop();
    }
  });
});
