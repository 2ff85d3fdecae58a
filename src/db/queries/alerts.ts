import { and, asc, desc, eq, inArray, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { alerts, type AlertRow, type AlertStatus } from '../schema.ts';
import { type AnyDb, insertedRow, isPg, shared } from '../store.ts';

/**
 * The outbox. Rows are written in the correlation transaction (src/hits/paging.ts), claimed by
 * a worker with one compare-and-swap UPDATE (`claimDue`), and finished only by the claimant.
 */

/**
 * Claim up to `limit` due rows for `workerId` in one statement: pending/failed rows whose time
 * has come, and `sending` rows whose lease expired (a worker died mid-delivery). SQLite runs
 * the UPDATE atomically, so two workers can never claim the same row.
 * SQLite-only (the worker's claim loop) until its PostgreSQL version (FOR UPDATE SKIP LOCKED) lands.
 */
export function claimDue(db: Db, workerId: string, now: number, leaseMs: number, limit: number): AlertRow[] {
  const ids = db.$client
    .prepare<[string, number, number, number], { id: number }>(
      `update alerts set status = 'sending', claimed_by = ?, claimed_until = ?, attempts = attempts + 1
       where id in (select id from alerts
                    where kind != 'test' and ((status in ('pending', 'failed') and next_attempt_at <= ?) or (status = 'sending' and claimed_until < ?))
                    order by next_attempt_at, id limit ${Math.max(1, Math.floor(limit))})
       returning id`,
    )
    .all(workerId, now + leaseMs, now, now)
    .map((r) => r.id);
  if (ids.length === 0) return [];
  return db.select().from(alerts).where(and(inArray(alerts.id, ids), eq(alerts.claimedBy, workerId))).orderBy(asc(alerts.id)).all();
}

/** Record a delivery result; only the worker holding the claim may (returns false otherwise). */
export async function finishAlert(
  db: AnyDb,
  id: number,
  workerId: string,
  result: { status: 'sent' | 'failed' | 'dead'; error?: string | null; nextAttemptAt?: number; sentAt?: number; result?: { ok: boolean; status?: string; error?: string } },
): Promise<boolean> {
  const { db: q, t } = shared(db);
  // The delivery result is kept on the row: `payload.lastResult` = { ok, status, error, at }.
  const lastResult = result.result ? JSON.stringify({ ...result.result, at: new Date().toISOString() }) : undefined;
  const payload =
    lastResult === undefined
      ? undefined
      : isPg(db)
        ? sql`jsonb_set(${t.alerts.payload}, '{lastResult}', ${lastResult}::jsonb)`
        : sql`json_set(${t.alerts.payload}, '$.lastResult', json(${lastResult}))`;
  const done = await q
    .update(t.alerts)
    .set({
      status: result.status,
      lastError: result.error ?? null,
      claimedBy: null,
      claimedUntil: null,
      ...(result.nextAttemptAt !== undefined ? { nextAttemptAt: new Date(result.nextAttemptAt) } : {}),
      ...(result.sentAt !== undefined ? { sentAt: new Date(result.sentAt) } : {}),
      ...(payload ? { payload } : {}),
    })
    .where(and(eq(t.alerts.id, id), eq(t.alerts.claimedBy, workerId), eq(t.alerts.status, 'sending')))
    .returning({ id: t.alerts.id });
  return done.length > 0;
}

/** Insert a row that is already delivered or failed (drill messages are sent directly and never retried). */
export async function insertFinishedAlert(
  db: AnyDb,
  row: { channel: 'email' | 'webhook'; target: string; key: string; ok: boolean; error?: string | null; payload: Record<string, unknown> },
): Promise<AlertRow> {
  const { db: q, t } = shared(db);
  const now = new Date();
  return insertedRow(
    await q
      .insert(t.alerts)
      .values({
        channel: row.channel,
        target: row.target,
        kind: 'test',
        status: row.ok ? 'sent' : 'failed',
        attempts: 1,
        nextAttemptAt: now,
        sentAt: row.ok ? now : null,
        lastError: row.error ?? null,
        idempotencyKey: row.key,
        payload: row.payload,
      })
      .returning(),
  );
}

export interface AlertFilter {
  status?: AlertStatus;
  incidentId?: number;
  beforeId?: number;
  limit: number;
}

export async function listAlerts(db: AnyDb, f: AlertFilter): Promise<AlertRow[]> {
  const { db: q, t } = shared(db);
  const conds: SQL[] = [];
  if (f.status) conds.push(eq(t.alerts.status, f.status));
  if (f.incidentId !== undefined) conds.push(eq(t.alerts.incidentId, f.incidentId));
  if (f.beforeId !== undefined) conds.push(lt(t.alerts.id, f.beforeId));
  return q.select().from(t.alerts).where(conds.length ? and(...conds) : undefined).orderBy(desc(t.alerts.id)).limit(f.limit);
}

export async function getAlert(db: AnyDb, id: number): Promise<AlertRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.alerts).where(eq(t.alerts.id, id)).limit(1);
  return row;
}

/** The first outbox row of a thread for one target: its Message-ID anchors the thread's mails (In-Reply-To, References). */
export async function threadAnchor(db: AnyDb, thread: string, channel: 'email' | 'webhook', target: string): Promise<{ id: number; idempotencyKey: string } | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q
    .select({ id: t.alerts.id, idempotencyKey: t.alerts.idempotencyKey })
    .from(t.alerts)
    .where(and(eq(t.alerts.thread, thread), eq(t.alerts.channel, channel), eq(t.alerts.target, target)))
    .orderBy(asc(t.alerts.id))
    .limit(1);
  return row;
}
