import { createAlertWorker } from './alerts/worker.ts';
import { bootConfig, exitOnSignal, failStart } from './boot.ts';
import { sqlitePath } from './config.ts';
import { closeDatabase, openDatabase } from './db/client.ts';
import { createLogger } from './logger.ts';

/**
 * `npm run worker`: the alert worker on its own, for deployments that run listeners with
 * ALERT_WORKER_ENABLED=false. Several workers may share one database: claims are
 * compare-and-swap with a lease, so each alert goes out once.
 */
async function main(): Promise<void> {
  const config = bootConfig('honeytrail worker');
  const log = createLogger(config.LOG_LEVEL);
  const db = openDatabase({ path: sqlitePath(config.DATABASE_URL), synchronous: config.SQLITE_SYNCHRONOUS });
  const worker = createAlertWorker({ db, config, log, keepAlive: true });
  worker.start();
  log.info({ worker: worker.id, pollMs: config.ALERT_POLL_MS }, 'alert worker running');
  exitOnSignal(log, 'alert worker', async () => {
    await worker.stop();
    closeDatabase(db);
  });
}

main().catch(failStart('honeytrail worker'));
