import { and, asc, desc, eq, inArray, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { alerts, type AlertRow, type AlertStatus } from '../schema.ts';
import { type AnyDb, insertedRow, isPg, shared } from '../store.ts';

/**
 * The outbox. Rows are written in the hit's transaction (`outboxStatements`), claimed by a
 * worker with one compare-and-swap UPDATE (`claimDue`), and finished only by the claimant.
 */

/** What an alert row is about: a range of the incident's hits (a digest grows until claimed). */
export interface AlertPayload extends Record<string, unknown> {
  firstHitId: number;
  lastHitId: number;
  hitCount: number;
  /** When the row was meant to go out (digest spacing counts from here, not from retries). */
  scheduledAt: number;
  escalated?: boolean;
}

interface LatestRow {
  id: number;
  kind: string;
  status: AlertStatus;
  claimedBy: string | null;
  scheduledAt: number | null;
  nextAttemptAt: number;
}

/** Prepared statements the trail step uses for every alerting hit. SQLite-only (synchronous) until its PostgreSQL version lands. */
export function outboxStatements(db: Db) {
  const c = db.$client;
  const latest = c.prepare<[number, string, string], LatestRow>(
    "select id, kind, status, claimed_by as claimedBy, json_extract(payload, '$.scheduledAt') as scheduledAt, next_attempt_at as nextAttemptAt from alerts where incident_id = ? and channel = ? and target = ? order by id desc limit 1",
  );
  const insert = c.prepare(
    "insert or ignore into alerts (incident_id, channel, target, kind, status, attempts, next_attempt_at, idempotency_key, payload) values (?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
  );
  // Fold a hit into an unclaimed row (CAS on claimed_by: a claimed row is never changed).
  const append = c.prepare(
    "update alerts set payload = json_set(payload, '$.lastHitId', ?, '$.hitCount', json_extract(payload, '$.hitCount') + 1, '$.escalated', json(case when ? = 1 or json_extract(payload, '$.escalated') = 1 then 'true' else 'false' end)), next_attempt_at = min(next_attempt_at, ?) where id = ? and claimed_by is null and status in ('pending', 'failed')",
  );
  return {
    latest: (incidentId: number, channel: string, target: string) => latest.get(incidentId, channel, target),
    insert(row: { incidentId: number; channel: 'email' | 'webhook'; target: string; kind: 'first' | 'digest'; due: number; key: string; payload: AlertPayload }): boolean {
      return insert.run(row.incidentId, row.channel, row.target, row.kind, row.due, row.key, JSON.stringify(row.payload)).changes > 0;
    },
    append(id: number, hitId: number, escalated: boolean, dueBy: number): boolean {
      return append.run(hitId, escalated ? 1 : 0, dueBy, id).changes > 0;
    },
  };
}

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
