import { createAlertWorker } from './alerts/worker.ts';
import { startFeedScheduler } from './intel/feeds.ts';
import { bootConfig, exitOnSignal, failStart } from './boot.ts';
import { createLogger } from './logger.ts';
import { openConfiguredDatabase } from './db/open.ts';

/**
 * `npm run worker`: the alert worker (and the threat-intel feed scheduler) on its own, for deployments that run listeners with
 * ALERT_WORKER_ENABLED=false. Several workers may share one database: claims are
 * compare-and-swap with a lease, so each alert goes out once.
 */
async function main(): Promise<void> {
  const config = bootConfig('honeytrail worker');
  const log = createLogger(config.LOG_LEVEL);
  const { db, close } = await openConfiguredDatabase(config);
  const worker = createAlertWorker({ db, config, log, keepAlive: true });
  worker.start();
  const feeds = startFeedScheduler({ db, config, log });
  log.info({ worker: worker.id, pollMs: config.ALERT_POLL_MS }, 'alert worker running');
  exitOnSignal(log, 'alert worker', async () => {
    await worker.stop();
    await feeds.stop();
    await close();
  });
}

main().catch(failStart('honeytrail worker'));
