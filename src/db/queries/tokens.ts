import { and, count, desc, eq, gte, isNull, or, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { tokens, type NewTokenRow, type TokenRow } from '../schema.ts';

/** Plain query functions for tokens; routes and channels never write SQL themselves. */

export function insertToken(db: Db, row: NewTokenRow): TokenRow {
  return db.insert(tokens).values(row).returning().get();
}

/** A live (not deleted) token by id, enabled or not. */
export function getToken(db: Db, id: string): TokenRow | undefined {
  return db.select().from(tokens).where(and(eq(tokens.id, id), isNull(tokens.deletedAt))).get();
}

export interface LookupOptions {
  /** How long a looked-up token (or its absence) is reused before the database is asked again. @default 1000 */
  ttlMs?: number;
  /** Most entries kept; the cache is cleared when full (a flood of random ids cannot grow it). @default 10000 */
  maxEntries?: number;
}

/**
 * Token lookups for the hot path: one indexed probe each, behind a short-lived cache so a
 * burst of hits on one token costs one query. A change made in the admin (disable, delete)
 * therefore reaches the listeners within `ttlMs`.
 */
export function tokenLookups(db: Db, options: LookupOptions = {}) {
  const ttl = options.ttlMs ?? 1000;
  const max = options.maxEntries ?? 10_000;
  const byId = db.select().from(tokens).where(and(eq(tokens.id, sql.placeholder('id')), isNull(tokens.deletedAt))).prepare();
  const byKey = db
    .select()
    .from(tokens)
    .where(and(eq(tokens.lookupKey, sql.placeholder('key')), isNull(tokens.deletedAt)))
    .prepare();
  const cache = new Map<string, { row: TokenRow | undefined; until: number }>();
  const cached = (key: string, load: () => TokenRow | undefined): TokenRow | undefined => {
    if (ttl <= 0) return load();
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.row;
    if (cache.size >= max) cache.clear();
    const row = load();
    cache.set(key, { row, until: now + ttl });
    return row;
  };
  return {
    byId: (id: string): TokenRow | undefined => cached(`i:${id}`, () => byId.get({ id })),
    byLookupKey: (key: string): TokenRow | undefined => cached(`k:${key}`, () => byKey.get({ key })),
  };
}

export interface TokenFilter {
  kind?: string;
  enabled?: boolean;
  /** Substring of the planted location. */
  location?: string;
  /** Substring of name, location or planted host. */
  q?: string;
  limit: number;
  offset: number;
}

export function listTokens(db: Db, f: TokenFilter): { items: TokenRow[]; total: number } {
  // `created_at >= 0` is always true; it lets SQLite count through the partial live-token index
  // instead of scanning the table (measured: 80 ms -> 10 ms at 100k tokens).
  const conds: SQL[] = [isNull(tokens.deletedAt), gte(tokens.createdAt, new Date(0))];
  if (f.kind) conds.push(eq(tokens.kind, f.kind));
  if (f.enabled !== undefined) conds.push(eq(tokens.enabled, f.enabled));
  if (f.location) conds.push(contains(tokens.location, f.location));
  if (f.q) {
    const any = or(contains(tokens.name, f.q), contains(tokens.location, f.q), contains(tokens.plantedHost, f.q));
    if (any) conds.push(any);
  }
  const where = and(...conds);
  const items = db
    .select()
    .from(tokens)
    .where(where)
    .orderBy(desc(tokens.createdAt), desc(tokens.id))
    .limit(f.limit)
    .offset(f.offset)
    .all();
  const total = db.select({ n: count() }).from(tokens).where(where).get()?.n ?? 0;
  return { items, total };
}

export function updateToken(db: Db, id: string, patch: Partial<NewTokenRow>): TokenRow | undefined {
  return db
    .update(tokens)
    .set({ ...patch, updatedAt: new Date() })
    .where(and(eq(tokens.id, id), isNull(tokens.deletedAt)))
    .returning()
    .get();
}

/** Soft delete: the token stops firing and disappears from lists; its hits stay for the record. */
export function deleteToken(db: Db, id: string): boolean {
  const now = new Date();
  const res = db
    .update(tokens)
    .set({ deletedAt: now, enabled: false, updatedAt: now })
    .where(and(eq(tokens.id, id), isNull(tokens.deletedAt)))
    .run();
  return res.changes > 0;
}

/** Case-insensitive substring match with LIKE wildcards in the needle taken literally. */
function contains(column: AnyColumn, needle: string): SQL {
  const pattern = `%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql`${column} like ${pattern} escape '\\'`;
}
