import { createHash } from 'node:crypto';
import { and, count, desc, eq, gte, inArray, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { tokens, type NewTokenRow, type TokenRow } from '../schema.ts';
import { type AnyDb, atomically, containsText, insertedRow, isPg, shared } from '../store.ts';
import type { AuditEntry } from './audit.ts';
import { changed, invalidateOn } from '../changes.ts';

/** Plain query functions for tokens; routes and channels never write SQL themselves. */

export async function insertToken(db: AnyDb, row: NewTokenRow): Promise<TokenRow> {
  const { db: q, t } = shared(db);
  const inserted = insertedRow(await q.insert(t.tokens).values(row).returning());
  changed('tokens');
  return inserted;
}

/** A live (not deleted) token by id, enabled or not. */
export async function getToken(db: AnyDb, id: string): Promise<TokenRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.tokens).where(and(eq(t.tokens.id, id), isNull(t.tokens.deletedAt))).limit(1);
  return row;
}

export interface LookupOptions {
  /** How long a looked-up token (or its absence) is reused before the database is asked again. @default 1000 */
  ttlMs?: number;
  /** Most entries kept; the cache is cleared when full (a flood of random ids cannot grow it). @default 10000 */
  maxEntries?: number;
}

/**
 * Token lookups for the hot path: one indexed probe each, behind a short-lived cache so a
 * burst of hits on one token costs one query. A change made in this process (disable, delete,
 * create) empties the cache at once (src/db/changes.ts); one made by another process reaches
 * these listeners within `ttlMs`.
 * SQLite-only (synchronous prepared statements) until its PostgreSQL version lands.
 */
export function tokenLookups(db: AnyDb, options: LookupOptions = {}): TokenLookups {
  const ttl = options.ttlMs ?? 1000;
  const max = options.maxEntries ?? 10_000;
  const load = isPg(db) ? pgTokenLoaders(db) : sqliteTokenLoaders(db);
  // SQLite answers synchronously (no promise on the hot path); PostgreSQL's pending lookup is cached, so a burst shares one query.
  const cache = new Map<string, { row: MaybePromise<TokenRow | undefined>; until: number }>();
  const cached = (key: string, fetch: () => MaybePromise<TokenRow | undefined>): MaybePromise<TokenRow | undefined> => {
    if (ttl <= 0) return fetch();
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.row;
    if (cache.size >= max) cache.clear();
    const row = fetch();
    cache.set(key, { row, until: now + ttl });
    if (row instanceof Promise) row.catch(() => cache.delete(key));
    return row;
  };
  const lookups: TokenLookups = {
    byId: (id) => cached(`i:${id}`, () => load.byId(id)),
    byLookupKey: (key) => cached(`k:${key}`, () => load.byKey(key)),
    byUrlPath: (path) => cached(`p:${path}`, () => load.byUrlPath(path)),
    byHostLabel: (label) => cached(`h:${label}`, () => load.byHostLabel(label)),
    invalidate: () => cache.clear(),
  };
  invalidateOn('tokens', lookups);
  return lookups;
}

type MaybePromise<T> = T | Promise<T>;

/** Token lookups for the listeners; await the result (it is a plain value on SQLite). */
export interface TokenLookups {
  byId(id: string): MaybePromise<TokenRow | undefined>;
  byLookupKey(key: string): MaybePromise<TokenRow | undefined>;
  /** The token whose stored URL path (with its query, if it has one) is exactly `path`. */
  byUrlPath(path: string): MaybePromise<TokenRow | undefined>;
  /** The token whose host name carries `label` right below DNS_ZONE (lower-case). */
  byHostLabel(label: string): MaybePromise<TokenRow | undefined>;
  /** Forget every cached answer (a token changed in this process: src/db/changes.ts). */
  invalidate(): void;
}

/** SQLite: prepared statements, answered synchronously. */
function sqliteTokenLoaders(db: Db) {
  const byId = db.select().from(tokens).where(and(eq(tokens.id, sql.placeholder('id')), isNull(tokens.deletedAt))).prepare();
  const byKey = db
    .select()
    .from(tokens)
    .where(and(eq(tokens.lookupKey, sql.placeholder('key')), isNull(tokens.deletedAt)))
    .prepare();
  const byUrlPath = db.select().from(tokens).where(and(eq(tokens.urlPath, sql.placeholder('path')), isNull(tokens.deletedAt))).prepare();
  const byHostLabel = db.select().from(tokens).where(and(eq(tokens.hostLabel, sql.placeholder('label')), isNull(tokens.deletedAt))).prepare();
  return {
    byId: (id: string) => byId.get({ id }),
    byKey: (key: string) => byKey.get({ key }),
    byUrlPath: (path: string) => byUrlPath.get({ path }),
    byHostLabel: (label: string) => byHostLabel.get({ label }),
  };
}

/** PostgreSQL: the same queries through the shared builder. */
function pgTokenLoaders(db: AnyDb) {
  const one = async (where: SQL | undefined): Promise<TokenRow | undefined> => {
    const { db: q, t } = shared(db);
    const [row] = await q.select().from(t.tokens).where(where).limit(1);
    return row;
  };
  const { t } = shared(db);
  return {
    byId: (id: string) => one(and(eq(t.tokens.id, id), isNull(t.tokens.deletedAt))),
    byKey: (key: string) => one(and(eq(t.tokens.lookupKey, key), isNull(t.tokens.deletedAt))),
    byUrlPath: (path: string) => one(and(eq(t.tokens.urlPath, path), isNull(t.tokens.deletedAt))),
    byHostLabel: (label: string) => one(and(eq(t.tokens.hostLabel, label), isNull(t.tokens.deletedAt))),
  };
}

/** The `sha256:` term a pasted secret is indexed under (see tokens/secrets.ts `secretTerm`). */
function secretDigestTerm(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('hex')}`;
}

export interface TokenFilter {
  kind?: string;
  enabled?: boolean;
  /** Substring of the planted location. */
  location?: string;
  /** Substring of name, location or planted host; or exactly a token id, key id, planted secret, mailbox, address or user name. */
  q?: string;
  limit: number;
  offset: number;
}

export async function listTokens(db: AnyDb, f: TokenFilter): Promise<{ items: TokenRow[]; total: number }> {
  const { db: q, t } = shared(db);
  // `created_at >= 0` is always true; it lets SQLite count through the partial live-token index
  // instead of scanning the table (measured: 80 ms -> 10 ms at 100k tokens).
  const conds: SQL[] = [isNull(t.tokens.deletedAt), gte(t.tokens.createdAt, new Date(0))];
  if (f.kind) conds.push(eq(t.tokens.kind, f.kind));
  if (f.enabled !== undefined) conds.push(eq(t.tokens.enabled, f.enabled));
  if (f.location) conds.push(containsText(db, t.tokens.location, f.location));
  if (f.q) {
    // Free text by substring; ids, key ids, secrets, mailboxes and user names exactly, through indexes.
    const exact = f.q.trim();
    const terms = [exact.toLowerCase(), secretDigestTerm(exact)];
    const any = or(
      containsText(db, t.tokens.name, f.q),
      containsText(db, t.tokens.location, f.q),
      containsText(db, t.tokens.plantedHost, f.q),
      eq(t.tokens.id, exact.toLowerCase()),
      inArray(t.tokens.lookupKey, [exact, exact.toUpperCase()]),
      inArray(t.tokens.id, q.select({ id: t.tokenTerms.tokenId }).from(t.tokenTerms).where(inArray(t.tokenTerms.term, terms))),
    );
    if (any) conds.push(any);
  }
  const where = and(...conds);
  const items = await q
    .select()
    .from(t.tokens)
    .where(where)
    .orderBy(desc(t.tokens.createdAt), desc(t.tokens.id))
    .limit(f.limit)
    .offset(f.offset);
  const [total] = await q.select({ n: count() }).from(t.tokens).where(where);
  return { items, total: total?.n ?? 0 };
}

export async function updateToken(db: AnyDb, id: string, patch: Partial<NewTokenRow>): Promise<TokenRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q
    .update(t.tokens)
    .set({ ...patch, updatedAt: new Date() })
    .where(and(eq(t.tokens.id, id), isNull(t.tokens.deletedAt)))
    .returning();
  changed('tokens');
  return row;
}

/** Soft delete: the token stops firing and disappears from lists; its hits stay for the record. */
export async function deleteToken(db: AnyDb, id: string): Promise<boolean> {
  const { db: q, t } = shared(db);
  const now = new Date();
  const gone = await q
    .update(t.tokens)
    .set({ deletedAt: now, enabled: false, updatedAt: now })
    .where(and(eq(t.tokens.id, id), isNull(t.tokens.deletedAt)))
    .returning({ id: t.tokens.id });
  changed('tokens');
  return gone.length > 0;
}

/** Which of `ids` are live tokens. */
export async function liveTokenIds(db: AnyDb, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { db: q, t } = shared(db);
  const rows = await q
    .select({ id: t.tokens.id })
    .from(t.tokens)
    .where(and(inArray(t.tokens.id, [...ids]), isNull(t.tokens.deletedAt)));
  return rows.map((r) => r.id);
}

/** What a bulk action does to each token. */
export type TokenAction = 'enable' | 'disable' | 'delete';

/**
 * Enable, disable or soft-delete live tokens and write the audit entries, in one transaction
 * (all or nothing). Returns how many tokens changed.
 */
export async function applyTokenAction(db: AnyDb, ids: readonly string[], action: TokenAction, entries: readonly AuditEntry[]): Promise<number> {
  if (ids.length === 0) return 0;
  const now = new Date();
  const patch = action === 'delete' ? { deletedAt: now, enabled: false, updatedAt: now } : { enabled: action === 'enable', updatedAt: now };
  const [count = 0] = await atomically(db, ({ db: q, t }) => [
    q
      .update(t.tokens)
      .set(patch)
      .where(and(inArray(t.tokens.id, [...ids]), isNull(t.tokens.deletedAt))),
    ...(entries.length ? [q.insert(t.auditLog).values(entries.map((e) => ({ ...e, at: now })))] : []),
  ]);
  changed('tokens');
  return count;
}

/**
 * Mark a token as rotated to `to`, once: compare-and-swap on `rotated_to` so two rotations at
 * the same moment cannot both succeed. Returns the updated row, or undefined when it was
 * already rotated (or is gone).
 */
export async function markRotated(db: AnyDb, id: string, to: string, at: Date): Promise<TokenRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q
    .update(t.tokens)
    .set({ rotatedTo: to, rotatedAt: at, updatedAt: at })
    .where(and(eq(t.tokens.id, id), isNull(t.tokens.deletedAt), isNull(t.tokens.rotatedTo)))
    .returning();
  changed('tokens');
  return row;
}
