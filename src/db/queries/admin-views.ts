import { and, asc, count, desc, eq, inArray, isNull, lt, ne, type SQL } from 'drizzle-orm';
import type { Db } from '../client.ts';
import type { TrailEntry } from './incidents.ts';
import {
  alerts,
  auditLog,
  hits,
  incidents,
  tokens,
  type AlertRow,
  type HitRow,
  type IncidentRow,
  type IncidentStatus,
  type Severity,
} from '../schema.ts';

/**
 * Read models for the admin UI pages. Incidents themselves (get, trail, status) and instance
 * settings come from `incidents.ts` and `settings.ts`, shared with the API and the pipeline.
 */

/** A hit with the token it belongs to, for tables that list hits of many tokens (the trail's entry shape). */
export type HitWithToken = TrailEntry;

const tokenCols = { id: tokens.id, name: tokens.name, kind: tokens.kind, location: tokens.location, plantedHost: tokens.plantedHost };

/** Open (not closed) incidents per severity. */
export function openIncidentsBySeverity(db: Db): Record<Severity, number> {
  const out: Record<Severity, number> = { low: 0, medium: 0, high: 0, critical: 0 };
  const rows = db.select({ severity: incidents.severity, n: count() }).from(incidents).where(ne(incidents.status, 'closed')).groupBy(incidents.severity).all();
  for (const r of rows) out[r.severity] = r.n;
  return out;
}

/** Incident list filter and page. */
export interface IncidentFilter {
  /** `active` means open or acknowledged. */
  status?: IncidentStatus | 'active';
  limit: number;
  offset: number;
}

/** Incidents, most recently active first. */
export function listIncidents(db: Db, f: IncidentFilter): { items: IncidentRow[]; total: number } {
  const where =
    f.status === 'active' ? ne(incidents.status, 'closed') : f.status ? eq(incidents.status, f.status) : undefined;
  const items = db.select().from(incidents).where(where).orderBy(desc(incidents.lastAt), desc(incidents.id)).limit(f.limit).offset(f.offset).all();
  const total = db.select({ n: count() }).from(incidents).where(where).get()?.n ?? 0;
  return { items, total };
}

/** The delivery log of an incident, oldest first. */
export function incidentAlerts(db: Db, incidentId: number): AlertRow[] {
  return db.select().from(alerts).where(eq(alerts.incidentId, incidentId)).orderBy(asc(alerts.id)).all();
}

/** Newest hits across all tokens; `beforeId` pages backwards. */
export function recentHits(db: Db, limit: number, beforeId?: number): HitWithToken[] {
  return db
    .select({ hit: hits, token: tokenCols })
    .from(hits)
    .innerJoin(tokens, eq(tokens.id, hits.tokenId))
    .where(beforeId ? lt(hits.id, beforeId) : undefined)
    .orderBy(desc(hits.id))
    .limit(limit)
    .all();
}

/** Live tokens that have never fired: decoys to check are still planted where they should be. */
export function neverTriggered(db: Db, limit: number) {
  const where = and(isNull(tokens.deletedAt), eq(tokens.hitCount, 0));
  const items = db.select().from(tokens).where(where).orderBy(asc(tokens.createdAt)).limit(limit).all();
  const total = db.select({ n: count() }).from(tokens).where(where).get()?.n ?? 0;
  return { items, total };
}

/** Alerts that failed or gave up, newest first. */
export function failedAlerts(db: Db, limit: number): { items: AlertRow[]; total: number } {
  const where = inArray(alerts.status, ['failed', 'dead']);
  const items = db.select().from(alerts).where(where).orderBy(desc(alerts.id)).limit(limit).all();
  const total = db.select({ n: count() }).from(alerts).where(where).get()?.n ?? 0;
  return { items, total };
}

/** Hits of one token newest first; `beforeId` pages backwards. */
export function tokenHits(db: Db, tokenId: string, limit: number, beforeId?: number): HitRow[] {
  const conds: SQL[] = [eq(hits.tokenId, tokenId)];
  if (beforeId) conds.push(lt(hits.id, beforeId));
  return db.select().from(hits).where(and(...conds)).orderBy(desc(hits.id)).limit(limit).all();
}

/** Total audit entries, for the audit page's pager. */
export function countAudit(db: Db): number {
  return db.select({ n: count() }).from(auditLog).get()?.n ?? 0;
}
