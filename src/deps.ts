import type { AlertActions } from './admin/alert-actions.ts';
import type { Config } from './config.ts';
import type { AnyDb } from './db/store.ts';
import type { StorageBudget } from './hits/budget.ts';
import type { HitRecorder } from './hits/record-hit.ts';
import type { RunningListener } from './listeners/registry.ts';
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
  /** The listeners running in this process (for /healthz); absent in tests that build their own deps. */
  listeners?: () => readonly RunningListener[];
}
