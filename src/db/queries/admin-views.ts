import { and, asc, count, desc, eq, inArray, isNull, lt, ne, type SQL } from 'drizzle-orm';
import type { TrailEntry } from './incidents.ts';
import type { AlertRow, HitRow, IncidentRow, IncidentStatus, Severity, TokenRow } from '../schema.ts';
import { shared, type AnyDb } from '../store.ts';

/**
 * Read models for the admin UI pages. Incidents themselves (get, trail, status) and instance
 * settings come from `incidents.ts` and `settings.ts`, shared with the API and the pipeline.
 */

/** A hit with the token it belongs to, for tables that list hits of many tokens (the trail's entry shape). */
export type HitWithToken = TrailEntry;

/** Open (not closed) incidents per severity. */
export async function openIncidentsBySeverity(db: AnyDb): Promise<Record<Severity, number>> {
  const { db: q, t } = shared(db);
  const out: Record<Severity, number> = { low: 0, medium: 0, high: 0, critical: 0 };
  const rows = await q
    .select({ severity: t.incidents.severity, n: count() })
    .from(t.incidents)
    .where(and(ne(t.incidents.status, 'closed'), isNull(t.incidents.mergedInto)))
    .groupBy(t.incidents.severity);
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
export async function listIncidents(db: AnyDb, f: IncidentFilter): Promise<{ items: IncidentRow[]; total: number }> {
  const { db: q, t } = shared(db);
  const byStatus = f.status === 'active' ? ne(t.incidents.status, 'closed') : f.status ? eq(t.incidents.status, f.status) : undefined;
  // Intrusions merged into another are shown there, not listed on their own.
  const where = and(byStatus, isNull(t.incidents.mergedInto));
  const items = await q.select().from(t.incidents).where(where).orderBy(desc(t.incidents.lastAt), desc(t.incidents.id)).limit(f.limit).offset(f.offset);
  const [total] = await q.select({ n: count() }).from(t.incidents).where(where);
  return { items, total: total?.n ?? 0 };
}

/** The delivery log of an incident, oldest first. */
export async function incidentAlerts(db: AnyDb, incidentId: number): Promise<AlertRow[]> {
  const { db: q, t } = shared(db);
  return q.select().from(t.alerts).where(eq(t.alerts.incidentId, incidentId)).orderBy(asc(t.alerts.id));
}

/** Newest hits across all tokens; `beforeId` pages backwards. */
export async function recentHits(db: AnyDb, limit: number, beforeId?: number): Promise<HitWithToken[]> {
  const { db: q, t } = shared(db);
  const tokenCols = { id: t.tokens.id, name: t.tokens.name, kind: t.tokens.kind, location: t.tokens.location, plantedHost: t.tokens.plantedHost, params: t.tokens.params };
  return q
    .select({ hit: t.hits, token: tokenCols })
    .from(t.hits)
    .innerJoin(t.tokens, eq(t.tokens.id, t.hits.tokenId))
    .where(beforeId ? lt(t.hits.id, beforeId) : undefined)
    .orderBy(desc(t.hits.id))
    .limit(limit);
}

/** Live tokens that have never fired: decoys to check are still planted where they should be. */
export async function neverTriggered(db: AnyDb, limit: number): Promise<{ items: TokenRow[]; total: number }> {
  const { db: q, t } = shared(db);
  const where = and(isNull(t.tokens.deletedAt), eq(t.tokens.hitCount, 0));
  const items = await q.select().from(t.tokens).where(where).orderBy(asc(t.tokens.createdAt)).limit(limit);
  const [total] = await q.select({ n: count() }).from(t.tokens).where(where);
  return { items, total: total?.n ?? 0 };
}

/** Alerts that failed or gave up, newest first. */
export async function failedAlerts(db: AnyDb, limit: number): Promise<{ items: AlertRow[]; total: number }> {
  const { db: q, t } = shared(db);
  const where = inArray(t.alerts.status, ['failed', 'dead']);
  const items = await q.select().from(t.alerts).where(where).orderBy(desc(t.alerts.id)).limit(limit);
  const [total] = await q.select({ n: count() }).from(t.alerts).where(where);
  return { items, total: total?.n ?? 0 };
}

/** Hits of one token newest first; `beforeId` pages backwards. */
export async function tokenHits(db: AnyDb, tokenId: string, limit: number, beforeId?: number): Promise<HitRow[]> {
  const { db: q, t } = shared(db);
  const conds: SQL[] = [eq(t.hits.tokenId, tokenId)];
  if (beforeId) conds.push(lt(t.hits.id, beforeId));
  return q.select().from(t.hits).where(and(...conds)).orderBy(desc(t.hits.id)).limit(limit);
}

/** Total audit entries, for the audit page's pager. */
export async function countAudit(db: AnyDb): Promise<number> {
  const { db: q, t } = shared(db);
  const [row] = await q.select({ n: count() }).from(t.auditLog);
  return row?.n ?? 0;
}

/** What the dashboard's first-run checklist looks at. */
export interface FirstRunFacts {
  /** A test email, webhook test or drill was delivered (or any alert was sent). */
  alertTested: boolean;
  tokens: number;
  assets: number;
  users: number;
  usersWithMfa: number;
}

/** Facts for the first-run checklist: a few counts and the last alert tests in the audit log. */
export async function firstRunFacts(db: AnyDb): Promise<FirstRunFacts> {
  const { db: q, t } = shared(db);
  const [tokens] = await q.select({ n: count() }).from(t.tokens).where(isNull(t.tokens.deletedAt));
  const [assets] = await q.select({ n: count() }).from(t.assets);
  const users = await q.select({ totp: t.users.totpEnabledAt }).from(t.users);
  const [sent] = await q.select({ n: count() }).from(t.alerts).where(eq(t.alerts.status, 'sent'));
  const tests = await q
    .select({ details: t.auditLog.details })
    .from(t.auditLog)
    .where(inArray(t.auditLog.action, ['settings.test-email', 'settings.test-webhook', 'settings.drill', 'alert.drill']))
    .orderBy(desc(t.auditLog.id))
    .limit(50);
  const delivered = tests.some((e) => e.details?.ok === true || (typeof e.details?.ok === 'number' && e.details.ok > 0));
  return {
    alertTested: delivered || (sent?.n ?? 0) > 0,
    tokens: tokens?.n ?? 0,
    assets: assets?.n ?? 0,
    users: users.length,
    usersWithMfa: users.filter((u) => u.totp !== null).length,
  };
}
