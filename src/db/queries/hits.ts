import { and, desc, eq, gt, gte, lt, type SQL } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { hits, type HitRow, type NewHitRow } from '../schema.ts';

/** Column order of the hot-path insert; must match HIT_INSERT_SQL. */
const HIT_COLUMNS = [
  ['token_id', 'tokenId'], ['channel', 'channel'], ['at', 'at'], ['source_ip', 'sourceIp'], ['source_port', 'sourcePort'],
  ['forwarded_for', 'forwardedFor'], ['user_agent', 'userAgent'], ['referer', 'referer'], ['method', 'method'],
  ['path', 'path'], ['query', 'query'], ['qname', 'qname'], ['qtype', 'qtype'], ['mail_from', 'mailFrom'],
  ['mail_to', 'mailTo'], ['mail_subject', 'mailSubject'], ['actor_user', 'actorUser'], ['actor_host', 'actorHost'],
  ['actor_domain', 'actorDomain'], ['credential', 'credential'], ['headers', 'headers'], ['details', 'details'],
  ['classification', 'classification'], ['incident_id', 'incidentId'], ['repeat_count', 'repeatCount'], ['last_at', 'lastAt'], ['intel', 'intel'],
] as const satisfies readonly (readonly [string, keyof NewHitRow])[];

/**
 * Prepared statements for the trigger hot path. Building a drizzle query per hit costs more
 * than the SQLite insert itself (measured by `npm run bench`), so the recorder uses these.
 */
export function hitWriter(db: Db) {
  const insert = db.$client.prepare(
    `insert into hits (${HIT_COLUMNS.map(([c]) => c).join(', ')}) values (${HIT_COLUMNS.map(() => '?').join(', ')})`,
  );
  const bump = db.$client.prepare('update hits set repeat_count = repeat_count + 1, last_at = ? where id = ?');
  const touch = db.$client.prepare('update tokens set hit_count = hit_count + ?, last_hit_at = max(coalesce(last_hit_at, 0), ?) where id = ?');
  return {
    insert(row: NewHitRow): HitRow {
      const full: HitRow = {
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
      };
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

function toDriver(v: unknown): string | number | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'object') return JSON.stringify(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v as string | number;
}

/** Set the incident of a stored hit. */
export function setHitIncident(db: Db, hitId: number, incidentId: number): void {
  db.update(hits).set({ incidentId }).where(eq(hits.id, hitId)).run();
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

export function listHits(db: Db, f: HitFilter): HitRow[] {
  const conds: SQL[] = [];
  if (f.tokenId) conds.push(eq(hits.tokenId, f.tokenId));
  if (f.incidentId !== undefined) conds.push(eq(hits.incidentId, f.incidentId));
  if (f.since) conds.push(gte(hits.at, f.since));
  if (f.afterId !== undefined) conds.push(gt(hits.id, f.afterId));
  if (f.beforeId !== undefined) conds.push(lt(hits.id, f.beforeId));
  if (f.classification) conds.push(eq(hits.classification, f.classification as HitRow['classification']));
  return db
    .select()
    .from(hits)
    .where(conds.length ? and(...conds) : undefined)
    .orderBy(f.order === 'asc' ? hits.id : desc(hits.id))
    .limit(f.limit)
    .all();
}

export function getHit(db: Db, id: number): HitRow | undefined {
  return db.select().from(hits).where(eq(hits.id, id)).get();
}
