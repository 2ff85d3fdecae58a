import { fork } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

/**
 * Flood behaviour (issue: proof under load): one source hammers one token for `seconds` while
 * the admin API is polled and another token is triggered now and then. Reports admin latency
 * under flood (target p99 < 250 ms), whether the other token's hits were all recorded, and how
 * much the database grew per trigger (flood control folds identical hits).
 */
export async function benchFlood(dir: string, seconds: number) {
  const child = fork('bench/servers/honeytrail.ts', [dir], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, BENCH_ADMIN: 'true', BENCH_LOG_LEVEL: 'warn' },
  });
  const ready = await new Promise<{ port: number; adminPort: number; path: string; key: string; otherPath: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as never));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const dbFile = join(dir, 'bench.db');
  const sizeBefore = statSync(dbFile).size;
  const admin: number[] = [];
  let otherSent = 0;
  let otherOk = 0;
  let stop = false;
  const poll = (async () => {
    while (!stop) {
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${ready.adminPort}/api/v1/tokens?limit=50`, { headers: { authorization: `Bearer ${ready.key}` } });
      await res.arrayBuffer();
      admin.push(performance.now() - t);
      otherSent++;
      const o = await fetch(`http://127.0.0.1:${ready.port}${ready.otherPath}`, { headers: { 'user-agent': `other-${otherSent}` } });
      await o.arrayBuffer();
      if (o.ok) otherOk++;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const flood = await autocannon({ url: `http://127.0.0.1:${ready.port}${ready.path}`, connections: 64, duration: seconds });
  stop = true;
  await poll;
  const stats = await new Promise<{ hits: number; rows: number; otherHits: number; otherRows: number; rss: number }>((resolve) => {
    child.once('message', (m) => resolve(m as never));
    child.send('flood-count');
  });
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
  admin.sort((a, b) => a - b);
  const pct = (p: number) => Math.round((admin[Math.min(admin.length - 1, Math.floor(admin.length * p))] ?? 0) * 10) / 10;
  return {
    seconds,
    floodReqPerSec: Math.round(flood.requests.average),
    floodErrors: flood.errors + flood.non2xx,
    triggers: stats.hits,
    rowsStored: stats.rows,
    dbGrowthBytes: statSync(dbFile).size - sizeBefore,
    adminRequests: admin.length,
    adminP50ms: pct(0.5),
    adminP99ms: pct(0.99),
    otherTokenSent: otherSent,
    // Every trigger of the other token counted (a row, or a repeat folded into one: its varying
    // user agents fold past FLOOD_ACTION_ROWS like any query-varying flood), and in how many rows.
    otherTokenRecorded: stats.otherHits,
    otherTokenRows: stats.otherRows,
    otherTokenAnswered: otherOk,
    rssMB: Math.round(stats.rss / 1e6),
  };
}
