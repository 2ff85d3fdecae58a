import { and, asc, count, desc, eq, inArray, isNull, lt, ne, type SQL } from 'drizzle-orm';
import type { Db } from '../client.ts';
import {
  alerts,
  auditLog,
  hits,
  incidents,
  settings,
  tokens,
  type AlertRow,
  type HitRow,
  type IncidentRow,
  type IncidentStatus,
  type Severity,
} from '../schema.ts';

/**
 * Read models for the admin UI pages (and the few status updates they make). Kept apart from
 * the alert pipeline's own queries so the two can evolve independently.
 */

/** A hit with the token it belongs to, for tables that list hits of many tokens. */
export interface HitWithToken {
  hit: HitRow;
  token: { id: string; name: string; kind: string; location: string | null; plantedHost: string | null };
}

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

/** One incident by id. */
export function getIncident(db: Db, id: number): IncidentRow | undefined {
  return db.select().from(incidents).where(eq(incidents.id, id)).get();
}

/** Acknowledge, close or reopen; false when there is no such incident. */
export function setIncidentStatus(db: Db, id: number, status: IncidentStatus): boolean {
  return db.update(incidents).set({ status, updatedAt: new Date() }).where(eq(incidents.id, id)).run().changes > 0;
}

/** The trail of an incident: its hits oldest first, each with its token (deleted ones too). */
export function incidentTrail(db: Db, incidentId: number, limit = 500): HitWithToken[] {
  return db
    .select({ hit: hits, token: tokenCols })
    .from(hits)
    .innerJoin(tokens, eq(tokens.id, hits.tokenId))
    .where(eq(hits.incidentId, incidentId))
    .orderBy(asc(hits.at), asc(hits.id))
    .limit(limit)
    .all();
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

/** Instance state in the `settings` table (first-run setup token, …). */
export function getSetting<T>(db: Db, key: string): T | undefined {
  return db.select().from(settings).where(eq(settings.key, key)).get()?.value as T | undefined;
}

/** Insert or replace one instance setting. */
export function putSetting(db: Db, key: string, value: unknown): void {
  db.insert(settings)
    .values({ key, value, updatedAt: new Date() })
    .onConflictDoUpdate({ target: settings.key, set: { value, updatedAt: new Date() } })
    .run();
}

/** Remove one instance setting. */
export function deleteSetting(db: Db, key: string): void {
  db.delete(settings).where(eq(settings.key, key)).run();
}
