import type { Db } from '../db/client.ts';
import { uncorrelatedHits } from '../db/queries/incidents.ts';
import { sqliteIntrusions } from '../db/intrusions-sqlite.ts';
import type { Logger } from '../logger.ts';
import { assetLookup } from './actor.ts';
import { correlateBatch, type IntrusionConfig, type Recorded } from './intrusions.ts';

export type { Recorded } from './intrusions.ts';

/** Hits per catch-up batch. */
export const CATCH_UP_BATCH = 500;

export interface Correlator {
  /**
   * Put stored hits on their intrusions in one transaction (a savepoint when the recorder
   * calls it inside the hits' own transaction): intrusions found, opened or merged, entities
   * and hops recorded, severity and reasons updated, `incident_id` set on each hit, outbox rows
   * written. Hits that already have an incident are skipped, so handing the same hit over twice
   * is harmless. Throws when the transaction fails; the hits then stay uncorrelated in the
   * database and `catchUp` takes them later.
   */
  correlate(batch: readonly Recorded[]): void;
  /** Correlate every stored hit that has no incident yet, oldest first, in bounded batches; resolves with how many. */
  catchUp(): Promise<number>;
  /** Correlate one bounded batch (at most CATCH_UP_BATCH) of the oldest uncorrelated hits; resolves with how many (0: none left). */
  catchUpSome(): Promise<number>;
}

/**
 * The intrusion logic on SQLite, run right after the hits' own insert ("record first, correlate
 * right after"): a hit is durable before anything else happens to it, and a failure here can
 * delay an alert but never lose a hit.
 */
export function createSqliteCorrelator(opts: { db: Db; config: IntrusionConfig; log?: Logger; onQueued?: () => void }): Correlator {
  const { db, config } = opts;
  const store = sqliteIntrusions(db);
  const assets = assetLookup(db);
  const run = db.$client.transaction((batch: readonly Recorded[]) => {
    const writes = correlateBatch(batch, store.reads(), assets, config);
    store.apply(writes);
    return writes.wake;
  });

  return {
    correlate(batch) {
      if (batch.length === 0) return;
      const before = batch.map((r) => r.hit.incidentId);
      try {
        if (run(batch)) opts.onQueued?.();
      } catch (err) {
        // The transaction rolled back: undo what this attempt wrote into the in-memory rows.
        batch.forEach((r, i) => (r.hit.incidentId = before[i] ?? null));
        throw err;
      }
    },
    async catchUpSome() {
      const batch = await uncorrelatedHits(db, CATCH_UP_BATCH);
      this.correlate(batch);
      return batch.length;
    },
    async catchUp() {
      let total = 0;
      for (let n = await this.catchUpSome(); n > 0; n = await this.catchUpSome()) total += n;
      return total;
    },
  };
}
