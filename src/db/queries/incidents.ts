import { and, asc, count, desc, eq, gte, inArray, isNull, lt, lte, type SQL } from 'drizzle-orm';
import type { Db } from '../client.ts';
import {
  hits,
  incidents,
  tokens,
  type Classification,
  type HitRow,
  type IncidentRow,
  type IncidentStatus,
  type Severity,
  type TokenRow,
} from '../schema.ts';

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
    /** Stored hits not yet on any trail (recorded, then the process stopped before correlating), oldest first. */
    uncorrelated: (limit: number): { hit: HitRow; token: TokenRow }[] =>
      db.select({ hit: hits, token: tokens }).from(hits).innerJoin(tokens, eq(tokens.id, hits.tokenId)).where(isNull(hits.incidentId)).orderBy(asc(hits.id)).limit(limit).all(),
  };
}

export interface IncidentFilter {
  status?: IncidentStatus;
  severity?: Severity;
  /** Only incidents with an id below this (newest-first paging cursor). */
  beforeId?: number;
  limit: number;
}

/** Incidents, newest first, for the API and the admin UI. */
export function listIncidents(db: Db, f: IncidentFilter): { items: IncidentRow[]; total: number } {
  const conds: SQL[] = [];
  if (f.status) conds.push(eq(incidents.status, f.status));
  if (f.severity) conds.push(eq(incidents.severity, f.severity));
  const where = conds.length ? and(...conds) : undefined;
  const total = db.select({ n: count() }).from(incidents).where(where).get()?.n ?? 0;
  const page = f.beforeId === undefined ? where : and(where, lt(incidents.id, f.beforeId));
  const items = db.select().from(incidents).where(page).orderBy(desc(incidents.id)).limit(f.limit).all();
  return { items, total };
}

export function getIncident(db: Db, id: number): IncidentRow | undefined {
  return db.select().from(incidents).where(eq(incidents.id, id)).get();
}

/** Acknowledge, close or reopen an incident. A closed incident takes no new hits; the actor's next hit opens a new one. */
export function setIncidentStatus(db: Db, id: number, status: IncidentStatus): IncidentRow | undefined {
  return db.update(incidents).set({ status, updatedAt: new Date() }).where(eq(incidents.id, id)).returning().get();
}

/** One trail entry: the hit and where its token was planted. */
export interface TrailEntry {
  hit: HitRow;
  token: { id: string; kind: string; name: string; location: string | null; plantedHost: string | null };
}

/** The incident's hits in time order with their tokens, deleted tokens included (bounded: the first `limit`). */
export function incidentTrail(db: Db, incidentId: number, limit = 500): TrailEntry[] {
  return db
    .select({ hit: hits, token: { id: tokens.id, kind: tokens.kind, name: tokens.name, location: tokens.location, plantedHost: tokens.plantedHost } })
    .from(hits)
    .innerJoin(tokens, eq(tokens.id, hits.tokenId))
    .where(eq(hits.incidentId, incidentId))
    .orderBy(asc(hits.at), asc(hits.id))
    .limit(limit)
    .all();
}

const entryColumns = { hit: hits, token: { id: tokens.id, kind: tokens.kind, name: tokens.name, location: tokens.location, plantedHost: tokens.plantedHost } };

/**
 * A bounded, representative sample of a long trail for a message: its first `head` and last
 * `tail` hits plus the first hit of every distinct decoy and of every distinct credential
 * (so every planted host and used credential is named), in time order, with the total.
 */
export function incidentTrailSample(db: Db, incidentId: number, head = 10, tail = 40): { entries: TrailEntry[]; total: number } {
  const c = db.$client;
  const ids = new Set<number>();
  const add = (rows: { id: number }[]) => rows.forEach((r) => ids.add(r.id));
  add(c.prepare<[number, number], { id: number }>('select id from hits where incident_id = ? order by id limit ?').all(incidentId, head));
  add(c.prepare<[number, number], { id: number }>('select id from hits where incident_id = ? order by id desc limit ?').all(incidentId, tail));
  add(c.prepare<[number], { id: number }>('select min(id) as id from hits where incident_id = ? group by token_id limit 50').all(incidentId));
  add(c.prepare<[number], { id: number }>('select min(id) as id from hits where incident_id = ? and credential is not null group by credential limit 20').all(incidentId));
  const entries = ids.size
    ? db.select(entryColumns).from(hits).innerJoin(tokens, eq(tokens.id, hits.tokenId)).where(inArray(hits.id, [...ids])).orderBy(asc(hits.id)).all()
    : [];
  return { entries, total: countIncidentHits(db, incidentId) };
}

/** The incident's hits with ids in [fromId, toId] of the given classifications (what one alert is about). */
export function incidentHitsBetween(
  db: Db,
  incidentId: number,
  fromId: number,
  toId: number,
  classes: readonly Classification[],
  limit = 200,
): TrailEntry[] {
  return db
    .select({ hit: hits, token: { id: tokens.id, kind: tokens.kind, name: tokens.name, location: tokens.location, plantedHost: tokens.plantedHost } })
    .from(hits)
    .innerJoin(tokens, eq(tokens.id, hits.tokenId))
    .where(and(eq(hits.incidentId, incidentId), gte(hits.id, fromId), lte(hits.id, toId), inArray(hits.classification, [...classes])))
    .orderBy(asc(hits.id))
    .limit(limit)
    .all();
}

/** Number of hits of an incident (the trail may be longer than what is shown). */
export function countIncidentHits(db: Db, incidentId: number): number {
  return db.select({ n: count() }).from(hits).where(eq(hits.incidentId, incidentId)).get()?.n ?? 0;
}
