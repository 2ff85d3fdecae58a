import type { Config } from '../config.ts';
import type { Db } from '../db/client.ts';
import { createClassifier, type HitClassifier } from '../hits/classify.ts';
import { createSqliteCorrelator, type Correlator } from '../hits/correlate.ts';
import type { Logger } from '../logger.ts';
import { createAlertWorker, type AlertWorker } from './worker.ts';

export interface AlertPipeline {
  /** Classifier the hit recorder runs before each insert. */
  classify: HitClassifier;
  /** Run right after each commit of hits: intrusions (incidents) and the outbox rows of alerting hits. */
  correlator: Correlator;
  /** The in-process worker, or null when ALERT_WORKER_ENABLED=false (a separate `npm run worker` delivers). */
  worker: AlertWorker | null;
}

/**
 * Wire the alert pipeline for one database: classify in the hit's transaction; intrusions and
 * outbox in the correlation transaction right after it; and (unless disabled) an in-process
 * worker that is woken after each commit that queued alerts due now.
 */
export function createAlertPipeline(deps: { db: Db; config: Config; log: Logger; importedScanners?: (ip: string) => string | null }): AlertPipeline {
  const { db, config, log } = deps;
  const worker = config.ALERT_WORKER_ENABLED ? createAlertWorker({ db, config, log }) : null;
  const correlator = createSqliteCorrelator({ db, config, log, onQueued: () => worker?.kick() });
  return { classify: createClassifier(db, config, deps.importedScanners), correlator, worker };
}
