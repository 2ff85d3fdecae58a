import type { AlertActions } from './admin/alert-actions.ts';
import type { Config } from './config.ts';
import type { AnyDb } from './db/store.ts';
import type { StorageBudget } from './hits/budget.ts';
import type { HitRecorder } from './hits/record-hit.ts';
import type { Logger } from './logger.ts';

/** What the apps and listeners are built from; tests build their own. */
export interface AppDeps {
  config: Config;
  db: AnyDb;
  log: Logger;
  recorder: HitRecorder;
  /** The storage budget and what it turned away (metrics, the public listener's rate limit); absent in tests that build their own deps. */
  budget?: StorageBudget;
  /** Test sends for the settings page, provided by the alert pipeline when it is installed. */
  alerts?: AlertActions;
  /** The listeners this process runs and their bound addresses (purple-team drills send to them); absent before they start. */
  listening?: () => readonly { name: string; address: { host: string; port: number } }[];
}
