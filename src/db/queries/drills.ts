import { desc, eq } from 'drizzle-orm';
import { drillRuns, type DrillRunRow, type DrillStatus } from '../schema.ts';
import { insertedRow, shared, type AnyDb } from '../store.ts';

/** Purple-team drill runs (src/drills/run.ts): one row per run, its report filled in when it ends. */

export async function insertDrillRun(db: AnyDb, r: { id: string; scenario: string; createdBy: string | null; startedAt: Date }): Promise<DrillRunRow> {
  const { db: q, t } = shared(db);
  return insertedRow(await q.insert(t.drillRuns).values({ ...r, status: 'running', report: {} } as typeof drillRuns.$inferInsert).returning());
}

export async function finishDrillRun(db: AnyDb, id: string, status: DrillStatus, report: Record<string, unknown>): Promise<DrillRunRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.update(t.drillRuns).set({ status, report, finishedAt: new Date() }).where(eq(t.drillRuns.id, id)).returning();
  return row;
}

export async function getDrillRun(db: AnyDb, id: string): Promise<DrillRunRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.drillRuns).where(eq(t.drillRuns.id, id)).limit(1);
  return row;
}

/** The newest runs first. */
export async function recentDrillRuns(db: AnyDb, limit = 50): Promise<DrillRunRow[]> {
  const { db: q, t } = shared(db);
  return q.select().from(t.drillRuns).orderBy(desc(t.drillRuns.startedAt)).limit(limit);
}

export async function deleteDrillRun(db: AnyDb, id: string): Promise<boolean> {
  const { db: q, t } = shared(db);
  return (await q.delete(t.drillRuns).where(eq(t.drillRuns.id, id)).returning({ id: t.drillRuns.id })).length > 0;
}
