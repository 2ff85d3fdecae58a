import { and, asc, count, desc, eq, gt, gte, inArray, isNotNull, isNull, lt, lte, min, or, type SQL } from 'drizzle-orm';
import {
  type Classification,
  type EntityRow,
  type HitRow,
  type IncidentRow,
  type IncidentStatus,
  type Severity,
  type TokenRow,
} from '../schema.ts';
import { shared, textAsc, type AnyDb, type Tables } from '../store.ts';

/** Stored hits not yet on any trail (recorded, then correlation failed or the process stopped), oldest first, with their tokens; either database. */
export async function uncorrelatedHits(db: AnyDb, limit: number): Promise<{ hit: HitRow; token: TokenRow }[]> {
  const { db: q, t } = shared(db);
  return q.select({ hit: t.hits, token: t.tokens }).from(t.hits).innerJoin(t.tokens, eq(t.tokens.id, t.hits.tokenId)).where(isNull(t.hits.incidentId)).orderBy(asc(t.hits.id)).limit(limit);
}

export interface IncidentFilter {
  status?: IncidentStatus;
  /** Include intrusions merged into others (hidden by default: their hits moved to the parent). */
  merged?: boolean;
  severity?: Severity;
  /** Only incidents with an id below this (newest-first paging cursor). */
  beforeId?: number;
  limit: number;
}

/** Incidents, newest first, for the API and the admin UI. */
export async function listIncidents(db: AnyDb, f: IncidentFilter): Promise<{ items: IncidentRow[]; total: number }> {
  const { db: q, t } = shared(db);
  const conds: SQL[] = [];
  if (f.status) conds.push(eq(t.incidents.status, f.status));
  if (f.severity) conds.push(eq(t.incidents.severity, f.severity));
  if (!f.merged) conds.push(isNull(t.incidents.mergedInto));
  const where = conds.length ? and(...conds) : undefined;
  const [total] = await q.select({ n: count() }).from(t.incidents).where(where);
  const page = f.beforeId === undefined ? where : and(where, lt(t.incidents.id, f.beforeId));
  const items = await q.select().from(t.incidents).where(page).orderBy(desc(t.incidents.id)).limit(f.limit);
  return { items, total: total?.n ?? 0 };
}

export async function getIncident(db: AnyDb, id: number): Promise<IncidentRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.incidents).where(eq(t.incidents.id, id)).limit(1);
  return row;
}

/** Incidents changed after a `(updatedAt, id)` cursor, oldest change first: the SIEM forwarder's feed (index incidents_updated_idx). */
export async function incidentsChangedSince(db: AnyDb, after: { at: number; id: number }, limit: number): Promise<IncidentRow[]> {
  const { db: q, t } = shared(db);
  const at = new Date(after.at);
  return q
    .select()
    .from(t.incidents)
    .where(or(gt(t.incidents.updatedAt, at), and(eq(t.incidents.updatedAt, at), gt(t.incidents.id, after.id))))
    .orderBy(asc(t.incidents.updatedAt), asc(t.incidents.id))
    .limit(limit);
}

/** Acknowledge, close or reopen an incident. A closed incident takes no new hits; the actor's next hit opens a new one. */
export async function setIncidentStatus(db: AnyDb, id: number, status: IncidentStatus): Promise<IncidentRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.update(t.incidents).set({ status, updatedAt: new Date() }).where(eq(t.incidents.id, id)).returning();
  return row;
}

/** One trail entry: the hit and where its token was planted. */
export interface TrailEntry {
  hit: HitRow;
  token: { id: string; kind: string; name: string; location: string | null; plantedHost: string | null; params: Record<string, unknown> };
}

/** The columns of a trail entry. */
const entryColumns = (t: Tables) => ({
  hit: t.hits,
  token: { id: t.tokens.id, kind: t.tokens.kind, name: t.tokens.name, location: t.tokens.location, plantedHost: t.tokens.plantedHost, params: t.tokens.params },
});

/** The incident's hits in time order with their tokens, deleted tokens included (bounded: `limit` from `offset`). */
export async function incidentTrail(db: AnyDb, incidentId: number, limit = 500, offset = 0): Promise<TrailEntry[]> {
  const { db: q, t } = shared(db);
  return q
    .select(entryColumns(t))
    .from(t.hits)
    .innerJoin(t.tokens, eq(t.tokens.id, t.hits.tokenId))
    .where(eq(t.hits.incidentId, incidentId))
    .orderBy(asc(t.hits.at), asc(t.hits.id))
    .limit(limit)
    .offset(offset);
}

/**
 * A bounded, representative sample of a long trail for a message: its first `head` and last
 * `tail` hits plus the first hit of every distinct decoy and of every distinct credential
 * (so every planted host and used credential is named), in time order, with the total.
 */
export async function incidentTrailSample(db: AnyDb, incidentId: number, head = 10, tail = 40): Promise<{ entries: TrailEntry[]; total: number }> {
  const { db: q, t } = shared(db);
  const ofIncident = eq(t.hits.incidentId, incidentId);
  const firstId = min(t.hits.id);
  const picks = await Promise.all([
    q.select({ id: t.hits.id }).from(t.hits).where(ofIncident).orderBy(asc(t.hits.id)).limit(head),
    q.select({ id: t.hits.id }).from(t.hits).where(ofIncident).orderBy(desc(t.hits.id)).limit(tail),
    // Groups in key order, as SQLite returns them, so both dialects pick the same groups when there are more.
    q.select({ id: firstId }).from(t.hits).where(ofIncident).groupBy(t.hits.tokenId).orderBy(textAsc(db, t.hits.tokenId)).limit(50),
    q.select({ id: firstId }).from(t.hits).where(and(ofIncident, isNotNull(t.hits.credential))).groupBy(t.hits.credential).orderBy(textAsc(db, t.hits.credential)).limit(20),
  ]);
  const ids = new Set<number>();
  for (const rows of picks) for (const r of rows) if (r.id !== null) ids.add(r.id);
  const entries = ids.size
    ? await q.select(entryColumns(t)).from(t.hits).innerJoin(t.tokens, eq(t.tokens.id, t.hits.tokenId)).where(inArray(t.hits.id, [...ids])).orderBy(asc(t.hits.id))
    : [];
  return { entries, total: await countIncidentHits(db, incidentId) };
}

/** The incident's hits with ids in [fromId, toId] of the given classifications (what one alert is about). */
export async function incidentHitsBetween(
  db: AnyDb,
  incidentId: number,
  fromId: number,
  toId: number,
  classes: readonly Classification[],
  limit = 200,
): Promise<TrailEntry[]> {
  const { db: q, t } = shared(db);
  return q
    .select(entryColumns(t))
    .from(t.hits)
    .innerJoin(t.tokens, eq(t.tokens.id, t.hits.tokenId))
    .where(and(eq(t.hits.incidentId, incidentId), gte(t.hits.id, fromId), lte(t.hits.id, toId), inArray(t.hits.classification, [...classes])))
    .orderBy(asc(t.hits.id))
    .limit(limit);
}

/** Number of hits of an incident (the trail may be longer than what is shown). */
export async function countIncidentHits(db: AnyDb, incidentId: number): Promise<number> {
  const { db: q, t } = shared(db);
  const [row] = await q.select({ n: count() }).from(t.hits).where(eq(t.hits.incidentId, incidentId));
  return row?.n ?? 0;
}

/** Export filter: incidents active at or after `since`, of one status. */
export interface IncidentPageFilter {
  since?: Date;
  status?: IncidentStatus;
  /** Only incidents with an id above this (oldest-first paging cursor). */
  afterId: number;
  limit: number;
}

/** Incidents oldest first (by id), one page at a time, for exports. */
export async function incidentsAfter(db: AnyDb, f: IncidentPageFilter): Promise<IncidentRow[]> {
  const { db: q, t } = shared(db);
  const conds: SQL[] = [gt(t.incidents.id, f.afterId)];
  if (f.since) conds.push(gte(t.incidents.lastAt, f.since));
  if (f.status) conds.push(eq(t.incidents.status, f.status));
  return q.select().from(t.incidents).where(and(...conds)).orderBy(asc(t.incidents.id)).limit(f.limit);
}

/** Ids of an incident's hits, oldest first. */
export async function incidentHitIds(db: AnyDb, incidentId: number): Promise<number[]> {
  const { db: q, t } = shared(db);
  const rows = await q.select({ id: t.hits.id }).from(t.hits).where(eq(t.hits.incidentId, incidentId)).orderBy(asc(t.hits.id));
  return rows.map((r) => r.id);
}

/** The entities of an intrusion (machines, users, decoys, places, hops …), oldest first; bounded. */
export async function incidentEntities(db: AnyDb, incidentId: number, limit = 1000): Promise<EntityRow[]> {
  const { db: q, t } = shared(db);
  return q.select().from(t.incidentEntities).where(eq(t.incidentEntities.incidentId, incidentId)).orderBy(asc(t.incidentEntities.firstAt), textAsc(db, t.incidentEntities.key)).limit(limit);
}

/** Intrusions merged into this one. */
export async function mergedIncidents(db: AnyDb, parentId: number): Promise<IncidentRow[]> {
  const { db: q, t } = shared(db);
  return q.select().from(t.incidents).where(eq(t.incidents.mergedInto, parentId)).orderBy(asc(t.incidents.id)).limit(200);
}

/** The first hit of each of these intrusions with its token (a grouped alert's sample), in id order. */
export async function firstHitsOf(db: AnyDb, incidentIds: readonly number[]): Promise<TrailEntry[]> {
  if (incidentIds.length === 0) return [];
  const { db: q, t } = shared(db);
  const firsts = await q
    .select({ id: min(t.hits.id) })
    .from(t.hits)
    .where(inArray(t.hits.incidentId, [...incidentIds]))
    .groupBy(t.hits.incidentId);
  const ids = firsts.map((r) => r.id).filter((x): x is number => x !== null);
  if (ids.length === 0) return [];
  return q.select(entryColumns(t)).from(t.hits).innerJoin(t.tokens, eq(t.tokens.id, t.hits.tokenId)).where(inArray(t.hits.id, ids)).orderBy(asc(t.hits.id));
}
