import { rawQuery } from '../../src/db/store.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startHoneytrail } from '../../src/server.ts';
import { createToken } from '../../src/tokens/service.ts';

/**
 * Honeytrail's public listener with a web-bug token; every request is a durably recorded hit.
 * The throughput bench turns flood control off (each request is inserted as its own row, as
 * distinct intruder requests would be); the flood bench (BENCH_ADMIN=true) keeps the default
 * folding of identical hits and also runs the admin API.
 */
const dir = process.argv[2] ?? './bench/results/tmp';
// A PostgreSQL URL as the third argument runs the same server on PostgreSQL.
const databaseUrl = process.argv[3] ?? `file:${dir}/bench.db`;
const flood = process.env.BENCH_ADMIN === 'true';
const apiKey = 'bench_api_key_0123456789abcdefghijklmn';
const config = loadConfig({
  DATABASE_URL: databaseUrl,
  DATA_DIR: dir,
  PUBLIC_HOST: '127.0.0.1',
  PUBLIC_PORT: '0',
  ADMIN_ENABLED: flood ? 'true' : 'false',
  ADMIN_HOST: '127.0.0.1',
  ADMIN_PORT: '0',
  HONEYTRAIL_API_KEY: apiKey,
  DNS_ENABLED: 'false',
  SMTP_ENABLED: 'false',
  FLOOD_THRESHOLD: flood ? '20' : '100000',
  // All load comes from one address: the per-source rate limit and the storage budgets would
  // turn it away (the hostile bench, bench/servers/hostile.ts, measures them with their defaults).
  PUBLIC_RATE_LIMIT: '0',
  HIT_STORAGE_BUDGET: '0',
  FLOOD_ACTION_ROWS: flood ? '20' : '100000',
  HIT_SOURCE_ROWS: '1000000',
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
  // The load generator on loopback stands for a reverse proxy: X-Forwarded-For names the source,
  // so the many-sources case gives every request an address of its own (one intrusion each).
  TRUST_PROXY: '127.0.0.1',
});
const app = await startHoneytrail({ config, log: createLogger(config.LOG_LEVEL) });
const make = (name: string) => createToken(app.deps.db, { config }, { kind: 'web-bug', name, params: { response: 'gif' } }, { id: 'bench' });
const { token, artifact } = await make('bench');
const other = await make('bench other');
const pathOf = (u: string | undefined) => {
  const url = new URL(u ?? '');
  return url.pathname + url.search;
};
process.send?.({
  port: app.port('public'),
  path: pathOf(artifact.url),
  tokenId: token.id,
  ...(flood ? { adminPort: app.port('admin'), key: apiKey, otherPath: pathOf(other.artifact.url) } : {}),
});
const count = async (query: string, ...args: string[]): Promise<number> => Number((await rawQuery<{ n: number | null }>(app.deps.db, query, ...args))[0]?.n ?? 0);
let cpuMark = process.cpuUsage();
let wallMark = Date.now();
/** CPU this process used since the last mark, as a share of one core. */
const cpuShare = () => {
  const used = process.cpuUsage(cpuMark);
  return Number(((used.user + used.system) / 1000 / Math.max(1, Date.now() - wallMark)).toFixed(2));
};
process.on('message', async (msg) => {
  if (msg === 'mark') {
    cpuMark = process.cpuUsage();
    wallMark = Date.now();
    process.send?.({ ok: true });
  }
  if (msg === 'count') {
    const cpu = cpuShare();
    // Everything answered is committed; on PostgreSQL wait for the correlation behind it too.
    await (app.deps.recorder as { idle?: () => Promise<void> }).idle?.();
    process.send?.({
      hits: await count('select sum(repeat_count) as n from hits'),
      rows: await count('select count(*) as n from hits'),
      incidents: await count('select count(*) as n from incidents'),
      rss: process.memoryUsage().rss,
      heapUsed: process.memoryUsage().heapUsed,
      cpu,
    });
  }
  if (msg === 'heap-snapshot') {
    const { writeHeapSnapshot } = await import('node:v8');
    process.send?.({ file: writeHeapSnapshot(`${dir}/bench.heapsnapshot`) });
  }
  if (msg === 'flood-count') {
    process.send?.({
      hits: await count('select sum(repeat_count) as n from hits where token_id = ?', token.id),
      rows: await count('select count(*) as n from hits where token_id = ?', token.id),
      otherHits: await count('select coalesce(sum(repeat_count), 0) as n from hits where token_id = ?', other.token.id),
      otherRows: await count('select count(*) as n from hits where token_id = ?', other.token.id),
      rss: process.memoryUsage().rss,
    });
  }
});
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
