import { and, desc, eq, gt, gte, lt, type SQL } from 'drizzle-orm';
import type { Db } from '../client.ts';
import type { HitRow, NewHitRow } from '../schema.ts';
import { shared, type AnyDb } from '../store.ts';

/** Column order of the hot-path insert; must match HIT_INSERT_SQL. */
const HIT_COLUMNS = [
  ['token_id', 'tokenId'], ['channel', 'channel'], ['at', 'at'], ['source_ip', 'sourceIp'], ['source_port', 'sourcePort'],
  ['forwarded_for', 'forwardedFor'], ['user_agent', 'userAgent'], ['referer', 'referer'], ['method', 'method'],
  ['path', 'path'], ['query', 'query'], ['qname', 'qname'], ['qtype', 'qtype'], ['mail_from', 'mailFrom'],
  ['mail_to', 'mailTo'], ['mail_subject', 'mailSubject'], ['actor_user', 'actorUser'], ['actor_host', 'actorHost'],
  ['actor_domain', 'actorDomain'], ['credential', 'credential'], ['headers', 'headers'], ['details', 'details'],
  ['classification', 'classification'], ['incident_id', 'incidentId'], ['repeat_count', 'repeatCount'], ['last_at', 'lastAt'], ['intel', 'intel'],
  ['expected_rule_id', 'expectedRuleId'],
] as const satisfies readonly (readonly [string, keyof NewHitRow])[];

/**
 * Prepared statements for the trigger hot path. Building a drizzle query per hit costs more
 * than the SQLite insert itself (measured by `npm run bench`), so the recorder uses these.
 * SQLite-only (synchronous prepared statements) until its PostgreSQL version lands.
 */
export function hitWriter(db: Db) {
  const insert = db.$client.prepare(
    `insert into hits (${HIT_COLUMNS.map(([c]) => c).join(', ')}) values (${HIT_COLUMNS.map(() => '?').join(', ')})`,
  );
  const bump = db.$client.prepare('update hits set repeat_count = repeat_count + 1, last_at = ? where id = ?');
  const touch = db.$client.prepare('update tokens set hit_count = hit_count + ?, last_hit_at = max(coalesce(last_hit_at, 0), ?) where id = ?');
  return {
    insert(row: NewHitRow): HitRow {
      const full = unstoredHit(row);
      const values = HIT_COLUMNS.map(([, key]) => toDriver(full[key]));
      full.id = Number(insert.run(...values).lastInsertRowid);
      return full;
    },
    /** Fold one more identical hit into a stored row (flood control). */
    repeat(hit: HitRow, at: Date): HitRow {
      bump.run(at.getTime(), hit.id);
      hit.repeatCount += 1;
      hit.lastAt = at;
      return hit;
    },
    /** Count `n` hits on a token (list pages show count and last hit without scanning hits). */
    touchToken(tokenId: string, n: number, at: Date): void {
      touch.run(n, at.getTime(), tokenId);
    },
  };
}

/**
 * A row as it reads back from the database, with id 0: what the recorder hands back for a hit
 * the storage budget counted on its token but did not store (and what an insert fills in).
 */
export function unstoredHit(row: NewHitRow): HitRow {
  return {
    id: 0,
    tokenId: row.tokenId,
    channel: row.channel,
    at: row.at,
    sourceIp: row.sourceIp ?? null,
    sourcePort: row.sourcePort ?? null,
    forwardedFor: row.forwardedFor ?? null,
    userAgent: row.userAgent ?? null,
    referer: row.referer ?? null,
    method: row.method ?? null,
    path: row.path ?? null,
    query: row.query ?? null,
    qname: row.qname ?? null,
    qtype: row.qtype ?? null,
    mailFrom: row.mailFrom ?? null,
    mailTo: row.mailTo ?? null,
    mailSubject: row.mailSubject ?? null,
    actorUser: row.actorUser ?? null,
    actorHost: row.actorHost ?? null,
    actorDomain: row.actorDomain ?? null,
    credential: row.credential ?? null,
    headers: row.headers ?? null,
    details: row.details ?? null,
    classification: row.classification ?? 'alert',
    incidentId: row.incidentId ?? null,
    repeatCount: row.repeatCount ?? 1,
    lastAt: row.lastAt ?? null,
    intel: row.intel ?? null,
    expectedRuleId: row.expectedRuleId ?? null,
  };
}

function toDriver(v: unknown): string | number | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'object') return JSON.stringify(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v as string | number;
}

/** Set the incident of a stored hit. */
export async function setHitIncident(db: AnyDb, hitId: number, incidentId: number): Promise<void> {
  const { db: q, t } = shared(db);
  await q.update(t.hits).set({ incidentId }).where(eq(t.hits.id, hitId));
}

export interface HitFilter {
  tokenId?: string;
  incidentId?: number;
  /** Only hits at or after this time. */
  since?: Date;
  /** Only hits with an id greater than this (cursor for polling and paging forward). */
  afterId?: number;
  /** Only hits with an id smaller than this (cursor for paging backwards, newest first). */
  beforeId?: number;
  classification?: string;
  limit: number;
  /** `asc` for tailing new hits, `desc` for newest first. @default 'desc' */
  order?: 'asc' | 'desc';
}

export async function listHits(db: AnyDb, f: HitFilter): Promise<HitRow[]> {
  const { db: q, t } = shared(db);
  const conds: SQL[] = [];
  if (f.tokenId) conds.push(eq(t.hits.tokenId, f.tokenId));
  if (f.incidentId !== undefined) conds.push(eq(t.hits.incidentId, f.incidentId));
  if (f.since) conds.push(gte(t.hits.at, f.since));
  if (f.afterId !== undefined) conds.push(gt(t.hits.id, f.afterId));
  if (f.beforeId !== undefined) conds.push(lt(t.hits.id, f.beforeId));
  if (f.classification) conds.push(eq(t.hits.classification, f.classification as HitRow['classification']));
  return q
    .select()
    .from(t.hits)
    .where(conds.length ? and(...conds) : undefined)
    .orderBy(f.order === 'asc' ? t.hits.id : desc(t.hits.id))
    .limit(f.limit);
}

export async function getHit(db: AnyDb, id: number): Promise<HitRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.hits).where(eq(t.hits.id, id)).limit(1);
  return row;
}
