import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { asc } from 'drizzle-orm';
import { getTableConfig, type SQLiteTable } from 'drizzle-orm/sqlite-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase } from '../../src/db/client.ts';
import { closePostgres, openPostgres, type PgDb } from '../../src/db/pg.ts';
import { createApiKey } from '../../src/db/queries/api-keys.ts';
import { insertAsset } from '../../src/db/queries/assets.ts';
import { audit } from '../../src/db/queries/audit.ts';
import { importIndicators } from '../../src/db/queries/intel.ts';
import { insertSession } from '../../src/db/queries/sessions.ts';
import { setSetting } from '../../src/db/queries/settings.ts';
import { insertUser } from '../../src/db/queries/users.ts';
import * as pgSchema from '../../src/db/schema-pg.ts';
import * as sqliteSchema from '../../src/db/schema.ts';
import type { Token } from '../../src/tokens/kind.ts';
import { makeToken, startTestServer, tempDir } from '../helpers.ts';
import { createTestPg, type TestPg } from '../pg.ts';

/**
 * `honeytrail db copy`: a SQLite deployment with real data (tokens of several kinds, hits put
 * on trails, incidents, queued alerts, users, sessions, API keys, assets, intel, settings,
 * audit) is copied into an empty PostgreSQL database by the CLI as a user runs it, and every
 * row of every table reads back identical from both.
 */
const BIN = join(import.meta.dirname, '../../bin/honeytrail.js');
const t = tempDir();
const dbFile = join(t.dir, 'honeytrail.db');
let target: TestPg;
let pg: PgDb;

const TABLES = Object.entries(sqliteSchema).filter(([, v]) => typeof v === 'object' && v !== null && Symbol.for('drizzle:IsDrizzleTable') in v) as [string, SQLiteTable][];

function cli(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, DATABASE_URL: `file:${dbFile}`, DATA_DIR: t.dir } });
}

beforeAll(async () => {
  const s = await startTestServer({ ALERT_WORKER_ENABLED: 'false', ALERT_TO: 'soc@corp.example' }, t.dir, { sqlite: true });
  const db = s.app.deps.db;
  const tokens: Token[] = [];
  for (const [kind, host] of [['web-bug', 'FS01'], ['dns', 'FS02'], ['aws-keys', 'WS-HR-02'], ['windows-folder', 'FS01']] as const) {
    // The AWS keys sit in a home folder of WS-HR-02: used from elsewhere, they make a hop (lateral movement).
    const location = kind === 'aws-keys' ? 'C:\\Users\\hr\\.aws' : `\\\\${host}\\share`;
    tokens.push((await makeToken(db, s.config, { kind, name: `${kind} on ${host}`, location, plantedHost: host, tags: ['copy', kind] })).token as Token);
  }
  const at = Date.parse('2026-11-01T10:00:00.123Z');
  for (let i = 0; i < 2500; i++) {
    const token = tokens[i % tokens.length] as Token;
    await s.app.deps.recorder.record({
      token,
      channel: i % 3 === 0 ? 'dns' : 'http',
      at: new Date(at + i * 997),
      sourceIp: `10.20.${i % 7}.${i % 200}`,
      userAgent: `agent ${i} ‘quoted’ <b>`,
      path: `/p/${i}`,
      qname: i % 3 === 0 ? `x${i}.example.test` : null,
      headers: { host: 'cdn.example', 'x-n': String(i) },
      facts:
        i % 11 === 0
          ? { actor: { user: 'alice', host: 'WS-ACCT-07', domain: 'CORP' }, details: { n: i, nested: { ok: true } } }
          : token.kind === 'aws-keys'
            ? { credential: 'AKIACOPYTEST00000001', details: { signed: true, service: 'sts', action: 'GetCallerIdentity' } }
            : undefined,
    });
  }
  const user = await insertUser(db, 'Admin@Corp.example', 'scrypt$hash');
  await insertSession(db, { id: 'sess-hash', userId: user.id, csrfToken: 'csrf', expiresAt: new Date(at + 86_400_000), ip: '10.0.0.1', userAgent: 'UA' });
  await createApiKey(db, 'automation', user.id);
  await insertAsset(db, { cidr: '10.20.0.0/16', label: 'Finance', segment: 'Finance VLAN', criticality: 'high' });
  await importIndicators(db, [{ type: 'ip', value: '203.0.113.9', label: 'APT-TEST', source: 'feed' }]);
  await setSetting(db, 'siem.cursor', { lastHitId: 42, note: 'é' });
  await audit(db, { actor: user.email, action: 'token.create', targetType: 'token', targetId: tokens[0]?.id, ip: '10.0.0.1', details: { kind: 'web-bug' } });
  await s.stop();

  target = await createTestPg();
}, 60_000);

afterAll(async () => {
  if (pg) await closePostgres(pg);
  await target?.drop();
  t.cleanup();
});

describe('honeytrail db copy', () => {
  it('copies every table row for row into an empty PostgreSQL database and reports per table', async () => {
    const res = cli('db', 'copy', '--to', target.url);
    expect(res.stderr).toMatch(/hits\s+2500 \/ 2500/);
    expect(res.stderr).toMatch(/copied \d+ rows in [\d.]+ s; every table's count verified/);
    expect(res.status).toBe(0);

    pg = await openPostgres({ url: target.url, migrate: false });
    const lite = openDatabase({ path: dbFile, migrate: false });
    try {
      let compared = 0;
      for (const [name, table] of TABLES) {
        const key = getTableConfig(table).columns.find((c) => c.primary);
        expect(key, name).toBeDefined();
        const pgTable = (pgSchema as Record<string, unknown>)[name] as typeof pgSchema.tokens;
        const pgKey = (pgTable as unknown as Record<string, unknown>)[Object.entries(table).find(([, v]) => v === key)?.[0] ?? ''];
        const a = lite.select().from(table).orderBy(asc(key as never)).all();
        const b = await pg.select().from(pgTable).orderBy(asc(pgKey as never));
        expect(b, name).toEqual(a);
        compared += a.length;
      }
      // 4 tokens, 2,500 hits and their incidents and alerts, and one row of each of the rest at least.
      expect(compared).toBeGreaterThan(2510);
      const incidents = lite.select().from(sqliteSchema.incidents).all();
      expect(incidents.some((i) => i.lateral && i.severity !== 'low')).toBe(true);
      expect(lite.select().from(sqliteSchema.alerts).all().length).toBeGreaterThan(0);
    } finally {
      closeDatabase(lite);
    }
  }, 60_000);

  it('new rows in PostgreSQL continue after the copied ids', async () => {
    const [max] = await pg.select({ id: pgSchema.hits.id }).from(pgSchema.hits).orderBy(asc(pgSchema.hits.id)).limit(1).offset(2499);
    const [tok] = await pg.select().from(pgSchema.tokens).limit(1);
    const [row] = await pg.insert(pgSchema.hits).values({ tokenId: tok?.id ?? '', channel: 'http', at: new Date() }).returning();
    expect(row?.id).toBe((max?.id ?? 0) + 1);
    const [inc] = await pg.insert(pgSchema.incidents).values({ actorKey: 'ip:1.2.3.4', firstAt: new Date(), lastAt: new Date() }).returning();
    const all = await pg.select({ id: pgSchema.incidents.id }).from(pgSchema.incidents);
    expect(inc?.id).toBe(Math.max(...all.map((x) => x.id)));
  });

  it('refuses a PostgreSQL database that already holds data, and explains wrong arguments', () => {
    const again = cli('db', 'copy', '--to', target.url);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('already holds Honeytrail data');
    const notPg = cli('db', 'copy', '--to', 'file:./elsewhere.db');
    expect(notPg.status).toBe(2);
    expect(notPg.stderr).toContain('--to must be a postgres:// URL');
    const missing = cli('db', 'copy', '--to', target.url, '--from', `file:${join(t.dir, 'nope.db')}`);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('no SQLite database at');
    const unreachable = cli('db', 'copy', '--to', 'postgres://postgres:secret@127.0.0.1:1/x');
    expect(unreachable.status).toBe(1);
    expect(unreachable.stderr).toContain('cannot use PostgreSQL at postgres://postgres:***@127.0.0.1:1/x');
    expect(unreachable.stderr).not.toContain('secret');
  });
});
