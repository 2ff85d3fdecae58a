import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createAlertPipeline } from '../src/alerts/pipeline.ts';
import { loadConfig } from '../src/config.ts';
import { closeDatabase, openDatabase } from '../src/db/client.ts';
import { closePostgres, openPostgres, type PgDb } from '../src/db/pg.ts';
import { tokens } from '../src/db/schema-pg.ts';
import { createPgCorrelator } from '../src/hits/correlate-pg.ts';
import { createHitRecorder, type HitEvent } from '../src/hits/record-hit.ts';
import { createPgHitRecorder } from '../src/hits/record-hit-pg.ts';
import { createLogger } from '../src/logger.ts';
import type { Token } from '../src/tokens/kind.ts';
import { newTokenId } from '../src/tokens/ids.ts';
import { createTestPg } from '../tests/pg.ts';
import { createToken } from '../src/tokens/service.ts';

/**
 * The recording path (store the hit, put it on its trail, queue its alert) on SQLite and on
 * PostgreSQL, measured the same way in the same run: `CONNECTIONS` concurrent callers each
 * record a hit and wait for its commit, then the next, for `seconds`. On PostgreSQL also two
 * "nodes" (two connection pools, two recorders, as two listener processes would have) on one
 * database. The HTTP listener itself is not in this path; `npm run bench`'s HTTP section
 * measures it on SQLite.
 */
const CONNECTIONS = 64;
const TOKENS = 50;
const log = createLogger('silent');

interface Row {
  target: string;
  hitsPerSec: number;
  p50ms: number;
  p99ms: number;
  hits: number;
  ratio?: number;
}

async function load(name: string, seconds: number, record: (i: number) => Promise<unknown>[] | Promise<unknown>, callers = CONNECTIONS): Promise<Row> {
  const latencies: number[] = [];
  const until = Date.now() + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (Date.now() < until) {
        const t = performance.now();
        await record(n++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0).toFixed(1));
  return { target: name, hitsPerSec: Math.round(latencies.length / seconds), p50ms: pct(0.5), p99ms: pct(0.99), hits: latencies.length };
}

const event = (token: Token, i: number): HitEvent => ({
  token,
  channel: 'http',
  sourceIp: `10.1.${i % 20}.${(i * 7) % 250}`,
  userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)',
  method: 'GET',
  path: `/static/${token.id}/logo.png`,
  headers: { host: 'cdn.corp.example', accept: '*/*' },
});

async function sqliteRun(dir: string, seconds: number): Promise<Row> {
  const config = loadConfig({ DATABASE_URL: `file:${join(dir, 'pg-bench.db')}`, DATA_DIR: dir, ALERT_WORKER_ENABLED: 'false', ALERT_TO: 'soc@corp.example'});
  const db = openDatabase({ path: join(dir, 'pg-bench.db') });
  try {
    const list: Token[] = [];
    for (let i = 0; i < TOKENS; i++) list.push((await createToken(db, { config }, { kind: 'web-bug', name: `bench ${i}`, params: {} }, { id: 'bench' })).token as Token);
    const p = createAlertPipeline({ db, config, log });
    const r = createHitRecorder({ db, log, correlator: p.correlator, classify: p.classify });
    return await load('sqlite: record + trail + outbox', seconds, (i) => r.record(event(list[i % TOKENS] as Token, i)));
  } finally {
    closeDatabase(db);
  }
}

async function pgRun(url: string, seconds: number, nodes: number): Promise<Row> {
  const config = loadConfig({ DATA_DIR: '.', ALERT_TO: 'soc@corp.example'});
  const pools: PgDb[] = [];
  try {
    for (let i = 0; i < nodes; i++) pools.push(await openPostgres({ url, max: 8 }));
    const first = pools[0] as PgDb;
    const list = (await first
      .insert(tokens)
      .values(Array.from({ length: TOKENS }, (_, i) => ({ id: newTokenId(), kind: 'web-bug', name: `bench ${i}`, params: { response: 'gif' } })))
      .returning()) as Token[];
    const recorders = pools.map((db) => createPgHitRecorder({ db, log, correlator: createPgCorrelator({ db, config, log }) }));
    const row = await load(`postgresql: record + trail + outbox, ${nodes} node${nodes > 1 ? 's' : ''}`, seconds, (i) =>
      (recorders[i % nodes] as (typeof recorders)[number]).record(event(list[i % TOKENS] as Token, i)),
    );
    await Promise.all(recorders.map((r) => r.close()));
    return row;
  } finally {
    for (const p of pools) await closePostgres(p);
  }
}

/** A throwaway database on the PostgreSQL server at BENCH_PG_URL (default: the local one), dropped afterwards. */
export async function withDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const db = await createTestPg({ adminUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', prefix: 'ht_bench' });
  try {
    return await fn(db.url);
  } finally {
    await db.drop();
  }
}

/** Rows for the bench table; PostgreSQL rows carry their ratio to SQLite. Null when PostgreSQL is unreachable. */
export async function benchPostgres(dir: string, seconds: number): Promise<Row[] | null> {
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`Recording path on SQLite and PostgreSQL: ${seconds}s each, ${CONNECTIONS} concurrent callers\n`);
  process.stderr.write('  sqlite …\n');
  const lite = await sqliteRun(dir, seconds);
  let rows: Row[];
  try {
    rows = [lite];
    for (const nodes of [1, 2]) {
      process.stderr.write(`  postgresql, ${nodes} node(s) …\n`);
      const r = await withDatabase((url) => pgRun(url, seconds, nodes));
      rows.push({ ...r, ratio: Number((r.hitsPerSec / lite.hitsPerSec).toFixed(2)) });
    }
  } catch (err) {
    process.stderr.write(`  PostgreSQL unavailable (${err instanceof Error ? err.message : String(err)}); set BENCH_PG_URL\n`);
    return null;
  }
  return rows;
}
