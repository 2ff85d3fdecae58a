import { and, asc, count, desc, eq, gt, gte, inArray, isNotNull, isNull, lt, lte, min, or, type SQL } from 'drizzle-orm';
import type { Db } from '../client.ts';
import {
  type Classification,
  type HitRow,
  type IncidentRow,
  type IncidentStatus,
  type Severity,
  type TokenRow,
} from '../schema.ts';
import { shared, textAsc, type AnyDb, type Tables } from '../store.ts';

/** The incident fields the trail step reads and writes for every hit. */
export interface TrailState {
  id: number;
  firstAt: number;
  lastAt: number;
  hitCount: number;
  tokenCount: number;
  locationCount: number;
  hostCount: number;
  severity: Severity;
  lateral: boolean;
  techniques: string[];
  summary: string | null;
}

type RawState = Omit<TrailState, 'lateral' | 'techniques'> & { lateral: number; techniques: string };

/**
 * Prepared statements for the per-hit trail update (hot path, inside the hit's transaction).
 * "Seen" checks only look at hits that count toward the trail (the alerting classifications).
 * SQLite-only (synchronous prepared statements) until its PostgreSQL version lands.
 */
export function trailStatements(db: Db, counted: readonly Classification[]) {
  const c = db.$client;
  const inList = counted.map((x) => `'${x.replace(/'/g, "''")}'`).join(', ') || "''";
  const cols = 'id, first_at as firstAt, last_at as lastAt, hit_count as hitCount, token_count as tokenCount, location_count as locationCount, host_count as hostCount, severity, lateral, techniques, summary';
  const findOpen = c.prepare<[string, number], RawState>(
    `select ${cols} from incidents where actor_key = ? and status != 'closed' and last_at >= ? order by last_at desc limit 1`,
  );
  const insert = c.prepare<[string, string, number, number, number]>(
    "insert into incidents (actor_key, actor_label, first_at, last_at, updated_at, hit_count, status, severity, techniques) values (?, ?, ?, ?, ?, 0, 'open', 'low', '[]')",
  );
  const update = c.prepare(
    'update incidents set first_at = ?, last_at = ?, hit_count = ?, token_count = ?, location_count = ?, host_count = ?, severity = ?, lateral = ?, techniques = ?, summary = ?, updated_at = ? where id = ?',
  );
  const tokenSeen = c.prepare<[number, string]>(`select 1 from hits where incident_id = ? and token_id = ? and classification in (${inList}) limit 1`);
  const locationSeen = c.prepare<[number, string]>(
    `select 1 from hits h join tokens t on t.id = h.token_id where h.incident_id = ? and t.location = ? and h.classification in (${inList}) limit 1`,
  );
  const hostSeen = c.prepare<[number, string]>(
    `select 1 from hits h join tokens t on t.id = h.token_id where h.incident_id = ? and lower(t.planted_host) = lower(?) and h.classification in (${inList}) limit 1`,
  );
  const assign = c.prepare<[number, string]>('update hits set incident_id = ? where id in (select value from json_each(?))');
  const credentialSeen = c.prepare<[number]>(
    `select 1 from hits where incident_id = ? and credential is not null and classification in (${inList}) limit 1`,
  );
  return {
    findOpen(actorKey: string, since: number): TrailState | undefined {
      const r = findOpen.get(actorKey, since);
      return r ? { ...r, lateral: r.lateral === 1, techniques: JSON.parse(r.techniques) as string[] } : undefined;
    },
    create(actorKey: string, label: string, at: number): TrailState {
      const id = Number(insert.run(actorKey, label, at, at, Date.now()).lastInsertRowid);
      return { id, firstAt: at, lastAt: at, hitCount: 0, tokenCount: 0, locationCount: 0, hostCount: 0, severity: 'low', lateral: false, techniques: [], summary: null };
    },
    save(s: TrailState): void {
      update.run(s.firstAt, s.lastAt, s.hitCount, s.tokenCount, s.locationCount, s.hostCount, s.severity, s.lateral ? 1 : 0, JSON.stringify(s.techniques), s.summary, Date.now(), s.id);
    },
    tokenSeen: (incidentId: number, tokenId: string) => tokenSeen.get(incidentId, tokenId) !== undefined,
    locationSeen: (incidentId: number, location: string) => locationSeen.get(incidentId, location) !== undefined,
    hostSeen: (incidentId: number, host: string) => hostSeen.get(incidentId, host) !== undefined,
    credentialSeen: (incidentId: number) => credentialSeen.get(incidentId) !== undefined,
    /** Put stored hits on an incident's trail (one statement for a batch's hits of one incident). */
    assign: (incidentId: number, hitIds: readonly number[]) => void assign.run(incidentId, JSON.stringify(hitIds)),
  };
}

/** Stored hits not yet on any trail (recorded, then correlation failed or the process stopped), oldest first, with their tokens; either database. */
export async function uncorrelatedHits(db: AnyDb, limit: number): Promise<{ hit: HitRow; token: TokenRow }[]> {
  const { db: q, t } = shared(db);
  return q.select({ hit: t.hits, token: t.tokens }).from(t.hits).innerJoin(t.tokens, eq(t.tokens.id, t.hits.tokenId)).where(isNull(t.hits.incidentId)).orderBy(asc(t.hits.id)).limit(limit);
}

export interface IncidentFilter {
  status?: IncidentStatus;
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
  token: { id: string; kind: string; name: string; location: string | null; plantedHost: string | null };
}

/** The columns of a trail entry. */
const entryColumns = (t: Tables) => ({
  hit: t.hits,
  token: { id: t.tokens.id, kind: t.tokens.kind, name: t.tokens.name, location: t.tokens.location, plantedHost: t.tokens.plantedHost },
});

/** The incident's hits in time order with their tokens, deleted tokens included (bounded: the first `limit`). */
export async function incidentTrail(db: AnyDb, incidentId: number, limit = 500): Promise<TrailEntry[]> {
  const { db: q, t } = shared(db);
  return q
    .select(entryColumns(t))
    .from(t.hits)
    .innerJoin(t.tokens, eq(t.tokens.id, t.hits.tokenId))
    .where(eq(t.hits.incidentId, incidentId))
    .orderBy(asc(t.hits.at), asc(t.hits.id))
    .limit(limit);
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
