import { existsSync, statSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { loadConfig } from '../../src/config.ts';
import { rawQuery } from '../../src/db/store.ts';
import { createLogger } from '../../src/logger.ts';
import { startHoneytrail } from '../../src/server.ts';
import { KINDS } from '../../src/tokens/registry.ts';
import { createToken } from '../../src/tokens/service.ts';

/**
 * Honeytrail as deployed, for the hostile bench (bench/hostile.ts): every listener on, every
 * limit at its default, X-Forwarded-For trusted from loopback (so the bench can play many
 * sources). It plants one token per HTTP kind and an email token, and answers the parent's
 * questions: the event-loop delay histogram (all listeners share this loop) and the database's
 * size and rows.
 */
const dir = process.argv[2] ?? './bench/results/tmp';
const file = `${dir}/hostile.db`;
const apiKey = 'bench_api_key_0123456789abcdefghijklmn';
const config = loadConfig({
  DATABASE_URL: `file:${file}`,
  DATA_DIR: dir,
  PUBLIC_HOST: '127.0.0.1',
  PUBLIC_PORT: '0',
  ADMIN_HOST: '127.0.0.1',
  ADMIN_PORT: '0',
  DNS_HOST: '127.0.0.1',
  DNS_PORT: '0',
  SMTP_HOST: '127.0.0.1',
  SMTP_PORT: '0',
  SSH_HOST: '127.0.0.1',
  SSH_PORT: '0',
  TRUST_PROXY: 'loopback',
  HONEYTRAIL_API_KEY: apiKey,
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
});
const app = await startHoneytrail({ config, log: createLogger(config.LOG_LEVEL) });

/** Headers that carry a kind's planted credential, so hostile requests reach the code behind the check. */
function credential(kind: string, params: Record<string, unknown>): Record<string, string> {
  if (kind === 'kubeconfig' && typeof params.token === 'string') return { authorization: `Bearer ${params.token}` };
  if (kind === 'api-key' && typeof params.key === 'string') return { authorization: `Bearer ${params.key}` };
  if (kind === 'aws-keys' && typeof params.accessKeyId === 'string') {
    return { authorization: `AWS4-HMAC-SHA256 Credential=${params.accessKeyId}/20250101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00` };
  }
  return {};
}

const http: { kind: string; path: string; headers: Record<string, string> }[] = [];
for (const kind of KINDS.filter((k) => k.http)) {
  // A kind made from an uploaded document gets the small file its contract names.
  const upload = kind.upload ? await kind.upload.example() : undefined;
  const { token, artifact } = await createToken(app.deps.db, { config }, { kind: kind.id, name: `hostile ${kind.id}`, params: kind.example }, { id: 'bench' }, upload);
  const path = token.urlPath ?? (artifact.url ? pathAndQuery(artifact.url) : `/static/${token.id}.png`);
  http.push({ kind: kind.id, path, headers: credential(kind.id, token.params as Record<string, unknown>) });
}
const flooded = await createToken(app.deps.db, { config }, { kind: 'web-bug', name: 'flooded', params: {} }, { id: 'bench' });
const mail = await createToken(app.deps.db, { config }, { kind: 'email', name: 'hostile mail', params: {} }, { id: 'bench' });

function pathAndQuery(url: string | undefined): string {
  const u = new URL(url ?? '');
  return u.pathname + u.search;
}

let histogram: IntervalHistogram | null = null;
const bytes = (p: string) => (existsSync(p) ? statSync(p).size : 0);
const count = async (query: string): Promise<number> => Number((await rawQuery<{ n: number | null }>(app.deps.db, query))[0]?.n ?? 0);

process.send?.({
  public: app.port('public'),
  admin: app.port('admin'),
  dns: app.port('dns'),
  smtp: app.port('smtp'),
  zone: config.DNS_ZONE,
  key: apiKey,
  http,
  floodPath: pathAndQuery(flooded.artifact.url),
  mailTo: mail.artifact.email,
  budgets: { rateLimit: config.PUBLIC_RATE_LIMIT, actionRows: config.FLOOD_ACTION_ROWS, sourceRows: config.HIT_SOURCE_ROWS, storagePerMinute: config.HIT_STORAGE_BUDGET },
});

process.on('message', async (msg) => {
  if (msg === 'eld-start') {
    histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    process.send?.({ ok: true });
  }
  if (msg === 'eld-stop') {
    const h = histogram;
    h?.disable();
    process.send?.({ p50: (h?.percentile(50) ?? 0) / 1e6, p99: (h?.percentile(99) ?? 0) / 1e6, max: (h?.max ?? 0) / 1e6 });
  }
  if (msg === 'size') {
    await app.overflow.flush();
    // What the database keeps, not what the WAL holds until its next checkpoint.
    (app.deps.db as { $client: { pragma(s: string): unknown } }).$client.pragma('wal_checkpoint(TRUNCATE)');
    const c = app.deps.budget?.counts;
    process.send?.({
      bytes: bytes(file) + bytes(`${file}-wal`),
      rows: await count('select count(*) as n from hits'),
      hits: await count('select coalesce(sum(repeat_count), 0) as n from hits'),
      counted: await count('select coalesce(sum(hit_count), 0) as n from tokens'),
      unstored: c?.unstored ?? 0,
      rateLimited: c?.rateLimited ?? 0,
      folded: c?.folded ?? {},
      rss: process.memoryUsage().rss,
    });
  }
});
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
