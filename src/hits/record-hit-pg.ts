import { getTableColumns } from 'drizzle-orm';
import type { PgDb } from '../db/pg.ts';
import { q, raw, run, together, type Fragment } from '../db/pg-sql.ts';
import { hits } from '../db/schema-pg.ts';
import { unstoredHit } from '../db/queries/hits.ts';
import type { HitRow, NewHitRow } from '../db/schema.ts';
import type { Token } from '../tokens/kind.ts';
import type { PgCorrelator } from './correlate-pg.ts';
import { catchUpDelay, logHit, perTokenCounts, toRow, type HitEvent, type HitRecorder, type RecorderOptions, type RecorderStats } from './record-hit.ts';
import type { Recorded } from './intrusions.ts';

export interface PgHitRecorder extends HitRecorder {
  /** Resolves when everything queued so far is stored and correlated. */
  idle(): Promise<void>;
  /** Store what is queued, wait for its correlation, and stop retrying. */
  close(): Promise<void>;
}

/**
 * The hit recorder on PostgreSQL: group commit as on SQLite (hits queued while a commit is
 * in flight go into the next one, so batches grow with load). Record first, correlate right
 * after: the committed hits go to the correlator in their own transaction
 * (src/hits/correlate-pg.ts), one batch at a time per process, while the next batch is
 * written; each caller is answered once its hit is stored and on its trail. A failed
 * correlation is retried from the database and never fails a hit (its caller is answered).
 */
export function createPgHitRecorder(deps: RecorderOptions & { db: PgDb; correlator?: PgCorrelator }): PgHitRecorder {
  const { db, log, correlator } = deps;
  let queue: { event: HitEvent; resolve: (h: HitRow) => void; reject: (e: unknown) => void }[] = [];
  let flushing: Promise<void> | null = null;
  let correlating: Promise<void> = Promise.resolve();
  let retry: NodeJS.Timeout | null = null;
  let closed = false;
  const stats: RecorderStats = { batches: 0, hits: 0, failed: 0, lastFailureAt: null, lastFailure: null };

  /** Insert new rows and fold repeats, one statement; returns a stored row per event. */
  async function persist(events: readonly HitEvent[]): Promise<{ hit: HitRow; repeat: boolean }[]> {
    const rows = events.map((e) => withoutNul(toRow(e)));
    await deps.classify?.warm?.(rows);
    for (const p of deps.prepare ?? []) await p.warm?.();
    rows.forEach((row, i) => {
      const event = events[i] as HitEvent;
      if (deps.classify) row.classification = deps.classify(row, event.token);
      for (const p of deps.prepare ?? []) p(row, event.token);
    });
    const out: { hit: HitRow; repeat: boolean }[] = new Array(rows.length);
    // A new row is known to the flood gate at once (as a placeholder filled in after the
    // insert), so identical hits later in the same batch fold into it, as on SQLite.
    const fresh: { i: number; row: NewHitRow; hit: HitRow }[] = [];
    const repeats = new Set<HitRow>();
    rows.forEach((row, i) => {
      const decision = deps.flood?.decide(row) ?? { store: true };
      if ('fold' in decision) {
        const into = decision.fold;
        into.repeatCount += 1;
        into.lastAt = row.at;
        repeats.add(into);
        out[i] = { hit: into, repeat: true };
        return;
      }
      if ('drop' in decision) {
        out[i] = { hit: unstoredHit(row), repeat: false };
        return;
      }
      const hit = { repeatCount: 1, lastAt: null } as unknown as HitRow;
      deps.flood?.stored(row, hit);
      fresh.push({ i, row, hit });
      out[i] = { hit, repeat: false };
    });
    // A new row goes in with the repeats folded into it in this batch; rows of earlier batches are
    // updated. All of it is one statement (its own transaction): the insert, the repeats and the
    // tokens' counts, one round trip and one commit instead of four round trips.
    const placeholders = new Set(fresh.map((f) => f.hit));
    for (const f of fresh) {
      if (f.hit.lastAt) Object.assign(f.row, { repeatCount: f.hit.repeatCount, lastAt: new Date(Math.max(f.row.at?.getTime() ?? 0, f.hit.lastAt.getTime())) });
    }
    const earlier = [...repeats].filter((hit) => !placeholders.has(hit));
    const list = [...perTokenCounts(rows)];
    const parts: Fragment[] = [];
    if (earlier.length) {
      parts.push(q`update hits set repeat_count = x.n, last_at = greatest(coalesce(hits.last_at, hits.at), x.la)
        from unnest(${earlier.map((h) => h.id)}::bigint[], ${earlier.map((h) => h.repeatCount)}::bigint[], ${earlier.map((h) => (h.lastAt ?? h.at).toISOString())}::timestamptz[]) as x(id, n, la)
        where hits.id = x.id`);
    }
    parts.push(q`
      update tokens set hit_count = hit_count + x.n, last_hit_at = greatest(coalesce(last_hit_at, x.at), x.at)
      from unnest(${list.map(([id]) => id)}::text[], ${list.map(([, t]) => t.n)}::int[], ${list.map(([, t]) => t.at.toISOString())}::timestamptz[]) as x(id, n, at)
      where tokens.id = x.id`);
    const inserted = await insertHits(db, fresh.map((f) => f.row), parts);
    fresh.forEach((f, k) => Object.assign(f.hit, inserted[k], { repeatCount: f.hit.repeatCount, lastAt: f.hit.lastAt }));
    return out;
  }

  // Committed hits waiting for the correlator, with the callers to answer once they are on
  // their trails. Everything committed while a correlation runs goes into the next one, so
  // under load one correlation (one lock, one snapshot, one commit) serves several commits.
  let waiting: { recorded: Recorded[]; answers: (() => void)[] } | null = null;

  /** Queue committed hits for correlation behind the ones before them; their callers are answered when it is done (or failed and scheduled for a catch-up). */
  function correlateInTurn(recorded: Recorded[], answers: (() => void)[]): void {
    if (!correlator || recorded.length === 0) {
      answers.forEach((answer) => answer());
      return;
    }
    if (waiting) {
      waiting.recorded.push(...recorded);
      waiting.answers.push(...answers);
      return;
    }
    const turn = (waiting = { recorded: [...recorded], answers: [...answers] });
    correlating = correlating.then(async () => {
      if (waiting === turn) waiting = null;
      try {
        await correlator.correlate(turn.recorded);
      } catch (err) {
        log.error({ err, hits: turn.recorded.length }, 'correlating hits failed; they are stored and will be correlated on retry');
        scheduleCatchUp(0);
      }
      turn.answers.forEach((answer) => answer());
    });
  }

  function scheduleCatchUp(attempt: number): void {
    if (retry || closed) return;
    retry = setTimeout(() => {
      retry = null;
      catchUp().catch((err: unknown) => {
        log.error({ err }, 'correlating stored hits failed again; retrying');
        scheduleCatchUp(attempt + 1);
      });
    }, catchUpDelay(attempt));
    retry.unref();
  }

  async function catchUp(): Promise<number> {
    if (!correlator) return 0;
    let total = 0;
    // Behind any correlation in flight, so hits are put on trails in order.
    await correlating;
    for (let n = await correlator.catchUpSome(); n > 0; n = await correlator.catchUpSome()) total += n;
    if (total) log.warn({ hits: total }, 'correlated stored hits that had no trail yet');
    return total;
  }

  async function flush(): Promise<void> {
    while (queue.length) {
      const batch = queue;
      queue = [];
      stats.batches++;
      let stored: { hit: HitRow; repeat: boolean }[] | undefined;
      try {
        stored = await persist(batch.map((p) => p.event));
      } catch (err) {
        deps.flood?.reset();
        log.warn({ err, size: batch.length }, 'hit batch failed; retrying hits one by one');
      }
      const recorded: Recorded[] = [];
      const answered: (() => void)[] = [];
      for (const [i, pending] of batch.entries()) {
        try {
          const one = stored?.[i] ?? (await persist([pending.event]))[0];
          if (!one) throw new Error('hit was not stored');
          const { hit } = one;
          stats.hits++;
          // A hit over the storage budget (id 0) is counted on its token but is no row an intrusion can hold.
          if (hit.id !== 0) recorded.push({ hit, token: pending.event.token as Token, repeat: one.repeat });
          logHit(log, hit, pending.event.token);
          answered.push(() => pending.resolve(hit));
        } catch (err) {
          stats.failed++;
          stats.lastFailureAt = Date.now();
          stats.lastFailure = err instanceof Error ? err.message : String(err);
          log.error({ err, tokenId: pending.event.token.id }, 'hit could not be stored');
          pending.reject(err);
          // The database failed: once it is back, correlate whatever it holds without a trail
          // (correlations commit asynchronously, so a database crash can lose the last few).
          scheduleCatchUp(0);
        }
      }
      // Callers are answered once their hits are on their trails too, as on SQLite (an API read
      // right after sees the incident); the next batch is written meanwhile.
      correlateInTurn(recorded, answered);
    }
  }

  function kick(): void {
    flushing ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(flush)
      .finally(() => {
        flushing = null;
        if (queue.length) kick();
      });
  }

  return {
    record(event) {
      return new Promise<HitRow>((resolve, reject) => {
        queue.push({ event, resolve, reject });
        kick();
      });
    },
    async idle() {
      while (flushing || queue.length) await (flushing ?? Promise.resolve());
      await correlating;
    },
    catchUp,
    async close() {
      await this.idle();
      closed = true;
      if (retry) clearTimeout(retry);
    },
    stats,
  };
}

/**
 * PostgreSQL text and jsonb refuse U+0000, which an attacker can put in a path, a header or a
 * DNS label: it is stored as U+FFFD (SQLite keeps it), so such a hit is recorded, not lost.
 */
function withoutNul<T>(v: T): T {
  if (typeof v === 'string') return (v.includes('\u0000') ? v.replaceAll('\u0000', '\uFFFD') : v) as T;
  if (Array.isArray(v)) return v.map(withoutNul) as T;
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [withoutNul(k), withoutNul(x)])) as T;
  }
  return v;
}

/**
 * The hits table's columns other than the id, as the batch insert sends them: a batch is one
 * jsonb parameter unpacked by the server (`jsonb_to_recordset`), not a VALUES list of thirty
 * parameters per row, whose building cost the recording process more CPU than anything else
 * it did per hit (a quarter of its time in the pg bench's profile).
 */
const HIT_COLUMNS = Object.entries(getTableColumns(hits))
  .filter(([key]) => key !== 'id')
  .map(([key, column]) => ({ key, column, name: column.name, type: column.getSQLType(), json: column.getSQLType() === 'jsonb' }));
/** What the insert puts in a column a row leaves out (the table's literal defaults). */
const DEFAULTS = new Map(HIT_COLUMNS.flatMap((c) => (c.column.hasDefault && c.column.default !== undefined ? [[c.key, c.column.default] as const] : [])));
const INSERT_HITS = (() => {
  const names = HIT_COLUMNS.map((c) => c.name);
  // Columns with a database default take it when a row leaves them out, as an insert of the row would.
  const value = (c: (typeof HIT_COLUMNS)[number]) => (DEFAULTS.has(c.key) ? `coalesce(x.${c.name}, ${sqlLiteral(DEFAULTS.get(c.key))})` : `x.${c.name}`);
  // The batch is the one parameter between the two halves.
  return [
    `insert into hits (${names.join(', ')})
    select ${HIT_COLUMNS.map(value).join(', ')}
    from rows from (jsonb_to_recordset(`,
    `::jsonb) as (${HIT_COLUMNS.map((c) => `${c.name} ${c.type}`).join(', ')})) with ordinality as x(${names.join(', ')}, n)
    order by n
    returning id`,
  ] as const;
})();

function sqlLiteral(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `'${v.replaceAll("'", "''")}'`;
  throw new Error(`no literal for a default of ${typeof v}`);
}

/**
 * Insert rows in their order (ids ascending with it), with `also` (other writes of the batch) in
 * the same statement as data-modifying `WITH` parts, so that all of it commits at once. Only the
 * ids come back: a stored row is the row sent with its id and the defaults the insert applied
 * (reading every column back, JSON included, and parsing it again was about 8% of a node's CPU).
 */
async function insertHits(db: PgDb, rows: readonly NewHitRow[], also: readonly Fragment[]): Promise<HitRow[]> {
  const payload = rows.map((row) => {
    const o: Record<string, unknown> = {};
    for (const c of HIT_COLUMNS) {
      const v = (row as Record<string, unknown>)[c.key];
      if (v === undefined || v === null) continue;
      o[c.name] = c.json ? v : v instanceof Date ? v.toISOString() : v;
    }
    return o;
  });
  const [head, tail] = INSERT_HITS;
  const stored = rows.length
    ? await run<{ id: string }>(db.$client, together([...also, q`${raw(head)}${JSON.stringify(payload)}${raw(tail)}`], true))
    : (await run(db.$client, together(also)), []);
  const ids = stored.map((r) => Number(r.id)).sort((a, b) => a - b);
  return rows.map((row, k) => {
    const hit: Record<string, unknown> = { id: ids[k] };
    for (const c of HIT_COLUMNS) hit[c.key] = (row as Record<string, unknown>)[c.key] ?? DEFAULTS.get(c.key) ?? null;
    return hit as HitRow;
  });
}
