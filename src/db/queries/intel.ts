import { count, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { intelIndicators, type IntelRow, type IntelType } from '../schema.ts';

export interface NewIndicator {
  type: IntelType;
  value: string;
  label: string;
  source?: string | null;
}

/** Insert indicators in one transaction; duplicates (same type, value, label) are skipped. Returns how many were new. */
export function importIndicators(db: Db, list: readonly NewIndicator[]): number {
  return db.$client.transaction(() => {
    let added = 0;
    for (const i of list) added += db.insert(intelIndicators).values(i).onConflictDoNothing().run().changes;
    return added;
  })();
}

export function allIndicators(db: Db): IntelRow[] {
  return db.select().from(intelIndicators).all();
}

/** Indicator counts per label and type, for the API and UI. */
export function intelSummary(db: Db): { label: string; type: string; count: number }[] {
  return db
    .select({ label: intelIndicators.label, type: intelIndicators.type, count: count() })
    .from(intelIndicators)
    .groupBy(intelIndicators.label, intelIndicators.type)
    .orderBy(intelIndicators.label)
    .all();
}

export function deleteIndicatorsByLabel(db: Db, label: string): number {
  return db.delete(intelIndicators).where(eq(intelIndicators.label, label)).run().changes;
}

/** A cheap change marker so processes can reload their in-memory index when intel changes. */
export function intelVersion(db: Db): string {
  const row = db.select({ n: count(), max: sql<number>`coalesce(max(${intelIndicators.id}), 0)` }).from(intelIndicators).get();
  return `${row?.n ?? 0}:${row?.max ?? 0}`;
}
