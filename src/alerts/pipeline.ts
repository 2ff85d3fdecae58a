import type { Config } from '../config.ts';
import type { Db } from '../db/client.ts';
import { createClassifier, type HitClassifier } from '../hits/classify.ts';
import type { HitStep } from '../hits/record-hit.ts';
import { createTrailStep } from '../hits/trail.ts';
import type { Logger } from '../logger.ts';
import { createEnqueuer } from './outbox.ts';
import { createAlertWorker, type AlertWorker } from './worker.ts';

export interface AlertPipeline {
  /** Classifier the hit recorder runs before each insert. */
  classify: HitClassifier;
  /** Steps run in each hit's transaction: trail (incident) update, then outbox rows. */
  steps: HitStep[];
  /** The in-process worker, or null when ALERT_WORKER_ENABLED=false (a separate `npm run worker` delivers). */
  worker: AlertWorker | null;
}

/**
 * Wire the alert pipeline for one database: classify -> trail -> outbox in the hit's
 * transaction, and (unless disabled) an in-process worker that is woken after each commit
 * that queued alerts.
 */
export function createAlertPipeline(deps: { db: Db; config: Config; log: Logger }): AlertPipeline {
  const { db, config, log } = deps;
  const worker = config.ALERT_WORKER_ENABLED ? createAlertWorker({ db, config, log }) : null;
  const enqueue = createEnqueuer(db, config, () => worker?.kick());
  const trail = createTrailStep({ db, config, onAlertable: (o) => void enqueue(o) });
  return { classify: createClassifier(db, config), steps: [trail], worker };
}
