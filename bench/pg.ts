import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createAlertPipeline } from '../src/alerts/pipeline.ts';
import { loadConfig } from '../src/config.ts';
import { closeDatabase, openDatabase } from '../src/db/client.ts';
import { closePostgres, openPostgres, type PgDb } from '../src/db/pg.ts';
import { tokens } from '../src/db/schema-pg.ts';
import { createHitRecorder, type HitEvent } from '../src/hits/record-hit.ts';
import { createLogger } from '../src/logger.ts';
import { cpuCaps, procStat, serverProcesses, type CpuCaps } from './cpu-caps.ts';
import type { NodeReport } from './pg-node.ts';
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
  /** CPU of the recording processes per hit (PostgreSQL rows). */
  nodeCpuMsPerHit?: number;
  /** CPU of the database server's backends and writers per hit (PostgreSQL rows, local server). */
  dbCpuMsPerHit?: number;
  /** Database commits per hit (PostgreSQL rows). */
  commitsPerHit?: number;
  /** Throughput against one node under the same CPU caps (capped rows). */
  vsOneNode?: number;
  /** What the database's backends were doing, sampled every 10 ms: share of samples per state or wait event (PostgreSQL rows). */
  waits?: Record<string, number>;
  /** The statements that took the database's time, from pg_stat_statements when the server loads it (PostgreSQL rows). */
  statements?: Statement[];
}

interface Statement {
  query: string;
  callsPerHit: number;
  meanMs: number;
  /** Execution time per hit, µs. */
  usPerHit: number;
  /** Share of all the database's statement time in the run. */
  share: number;
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
  const pct = (p: number) => percentile(latencies, p);
  return { target: name, hitsPerSec: Math.round(latencies.length / seconds), p50ms: pct(0.5), p99ms: pct(0.99), hits: latencies.length };
}

/** The `p` quantile (0-1) of ascending `sorted` latencies, to 0.1 ms. */
function percentile(sorted: readonly number[], p: number): number {
  return Number((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0).toFixed(1));
}

/** The i-th recorded hit: twenty rotating sources per node (nodes' sources differ), as a spread of edges sees several actors. */
export const event = (token: Token, i: number, node = 0): HitEvent => ({
  token,
  channel: 'http',
  sourceIp: `10.${1 + node}.${i % 20}.${(i * 7) % 250}`,
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

/** CPU seconds (user + system) a process has used, from /proc (Linux); null where it cannot be read. */
function procCpuSeconds(pid: number): number | null {
  const f = procStat(pid);
  return f ? (Number(f[11]) + Number(f[12])) / CLOCK_TICKS : null;
}
const CLOCK_TICKS = 100;

/**
 * The database server's work for one database: CPU of its backends and of the server's shared
 * writers (WAL writer, checkpointer, background writer), and its commits. Readable when the
 * server runs on this machine (the bench's default); otherwise the CPU figures are null.
 */
async function pgServerLoad(admin: PgDb, database: string): Promise<{ cpu: number | null; commits: number }> {
  const pids = await admin.$client.query<{ pid: number }>(
    "select pid from pg_stat_activity where datname = $1 or backend_type in ('walwriter', 'checkpointer', 'background writer')",
    [database],
  );
  let cpu: number | null = 0;
  for (const { pid } of pids.rows) {
    const c = procCpuSeconds(pid);
    if (c === null) cpu = null;
    else if (cpu !== null) cpu += c;
  }
  const commits = await admin.$client.query<{ n: string }>('select xact_commit as n from pg_stat_database where datname = $1', [database]);
  return { cpu, commits: Number(commits.rows[0]?.n ?? 0) };
}

/**
 * What the backends of `database` are doing, every 10 ms until `stop()`: on CPU, waiting on an
 * event (a lock, the WAL flush, I/O …), or idle waiting on the node for its next statement
 * (pg_stat_activity, always available).
 */
function sampleWaits(admin: PgDb, database: string): { stop(): Promise<Record<string, number>> } {
  const counts = new Map<string, number>();
  let total = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const r = await admin.$client.query<{ what: string; n: number }>(
        `select case when state = 'active' then coalesce(wait_event_type || ': ' || wait_event, 'on CPU')
                     when state like 'idle in transaction%' then 'idle in transaction (waiting on the node)'
                     else 'idle (waiting on the node)' end as what, count(*)::int as n
         from pg_stat_activity where datname = $1 and pid <> pg_backend_pid() group by 1`,
        [database],
      );
      for (const row of r.rows) {
        counts.set(row.what, (counts.get(row.what) ?? 0) + row.n);
        total += row.n;
      }
      await new Promise((x) => setTimeout(x, 10));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const shares = [...counts].sort((a, b) => b[1] - a[1]).map(([what, n]) => [what, Number((n / Math.max(1, total)).toFixed(3))] as const);
      return Object.fromEntries(shares);
    },
  };
}

type StatementStats = Map<string, { query: string; calls: number; ms: number }>;

/** pg_stat_statements for `database` (null when the server does not load the module; the bench creates the extension in its throwaway database). */
async function statementStats(admin: PgDb, database: string): Promise<StatementStats | null> {
  try {
    const loaded = await admin.$client.query<{ v: string }>("select current_setting('shared_preload_libraries') as v");
    if (!/\bpg_stat_statements\b/.test(loaded.rows[0]?.v ?? '')) return null;
    await admin.$client.query('create extension if not exists pg_stat_statements');
    const r = await admin.$client.query<{ queryid: string; query: string; calls: string; ms: number }>(
      'select queryid::text, query, calls::text, total_exec_time as ms from pg_stat_statements where dbid = (select oid from pg_database where datname = $1)',
      [database],
    );
    return new Map(r.rows.map((x) => [x.queryid, { query: x.query, calls: Number(x.calls), ms: x.ms }]));
  } catch {
    return null;
  }
}

/** The statements that took most of the database's time between two readings. */
function topStatements(before: StatementStats, after: StatementStats, hits: number, top = 6): Statement[] {
  const diff = [...after].map(([id, a]) => {
    const b = before.get(id);
    return { query: a.query, calls: a.calls - (b?.calls ?? 0), ms: a.ms - (b?.ms ?? 0) };
  });
  const total = diff.reduce((sum, d) => sum + d.ms, 0);
  return diff
    .filter((d) => d.calls > 0)
    .sort((x, y) => y.ms - x.ms)
    .slice(0, top)
    .map((d) => ({
      query: d.query.replace(/\s+/g, ' ').slice(0, 90),
      callsPerHit: Number((d.calls / Math.max(1, hits)).toFixed(3)),
      meanMs: Number((d.ms / d.calls).toFixed(3)),
      usPerHit: Number(((1000 * d.ms) / Math.max(1, hits)).toFixed(1)),
      share: Number((d.ms / Math.max(1e-9, total)).toFixed(3)),
    }));
}

/**
 * `nodes` recording processes (bench/pg-node.ts) on one database, each with CONNECTIONS / nodes
 * callers, started together. Besides throughput, the row carries what each hit cost: node CPU,
 * database CPU and database commits per hit, from which the throughput of more nodes with the
 * database on cores of its own is modelled (on this machine nodes, database and load share two
 * cores, so a second node cannot add CPU that is not there).
 */
/** Nodes and database under CPU caps: each node at `nodeCores`, the database server at `dbCores`. */
interface Capped {
  caps: CpuCaps;
  nodeCores: number;
  dbCores: number;
}

async function pgRun(url: string, seconds: number, nodes: number, capped?: Capped): Promise<Row> {
  const admin = await openPostgres({ url, max: 2 });
  const database = new URL(url).pathname.slice(1);
  const children: ChildProcess[] = [];
  try {
    const list = await admin
      .insert(tokens)
      .values(Array.from({ length: TOKENS }, (_, i) => ({ id: newTokenId(), kind: 'web-bug', name: `bench ${i}`, params: { response: 'gif' } })))
      .returning({ id: tokens.id });
    const next = (child: ChildProcess) =>
      new Promise<unknown>((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`bench/pg-node.ts exited with ${code}`));
        child.once('exit', onExit);
        child.once('message', (m) => {
          child.off('exit', onExit);
          resolve(m);
        });
      });
    for (let node = 0; node < nodes; node++) {
      const child = fork('bench/pg-node.ts', [], { execArgv: ['--import', 'tsx', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      children.push(child);
      const ready = next(child);
      child.send({ url, tokenIds: list.map((t) => t.id), seconds, callers: Math.ceil(CONNECTIONS / nodes), node });
      await ready;
      if (capped && child.pid) capped.caps.cap([child.pid], capped.nodeCores);
    }
    if (capped) {
      const backend = await admin.$client.query<{ pid: number }>('select pg_backend_pid() as pid');
      const server = serverProcesses(Number(backend.rows[0]?.pid));
      if (!server) throw new Error('the database server is not a process of this machine: it cannot be capped');
      capped.caps.cap(server, capped.dbCores);
    }
    const statementsBefore = await statementStats(admin, database);
    const before = await pgServerLoad(admin, database);
    const reports = children.map((c) => next(c) as Promise<NodeReport>);
    for (const c of children) c.send('go');
    const waits = sampleWaits(admin, database);
    const done = await Promise.all(reports);
    const after = await pgServerLoad(admin, database);
    const waited = await waits.stop();
    const statementsAfter = statementsBefore ? await statementStats(admin, database) : null;
    for (const c of children) c.send('close');
    await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode === null ? c.once('exit', resolve) : resolve(null)))));

    const latencies = done.flatMap((r) => r.latencies).sort((a, b) => a - b);
    const pct = (p: number) => percentile(latencies, p);
    const hits = latencies.length;
    const nodeCpuMs = done.reduce((sum, r) => sum + r.cpuMs, 0);
    const dbCpuMs = before.cpu === null || after.cpu === null ? null : (after.cpu - before.cpu) * 1000;
    return {
      target: `postgresql: record + trail + outbox, ${nodes} node process${nodes > 1 ? 'es' : ''}${capped ? ` capped at ${capped.nodeCores} core each, database at ${capped.dbCores}` : ''}`,
      hitsPerSec: Math.round(hits / seconds),
      p50ms: pct(0.5),
      p99ms: pct(0.99),
      hits,
      nodeCpuMsPerHit: Number((nodeCpuMs / Math.max(1, hits)).toFixed(3)),
      dbCpuMsPerHit: dbCpuMs === null ? undefined : Number((dbCpuMs / Math.max(1, hits)).toFixed(3)),
      commitsPerHit: Number(((after.commits - before.commits) / Math.max(1, hits)).toFixed(3)),
      waits: waited,
      ...(statementsBefore && statementsAfter ? { statements: topStatements(statementsBefore, statementsAfter, hits) } : {}),
    };
  } finally {
    capped?.caps.release();
    for (const c of children) if (c.exitCode === null) c.kill();
    await closePostgres(admin);
  }
}

/** Each node's share of a core, and the database's cores, in the capped runs (together well under this machine's two cores). */
const NODE_CORES = 0.4;
const DB_CORES = 1;

/**
 * Scale-out measured rather than modelled: one node and then two, each capped at NODE_CORES, on a
 * database server capped at DB_CORES, so that the nodes are the limit and a second node brings
 * CPU of its own, as a second machine would. What this measures that the model cannot: whatever
 * the nodes wait for from each other (row and advisory locks on shared intrusions and alert
 * threads, smaller batches per node). BENCH_CAPS=0 skips it; so does a machine where processes
 * cannot be capped (it says why).
 */
async function cappedRuns(seconds: number): Promise<Row[]> {
  if (process.env.BENCH_CAPS === '0') return [];
  const caps = cpuCaps();
  if (typeof caps === 'string') {
    process.stderr.write(`  two nodes under CPU caps not measured: ${caps}\n`);
    return [];
  }
  const rows: Row[] = [];
  try {
    for (const nodes of [1, 2]) {
      process.stderr.write(`  postgresql, ${nodes} node(s) at ${NODE_CORES} core each, database at ${DB_CORES} …\n`);
      const r = await withDatabase((url) => pgRun(url, seconds, nodes, { caps, nodeCores: NODE_CORES, dbCores: DB_CORES }));
      rows.push({ ...r, vsOneNode: Number((r.hitsPerSec / (rows[0]?.hitsPerSec ?? r.hitsPerSec)).toFixed(2)) });
    }
  } catch (err) {
    process.stderr.write(`  two nodes under CPU caps not measured: ${err instanceof Error ? err.message : String(err)}\n`);
  } finally {
    caps.release();
  }
  return rows;
}

/**
 * Throughput of `nodes` nodes on cores of their own with the database on `dbCores` of its own,
 * from the per-hit CPU one run measured: each node is limited by its CPU per hit, the database by
 * its CPU per hit. (Commit latency is hidden by concurrency: callers per node wait in parallel.)
 */
export function modelledHitsPerSec(row: Row, nodes: number, dbCores: number): number | null {
  if (!row.nodeCpuMsPerHit || !row.dbCpuMsPerHit) return null;
  const perNode = 1000 / row.nodeCpuMsPerHit;
  const database = (1000 * dbCores) / row.dbCpuMsPerHit;
  return Math.round(Math.min(nodes * perNode, database));
}

/** A throwaway database on the PostgreSQL server at BENCH_PG_URL (default: the local one), dropped afterwards. */
export async function withDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const db = await createTestPg({ adminUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', prefix: 'ht_bench' });
  try {
    return await fn(db.url);
  } finally {
    // BENCH_KEEP=1 leaves the database for a look afterwards (EXPLAIN ANALYZE, pg_stat_statements).
    if (process.env.BENCH_KEEP) process.stderr.write(`PostgreSQL database kept: ${db.url}\n`);
    else await db.drop();
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
    rows.push(...(await cappedRuns(seconds)));
  } catch (err) {
    process.stderr.write(`  PostgreSQL unavailable (${err instanceof Error ? err.message : String(err)}); set BENCH_PG_URL\n`);
    return null;
  }
  return rows;
}
