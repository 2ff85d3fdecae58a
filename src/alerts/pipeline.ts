import type { Config } from '../config.ts';
import type { Db } from '../db/client.ts';
import { createClassifier, type HitClassifier } from '../hits/classify.ts';
import type { HitPrepare, HitStep } from '../hits/record-hit.ts';
import { createTrail } from '../hits/trail.ts';
import type { Logger } from '../logger.ts';
import { createEnqueuer } from './outbox.ts';
import { createAlertWorker, type AlertWorker } from './worker.ts';

export interface AlertPipeline {
  /** Classifier the hit recorder runs before each insert. */
  classify: HitClassifier;
  /** Run before each hit's insert: the trail (incident) update, which also sets the hit's incident. */
  prepare: HitPrepare[];
  /** Run after each hit's insert, same transaction: outbox rows for alerting hits. */
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
  const enqueue = createEnqueuer(db, config, log, () => worker?.kick());
  const trail = createTrail({ db, config, onAlertable: (o) => void enqueue(o) });
  return { classify: createClassifier(db, config), prepare: [trail.prepare], steps: [trail.step], worker };
}
