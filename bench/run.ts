import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { adminScaleBench } from './admin.ts';
import { ask, start as startChild, stop } from './child.ts';
import { benchFlood } from './flood.ts';
import { benchHostile, HOSTILE_BUDGETS } from './hostile.ts';
import { benchDns, benchDnsProcesses } from './dns.ts';
import { benchPostgres, modelledHitsPerSec, withDatabase } from './pg.ts';
import { measureAlertLatency } from './alert-latency.ts';

/**
 * `npm run bench`: Honeytrail's HTTP trigger path next to a bare node:http baseline, measured
 * the same way in the same run (ratios, not absolute numbers, are what we compare).
 * Env: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 64), BENCH_ONLY (comma list of
 * sections to run: http, dns, pg, flood, scale, alerts, hostile; default all), BENCH_KEEP (keep the
 * run's databases).
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const RESULTS = 'bench/results';
const SECTIONS = ['http', 'dns', 'pg', 'flood', 'scale', 'alerts', 'hostile'] as const;
const ONLY = new Set((process.env.BENCH_ONLY ?? SECTIONS.join(',')).split(',').map((x) => x.trim()).filter(Boolean));
for (const s of ONLY) {
  if (!(SECTIONS as readonly string[]).includes(s)) {
    console.error(`BENCH_ONLY: unknown section "${s}" (choose from ${SECTIONS.join(', ')})`);
    process.exit(2);
  }
}
const wanted = (s: (typeof SECTIONS)[number]) => ONLY.has(s);

interface Ready {
  port: number;
  path?: string;
}

const start = (script: string, args: string[] = []) => startChild<Ready>(script, args);

async function load(url: string): Promise<autocannon.Result> {
  return autocannon({ url, connections: CONNECTIONS, duration: SECONDS, pipelining: 1 });
}

/**
 * The costly case: every request from a different source (X-Forwarded-For through the bench
 * server's TRUST_PROXY) with its own query string, as a scan or a campaign would arrive. Nothing
 * folds: each request is a row, and each source opens an intrusion of its own.
 */
async function loadManySources(url: string): Promise<autocannon.Result> {
  let n = 0;
  const base = new URL(url);
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    pipelining: 1,
    requests: [
      {
        setupRequest: (req) => {
          n += 1;
          const ip = `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
          return { ...req, path: `${base.pathname}${base.search ? `${base.search}&` : '?'}r=${n}`, headers: { ...req.headers, 'x-forwarded-for': ip } };
        },
      },
    ],
  });
}

async function benchHttp(dir: string, rows: Record<string, unknown>[]): Promise<void> {
  process.stderr.write(`HTTP trigger: ${SECONDS}s at ${CONNECTIONS} connections per target\n`);
  const bare = await start('bench/servers/bare.ts');
  process.stderr.write('  bare node:http …\n');
  const baseline = await load(`http://127.0.0.1:${bare.ready.port}/static/img/logo.png`);
  await stop(bare.child);

  const ht = await start('bench/servers/honeytrail.ts', [dir]);
  process.stderr.write('  honeytrail public listener, one source …\n');
  await ask(ht.child, 'mark');
  const trig = await load(`http://127.0.0.1:${ht.ready.port}${ht.ready.path ?? '/'}`);
  const stored = await ask<{ hits: number; rss: number; cpu: number }>(ht.child, 'count');
  await stop(ht.child);

  // The costly case, on a fresh database: every request its own source (and intrusion).
  const many = await start('bench/servers/honeytrail.ts', [join(dir, 'many')]);
  process.stderr.write('  honeytrail public listener, a new source per request …\n');
  await ask(many.child, 'mark');
  const spread = await loadManySources(`http://127.0.0.1:${many.ready.port}${many.ready.path ?? '/'}`);
  const spreadStored = await ask<{ hits: number; rss: number; cpu: number; incidents: number }>(many.child, 'count');
  await stop(many.child);

  // The same listener on PostgreSQL (pg section), same load, same run.
  let onPg: { result: autocannon.Result; stored: { hits: number; rss: number } } | undefined;
  if (wanted('pg')) {
    try {
      onPg = await withDatabase(async (url) => {
        const server = await start('bench/servers/honeytrail.ts', [join(dir, 'http-pg'), url]);
        process.stderr.write('  honeytrail public listener on PostgreSQL …\n');
        const result = await load(`http://127.0.0.1:${server.ready.port}${server.ready.path ?? '/'}`);
        const stored = await ask<{ hits: number; rss: number }>(server.child, 'count');
        await stop(server.child);
        return { result, stored };
      });
    } catch (err) {
      process.stderr.write(`  PostgreSQL unavailable (${err instanceof Error ? err.message : String(err)}); set BENCH_PG_URL\n`);
    }
  }

  const answered = trig['2xx'];
  const ratio = trig.requests.average / baseline.requests.average;
  rows.push(
    { target: 'bare node:http (baseline)', reqPerSec: baseline.requests.average, p50ms: baseline.latency.p50, p99ms: baseline.latency.p99, errors: baseline.errors + baseline.non2xx },
    {
      target: 'honeytrail http trigger',
      reqPerSec: trig.requests.average,
      p50ms: trig.latency.p50,
      p99ms: trig.latency.p99,
      errors: trig.errors + trig.non2xx,
      answered,
      storedHits: stored.hits,
      rssMB: Math.round(stored.rss / 1e6),
      serverCpu: stored.cpu,
      ratio: Number(ratio.toFixed(2)),
    },
    {
      target: 'honeytrail http trigger, a new source per request',
      reqPerSec: spread.requests.average,
      p50ms: spread.latency.p50,
      p99ms: spread.latency.p99,
      errors: spread.errors + spread.non2xx,
      answered: spread['2xx'],
      storedHits: spreadStored.hits,
      incidents: spreadStored.incidents,
      rssMB: Math.round(spreadStored.rss / 1e6),
      serverCpu: spreadStored.cpu,
      ratio: Number((spread.requests.average / baseline.requests.average).toFixed(2)),
    },
  );
  if (onPg) {
    const r = onPg.result;
    rows.push({
      target: 'honeytrail http trigger (postgresql)',
      reqPerSec: r.requests.average,
      p50ms: r.latency.p50,
      p99ms: r.latency.p99,
      errors: r.errors + r.non2xx,
      answered: r['2xx'],
      storedHits: onPg.stored.hits,
      rssMB: Math.round(onPg.stored.rss / 1e6),
      ratio: Number((r.requests.average / baseline.requests.average).toFixed(2)),
    });
    console.log(`http trigger on PostgreSQL: ${Math.round(r.requests.average)} req/s, ${(r.requests.average / trig.requests.average).toFixed(2)}x SQLite's; every answered request stored: ${onPg.stored.hits >= r['2xx'] ? 'yes' : 'NO'}`);
  }
  console.log(`ratio honeytrail/bare = ${ratio.toFixed(2)} (target >= 0.5); p99 ${trig.latency.p99} ms (target < 20 ms)`);
  console.log(`every answered request stored: ${stored.hits >= answered ? 'yes' : 'NO'} (${stored.hits} hits for ${answered} 2xx answers)`);
  console.log(
    `a new source per request: ratio ${(spread.requests.average / baseline.requests.average).toFixed(2)} (target >= 0.5), p99 ${spread.latency.p99} ms; ${spreadStored.hits} hits for ${spread['2xx']} answers in ${spreadStored.incidents} incidents`,
  );
}

async function main(): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  const dir = mkdtempSync(join(RESULTS, 'run-'));
  const rows: Record<string, unknown>[] = [];
  const result: Record<string, unknown> = { at: new Date().toISOString(), seconds: SECONDS, connections: CONNECTIONS, sections: [...ONLY] };
  try {
    if (wanted('http')) await benchHttp(dir, rows);
    if (wanted('dns')) rows.push(...(await benchDns(dir, SECONDS)));
    // DNS on several cores needs PostgreSQL: one process against DNS_PROCESSES=2 (with the pg section).
    if (wanted('dns') && wanted('pg')) {
      try {
        for (const processes of [1, 2]) rows.push(await withDatabase((url) => benchDnsProcesses(join(dir, `dns-pg-${processes}`), SECONDS, url, processes)));
      } catch (err) {
        process.stderr.write(`  DNS on PostgreSQL not measured (${err instanceof Error ? err.message : String(err)})\n`);
      }
    }
    if (rows.length) console.table(rows);
    if (wanted('pg')) {
      const pgRows = await benchPostgres(join(dir, 'pg'), SECONDS);
      if (pgRows) {
        console.table(pgRows.map(({ waits: _w, statements: _s, ...row }) => row));
        for (const row of pgRows) {
          if (row.waits) console.log(`${row.target}: the database's backends were ${Object.entries(row.waits).map(([what, share]) => `${what} ${(100 * share).toFixed(1)}%`).join(', ')}`);
          if (row.statements) console.table(row.statements);
        }
        const [lite, one, two] = pgRows;
        console.log(`recording on PostgreSQL: ${one?.hitsPerSec} hits/s on one node, ${two?.hitsPerSec} on two (SQLite: ${lite?.hitsPerSec}; ratios ${one?.ratio} and ${two?.ratio})`);
        // Nodes, database and load generator share this machine's cores; what each hit costs each
        // of them says what more nodes would do with the database on cores of its own.
        const measured = two ?? one;
        const model = measured ? [1, 2, 4].map((nodes) => ({ nodes, dbCores: 2, hitsPerSec: modelledHitsPerSec(measured, nodes, 2) })) : [];
        if (model.every((m) => m.hitsPerSec !== null) && model.length) {
          console.table(model);
          console.log(`modelled from the two-node run's costs per hit (node CPU ${measured?.nodeCpuMsPerHit} ms, database CPU ${measured?.dbCpuMsPerHit} ms, ${measured?.commitsPerHit} commits): two nodes ${((model[1]?.hitsPerSec ?? 0) / (model[0]?.hitsPerSec ?? 1)).toFixed(2)}x one node with the database on 2 cores of its own`);
        }
        result.postgres = pgRows;
        result.postgresModel = model;
      }
    }
    if (wanted('flood')) {
      const floodSeconds = Number(process.env.BENCH_FLOOD_SECONDS ?? 30);
      process.stderr.write(`Flood: one source hammering one token for ${floodSeconds}s while the admin API is used\n`);
      const floodDir = join(dir, 'flood');
      mkdirSync(floodDir);
      const flood = await benchFlood(floodDir, floodSeconds);
      console.table([flood]);
      console.log(`flood: admin p99 ${flood.adminP99ms} ms (target < 250 ms); other token ${flood.otherTokenRecorded}/${flood.otherTokenSent} recorded in ${flood.otherTokenRows} rows; ${flood.triggers} triggers stored in ${flood.rowsStored} rows (+${Math.round(flood.dbGrowthBytes / 1024)} KiB)`);
      result.flood = flood;
    }
    if (wanted('scale')) {
      const scaleTokens = Number(process.env.BENCH_TOKENS ?? 100_000);
      const scaleHits = Number(process.env.BENCH_HITS ?? 5_000_000);
      process.stderr.write(`Admin API at scale: ${scaleTokens} tokens, ${scaleHits} hits\n`);
      const scale = await adminScaleBench(dir, scaleTokens, scaleHits, (m) => process.stderr.write(`${m}\n`));
      console.table(scale.rows);
      console.log(`scale: seeded in ${scale.seedSeconds} s; ${scale.bytesPerHit} database bytes per hit; RSS ${scale.rssMB} MB (target < 300 MB); list pages target < 100 ms`);
      result.scale = scale;
    }
    if (wanted('alerts')) {
      const alertLatency = await measureAlertLatency(dir);
      console.log(`alert latency (hit -> mail accepted by SMTP, ${alertLatency.samples} samples): p50 ${alertLatency.p50ms} ms, p95 ${alertLatency.p95ms} ms (target p50 < 1000 ms)`);
      rows.push({ target: 'alert latency (hit -> SMTP accepted)', p50ms: alertLatency.p50ms, p95ms: alertLatency.p95ms, samples: alertLatency.samples });
    }
    if (wanted('hostile')) {
      process.stderr.write('Hostile load: pathological inputs and floods against every default limit\n');
      const hostileDir = join(dir, 'hostile');
      mkdirSync(hostileDir);
      const hostile = await benchHostile(hostileDir);
      console.table(hostile);
      const b = HOSTILE_BUDGETS;
      console.log(`hostile: budgets event-loop p99 <= ${b.eventLoopP99Ms} ms, DNS p99 <= ${b.dnsP99Ms} ms, admin p99 <= ${b.adminP99Ms} ms, one-source flood <= ${b.oneSourceRows} rows, growth <= ${b.diskPerBudgetByte}x HIT_STORAGE_BUDGET per minute: ${hostile.every((r) => r.withinBudget) ? 'all met' : 'NOT MET'}`);
      result.hostile = hostile;
    }
    const out = join(RESULTS, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(out, JSON.stringify({ ...result, rows }, null, 2));
    console.log(`results written to ${out}`);
  } finally {
    // BENCH_KEEP=1 keeps the run's databases for a look afterwards (sqlite3, dbstat).
    if (process.env.BENCH_KEEP) process.stderr.write(`databases kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
