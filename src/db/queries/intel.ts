import { asc, count, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { intelIndicators, type IntelPurpose, type IntelRow, type IntelType } from '../schema.ts';
import { atomically, shared, textAsc, type AnyDb } from '../store.ts';
import { changed } from '../changes.ts';

export interface NewIndicator {
  type: IntelType;
  value: string;
  label: string;
  source?: string | null;
  /** @default 'threat' */
  purpose?: IntelPurpose;
}

/** Rows per INSERT of an import: far below either dialect's limit on bound parameters. */
const IMPORT_CHUNK = 1000;

/** Insert indicators in one transaction; duplicates (same type, value, label) are skipped. Returns how many were new. */
export async function importIndicators(db: AnyDb, list: readonly NewIndicator[]): Promise<number> {
  const chunks = Array.from({ length: Math.ceil(list.length / IMPORT_CHUNK) }, (_, i) => list.slice(i * IMPORT_CHUNK, (i + 1) * IMPORT_CHUNK));
  const counts = await atomically(db, ({ db: q, t }) => chunks.map((chunk) => q.insert(t.intelIndicators).values(chunk).onConflictDoNothing()));
  changed('intel');
  return counts.reduce((a, b) => a + b, 0);
}

/** Every indicator, in import order. */
export async function allIndicators(db: AnyDb): Promise<IntelRow[]> {
  const { db: q, t } = shared(db);
  return q.select().from(t.intelIndicators).orderBy(asc(t.intelIndicators.id));
}

/** Indicator counts per label and type, for the API and UI. */
export async function intelSummary(db: AnyDb): Promise<{ label: string; type: string; purpose: IntelPurpose; count: number }[]> {
  const { db: q, t } = shared(db);
  return q
    .select({ label: t.intelIndicators.label, type: t.intelIndicators.type, purpose: t.intelIndicators.purpose, count: count() })
    .from(t.intelIndicators)
    .groupBy(t.intelIndicators.label, t.intelIndicators.type, t.intelIndicators.purpose)
    .orderBy(textAsc(db, t.intelIndicators.label), textAsc(db, t.intelIndicators.type));
}

export async function deleteIndicatorsByLabel(db: AnyDb, label: string): Promise<number> {
  const { db: q, t } = shared(db);
  const gone = await q.delete(t.intelIndicators).where(eq(t.intelIndicators.label, label)).returning({ id: t.intelIndicators.id });
  changed('intel');
  return gone.length;
}

/** A cheap change marker so processes can reload their in-memory index when intel changes. */
export async function intelVersion(db: AnyDb): Promise<string> {
  const { db: q, t } = shared(db);
  const [row] = await q.select({ n: count(), max: sql<number>`coalesce(max(${t.intelIndicators.id}), 0)`.mapWith(Number) }).from(t.intelIndicators);
  return `${row?.n ?? 0}:${row?.max ?? 0}`;
}

/**
 * The matcher's reads: it checks the version at most once a second from inside the hits'
 * transaction (hot path). SQLite-only (synchronous) until its PostgreSQL version lands.
 */
export function intelStatements(db: Db) {
  const version = db.select({ n: count(), max: sql<number>`coalesce(max(${intelIndicators.id}), 0)` }).from(intelIndicators).prepare();
  const all = db.select().from(intelIndicators).orderBy(asc(intelIndicators.id)).prepare();
  return {
    version(): string {
      const row = version.get();
      return `${row?.n ?? 0}:${row?.max ?? 0}`;
    },
    all: (): IntelRow[] => all.all(),
  };
}
