import { and, asc, count, eq, gte, isNotNull, max, sql, sum } from 'drizzle-orm';
import type { ExpectedRuleInput } from '../../hits/expected.ts';
import type { Db } from '../client.ts';
import { expectedRules, type ExpectedRuleRow } from '../schema.ts';
import { insertedRow, isPg, shared, type AnyDb } from '../store.ts';
import { changed } from '../changes.ts';

/** Expected-activity rules (src/hits/expected.ts): storage, and what each absorbed lately. */

export type ExpectedRuleValues = ExpectedRuleInput & { managedBy?: 'api' | 'file'; createdBy?: string | null };

const DAY = 24 * 3600 * 1000;

function values(r: Partial<ExpectedRuleValues>) {
  const out: Record<string, unknown> = {};
  for (const k of ['name', 'enabled', 'sources', 'hosts', 'users', 'decoys', 'schedule', 'evidence', 'tag', 'note', 'managedBy', 'createdBy'] as const) {
    if (r[k] !== undefined) out[k] = r[k];
  }
  return out as Partial<typeof expectedRules.$inferInsert>;
}

export async function insertExpectedRule(db: AnyDb, r: ExpectedRuleValues): Promise<ExpectedRuleRow> {
  const { db: q, t } = shared(db);
  const now = new Date();
  const row = insertedRow(await q.insert(t.expectedRules).values({ ...values(r), createdAt: now, updatedAt: now } as typeof expectedRules.$inferInsert).returning());
  changed('expected');
  return row;
}

export async function updateExpectedRule(db: AnyDb, id: number, patch: Partial<ExpectedRuleValues>): Promise<ExpectedRuleRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.update(t.expectedRules).set({ ...values(patch), updatedAt: new Date() }).where(eq(t.expectedRules.id, id)).returning();
  changed('expected');
  return row;
}

export async function deleteExpectedRule(db: AnyDb, id: number): Promise<boolean> {
  const { db: q, t } = shared(db);
  const gone = await q.delete(t.expectedRules).where(eq(t.expectedRules.id, id)).returning({ id: t.expectedRules.id });
  changed('expected');
  return gone.length > 0;
}

export async function getExpectedRule(db: AnyDb, id: number): Promise<ExpectedRuleRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.expectedRules).where(eq(t.expectedRules.id, id)).limit(1);
  return row;
}

export async function getExpectedRuleByName(db: AnyDb, name: string): Promise<ExpectedRuleRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.expectedRules).where(eq(t.expectedRules.name, name)).limit(1);
  return row;
}

/** Every rule, oldest first (there are tens, not thousands). */
export async function allExpectedRules(db: AnyDb): Promise<ExpectedRuleRow[]> {
  const { db: q, t } = shared(db);
  return q.select().from(t.expectedRules).orderBy(asc(t.expectedRules.id));
}

/** Changes when any rule is added, changed or removed. */
export async function expectedVersion(db: AnyDb): Promise<string> {
  const { db: q, t } = shared(db);
  const [row] = await q
    .select({ n: count(), id: sql<number>`coalesce(max(${t.expectedRules.id}), 0)`.mapWith(Number), at: max(t.expectedRules.updatedAt) })
    .from(t.expectedRules);
  return `${row?.n ?? 0}:${row?.id ?? 0}:${row?.at ? new Date(row.at).getTime() : 0}`;
}

/** The matcher's reads on SQLite, from inside the hits' transaction (hot path). */
export function expectedStatements(db: Db) {
  const version = db
    .select({ n: count(), id: sql<number>`coalesce(max(${expectedRules.id}), 0)`, at: sql<number>`coalesce(max(${expectedRules.updatedAt}), 0)` })
    .from(expectedRules)
    .prepare();
  const all = db.select().from(expectedRules).orderBy(asc(expectedRules.id)).prepare();
  return {
    version(): string {
      const row = version.get();
      return `${row?.n ?? 0}:${row?.id ?? 0}:${row?.at ?? 0}`;
    },
    all: (): ExpectedRuleRow[] => all.all(),
  };
}

export interface Absorbed {
  /** Hits (counting folded repeats) the rule absorbed in the last 7 and 30 days. */
  last7d: number;
  last30d: number;
  lastAt: Date | null;
}

/** What each rule absorbed in the last 30 days (from the partial index on expected hits). */
export async function absorbedByRule(db: AnyDb, now = Date.now()): Promise<Map<number, Absorbed>> {
  const { db: q, t } = shared(db);
  const since30 = new Date(now - 30 * DAY);
  const since7 = new Date(now - 7 * DAY);
  const rows = await q
    .select({
      id: t.hits.expectedRuleId,
      n30: sum(t.hits.repeatCount).mapWith(Number),
      n7: sql<number>`sum(case when ${t.hits.at} >= ${isPg(db) ? since7.toISOString() : since7.getTime()} then ${t.hits.repeatCount} else 0 end)`.mapWith(Number),
      lastAt: max(t.hits.at),
    })
    .from(t.hits)
    .where(and(isNotNull(t.hits.expectedRuleId), gte(t.hits.at, since30)))
    .groupBy(t.hits.expectedRuleId);
  const out = new Map<number, Absorbed>();
  for (const r of rows) if (r.id !== null) out.set(r.id, { last7d: r.n7 ?? 0, last30d: r.n30 ?? 0, lastAt: r.lastAt ? new Date(r.lastAt) : null });
  return out;
}
