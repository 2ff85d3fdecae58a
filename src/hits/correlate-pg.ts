import type { Config } from '../config.ts';
import { apply, ReservationExhausted, snapshot } from '../db/intrusions-pg.ts';
import type { PgDb } from '../db/pg.ts';
import { q, run, transaction } from '../db/pg-sql.ts';
import { invalidateOn } from '../db/changes.ts';
import { allAssets, matchHost, matchIp } from '../db/queries/assets.ts';
import { uncorrelatedHits } from '../db/queries/incidents.ts';
import type { AssetRow } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import type { AssetLookup } from './actor.ts';
import { CATCH_UP_BATCH } from './correlate.ts';
import { batchKeys, correlateBatch, type IntrusionConfig, type Recorded } from './intrusions.ts';

/**
 * The intrusion logic on PostgreSQL, for any number of processes sharing one database, with no
 * global lock: a batch takes transaction-scoped advisory locks on the entity keys it links on
 * (sorted, so two batches never wait on each other in a circle), then row locks on the
 * intrusions those keys reach and on the outbox rows it may fold into. Batches of different
 * actors share no key and correlate at the same time on different nodes; batches that touch
 * one intrusion take turns, and the later one reads what the earlier one committed. Inside its
 * turn a batch runs the same logic as SQLite (src/hits/intrusions.ts) over a snapshot
 * (src/db/intrusions-pg.ts). A deadlock the database still finds (two merges crossing) aborts
 * one batch, which is run again.
 */

/** Seed of the advisory-lock hash of entity keys (any fixed number; the same in every process). */
const KEY_LOCK_SEED = 7_368_797_457;
/** PostgreSQL's error codes for a deadlock and a serialization failure: the batch is simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);
/** How long the asset map is reused before it is read again. */
const ASSETS_TTL_MS = 2000;

export interface PgCorrelator {
  /** Put stored hits on their intrusions and queue their alerts; hits another process already correlated are skipped. Resolves with how many this call placed. */
  correlate(batch: readonly Recorded[]): Promise<number>;
  /** Correlate one bounded batch of the oldest stored hits without an intrusion; returns how many this call placed (0: none left, or another process took them). */
  catchUpSome(): Promise<number>;
}

export function createPgCorrelator(opts: {
  db: PgDb;
  config: IntrusionConfig & Pick<Config, 'ALERT_GROUP_WINDOW'>;
  log: Logger;
  /** Called after a commit that queued alerts due now (wakes an in-process worker). */
  onQueued?: () => void;
}): PgCorrelator {
  const { db, config } = opts;
  // The asset map is a cache (read outside the batch's transaction, reused for ASSETS_TTL_MS; an
  // asset mapped in this process is read at the next batch).
  const assetMap = {
    rows: [] as AssetRow[],
    at: 0,
    invalidate() {
      this.at = 0;
    },
  };
  invalidateOn('assets', assetMap);
  const assets: AssetLookup = { ip: (ip) => (ip ? (matchIp(assetMap.rows, ip) ?? null) : null), host: (h) => (h ? (matchHost(assetMap.rows, h) ?? null) : null) };

  async function refreshAssets(): Promise<void> {
    if (Date.now() - assetMap.at < ASSETS_TTL_MS) return;
    assetMap.rows = await allAssets(db);
    assetMap.at = Date.now();
  }

  async function attempt(batch: readonly Recorded[], generous: boolean): Promise<{ wake: boolean; placed: number }> {
    await refreshAssets();
    let wake = false;
    let placed = 0;
    await transaction(db.$client, async (tx) => {
      // The hits are durable already (their own commit), so this commit need not wait for its
      // WAL flush (set for this transaction in its first statement). A crash of the database
      // server can lose only the last few hundred milliseconds of correlations; their hits are
      // left without an incident and the catch-up correlates them again. Any later synchronous
      // commit (a worker marking an alert sent) flushes this one too.
      // Another process may have put some of these hits on an intrusion already (a catch-up of
      // the same rows): the rows are locked in id order and read after any such commit.
      const ids = [...new Set(batch.map((r) => r.hit.id))].sort((a, b) => a - b);
      const stored = await run<{ id: string; incident_id: number | null }>(tx, q`
        with setting as materialized (select set_config('synchronous_commit', 'off', true))
        select h.id, h.incident_id from hits h, setting where h.id = any(${ids}::bigint[]) order by h.id for update of h`);
      const known = new Map(stored.map((r) => [Number(r.id), r.incident_id === null ? null : Number(r.incident_id)]));
      const todo = batch.filter((r) => known.has(r.hit.id) && (r.repeat ? known.get(r.hit.id) !== null : known.get(r.hit.id) === null));
      for (const r of todo) r.hit.incidentId = known.get(r.hit.id) ?? null;
      if (todo.length === 0) return;
      placed = todo.filter((r) => !r.repeat).length;
      const keys = batchKeys(todo, assets, config);
      // Whoever else links on one of these keys waits for this commit (and is waited for): no two
      // batches can open two intrusions for one machine, or read one intrusion at once.
      const lockKeys = [...keys.links].sort();
      if (lockKeys.length) {
        await run(tx, q`select pg_advisory_xact_lock(hashtextextended(k, ${KEY_LOCK_SEED})) from unnest(${lockKeys}::text[]) with ordinality as u(k, n) order by n`);
      }
      // An id per hit that may open an intrusion would be safe but wasteful; most batches open few.
      const reserve = generous ? todo.length : Math.min(todo.length, keys.links.length + 2);
      // A group page needs to know only whether ALERT_GROUP_AFTER others opened lately (paging.ts asks for that many and two more).
      const reads = await snapshot(tx, keys, Date.now(), { window: config.ALERT_GROUP_WINDOW, limit: config.ALERT_GROUP_AFTER + 2 }, reserve);
      const writes = correlateBatch(todo, reads, assets, config);
      await apply(tx, writes);
      wake = writes.wake;
    });
    return { wake, placed };
  }

  async function correlate(batch: readonly Recorded[]): Promise<number> {
    if (batch.length === 0) return 0;
    const before = batch.map((r) => r.hit.incidentId);
    let generous = false;
    for (let tries = 1; ; tries++) {
      try {
        const { wake, placed } = await attempt(batch, generous);
        if (wake) opts.onQueued?.();
        return placed;
      } catch (err) {
        batch.forEach((r, i) => (r.hit.incidentId = before[i] ?? null));
        // Too few ids reserved: once more with one per hit. A deadlock or serialization failure: again, a few times.
        if (err instanceof ReservationExhausted && !generous) generous = true;
        else if (!(RETRYABLE.has(pgCode(err) ?? '') && tries < 5)) throw err;
      }
    }
  }

  return {
    correlate,
    async catchUpSome() {
      return correlate(await uncorrelatedHits(db, CATCH_UP_BATCH));
    },
  };
}

/** The SQLSTATE of a PostgreSQL error (thrown by node-postgres, or wrapped by drizzle as `cause`). */
function pgCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as Error & { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
