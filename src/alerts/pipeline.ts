import type { Config } from '../config.ts';
import type { Db } from '../db/client.ts';
import { createClassifier, type HitClassifier } from '../hits/classify.ts';
import { createTrail, type Correlator } from '../hits/trail.ts';
import type { Logger } from '../logger.ts';
import { outboxStatements } from '../db/queries/alerts.ts';
import { createEnqueuer } from './outbox.ts';
import { createAlertWorker, type AlertWorker } from './worker.ts';

export interface AlertPipeline {
  /** Classifier the hit recorder runs before each insert. */
  classify: HitClassifier;
  /** Run right after each commit of hits: the trail (incidents) and the outbox rows of alerting hits. */
  correlator: Correlator;
  /** The in-process worker, or null when ALERT_WORKER_ENABLED=false (a separate `npm run worker` delivers). */
  worker: AlertWorker | null;
}

/**
 * Wire the alert pipeline for one database: classify in the hit's transaction; trail and
 * outbox in the correlation transaction right after it; and (unless disabled) an in-process
 * worker that is woken after each commit that queued alerts.
 */
export function createAlertPipeline(deps: { db: Db; config: Config; log: Logger }): AlertPipeline {
  const { db, config, log } = deps;
  const worker = config.ALERT_WORKER_ENABLED ? createAlertWorker({ db, config, log }) : null;
  const enqueue = createEnqueuer(outboxStatements(db), config, log, () => worker?.kick());
  const correlator = createTrail({ db, config, log, onAlertable: (o) => void enqueue(o) });
  return { classify: createClassifier(db, config), correlator, worker };
}
