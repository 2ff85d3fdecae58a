import { sql } from 'drizzle-orm';
import type { PgDb } from '../db/pg.ts';
import { alerts } from '../db/schema-pg.ts';
import type { AlertRow } from '../db/schema.ts';

/**
 * Claim up to `limit` due outbox rows for `workerId` on PostgreSQL: pending/failed rows whose
 * time has come, and `sending` rows whose lease expired (a worker died mid-delivery). The
 * candidates are locked with FOR UPDATE SKIP LOCKED, so competing workers (in any process,
 * on any machine) each take different rows without waiting for one another, and a row the
 * correlator holds while folding a hit into it is passed by until it commits.
 */
export async function pgClaimDue(db: PgDb, workerId: string, now: number, leaseMs: number, limit: number): Promise<AlertRow[]> {
  const due = new Date(now);
  const rows = await db
    .update(alerts)
    .set({ status: 'sending', claimedBy: workerId, claimedUntil: new Date(now + leaseMs), attempts: sql`${alerts.attempts} + 1` })
    .where(
      sql`${alerts.id} in (
        select id from alerts
        where kind <> 'test' and ((status in ('pending', 'failed') and next_attempt_at <= ${due}) or (status = 'sending' and claimed_until < ${due}))
        order by next_attempt_at, id limit ${Math.max(1, Math.floor(limit))}
        for update skip locked)`,
    )
    .returning();
  return rows.sort((a, b) => a.id - b.id);
}
