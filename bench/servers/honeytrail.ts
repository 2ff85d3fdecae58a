import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startHoneytrail } from '../../src/server.ts';
import { createToken } from '../../src/tokens/service.ts';

/** Honeytrail's public listener with one web-bug token; every request is a durably recorded hit. */
const dir = process.argv[2] ?? './bench/results/tmp';
const config = loadConfig({
  DATABASE_URL: `file:${dir}/bench.db`,
  DATA_DIR: dir,
  PUBLIC_HOST: '127.0.0.1',
  PUBLIC_PORT: '0',
  ADMIN_ENABLED: 'false',
  DNS_ENABLED: 'false',
  SMTP_ENABLED: 'false',
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
});
const app = await startHoneytrail({ config, log: createLogger(config.LOG_LEVEL) });
const { token, artifact } = await createToken(app.deps.db, { config }, { kind: 'web-bug', name: 'bench', params: { response: 'gif' } }, { id: 'bench' });
const url = new URL(artifact.url ?? '');
process.send?.({ port: app.port('public'), path: url.pathname + url.search, tokenId: token.id });
process.on('message', (msg) => {
  if (msg === 'count') {
    const n = app.deps.db.$client.prepare('select count(*) as n from hits').get() as { n: number };
    process.send?.({ hits: n.n, rss: process.memoryUsage().rss });
  }
});
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
