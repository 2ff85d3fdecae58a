import { createAlertWorker } from './alerts/worker.ts';
import { ConfigError, loadConfig, loadDotEnv, sqlitePath } from './config.ts';
import { closeDatabase, openDatabase } from './db/client.ts';
import { createLogger } from './logger.ts';

/**
 * `npm run worker`: the alert worker on its own, for deployments that run listeners with
 * ALERT_WORKER_ENABLED=false. Several workers may share one database: claims are
 * compare-and-swap with a lease, so each alert goes out once.
 */
async function main(): Promise<void> {
  let config;
  try {
    loadDotEnv();
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`honeytrail worker: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL);
  const db = openDatabase({ path: sqlitePath(config.DATABASE_URL), synchronous: config.SQLITE_SYNCHRONOUS });
  const worker = createAlertWorker({ db, config, log, keepAlive: true });
  worker.start();
  log.info({ worker: worker.id, pollMs: config.ALERT_POLL_MS }, 'alert worker running');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'alert worker stopping');
    worker.stop().then(
      () => {
        closeDatabase(db);
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'alert worker stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`honeytrail worker: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
