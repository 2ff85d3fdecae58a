import { createHash, randomBytes } from 'node:crypto';
import { and, count, desc, eq, gt, isNull, or } from 'drizzle-orm';
import { nanoid } from 'nanoid';
import type { ApiKeyRow } from '../schema.ts';
import { type AnyDb, insertedRow, shared } from '../store.ts';

/** API keys look like `ht_` + 40 base62-ish chars; only a sha256 is stored. */
export function generateApiKey(): string {
  return `ht_${randomBytes(30).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** What a new key may do and until when. */
export interface KeyOptions {
  /** Permissions of the policy table (src/access.ts), or `*` for all. @default ['*'] */
  scopes?: readonly string[];
  /** When the key stops working; null never. @default null */
  expiresAt?: Date | null;
}

/** Create a key and return it in clear exactly once. */
export async function createApiKey(db: AnyDb, name: string, createdBy: string, key = generateApiKey(), options: KeyOptions = {}): Promise<{ key: string; row: ApiKeyRow }> {
  const { db: q, t } = shared(db);
  const row = insertedRow(
    await q
      .insert(t.apiKeys)
      .values({ id: nanoid(12), name, prefix: key.slice(0, 8), keyHash: hashApiKey(key), createdBy, scopes: [...(options.scopes ?? ['*'])], expiresAt: options.expiresAt ?? null })
      .returning(),
  );
  return { key, row };
}

/** The active (not revoked, not expired) key row for a presented key, if any. */
export async function findActiveApiKey(db: AnyDb, key: string, now = new Date()): Promise<ApiKeyRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q
    .select()
    .from(t.apiKeys)
    .where(and(eq(t.apiKeys.keyHash, hashApiKey(key)), isNull(t.apiKeys.revokedAt), or(isNull(t.apiKeys.expiresAt), gt(t.apiKeys.expiresAt, now))))
    .limit(1);
  return row;
}

/** One key by id (revoked and expired ones included). */
export async function getApiKey(db: AnyDb, id: string): Promise<ApiKeyRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.apiKeys).where(eq(t.apiKeys.id, id)).limit(1);
  return row;
}

export async function markApiKeyUsed(db: AnyDb, id: string): Promise<void> {
  const { db: q, t } = shared(db);
  await q.update(t.apiKeys).set({ lastUsedAt: new Date() }).where(eq(t.apiKeys.id, id));
}

export async function listApiKeys(db: AnyDb): Promise<ApiKeyRow[]> {
  const { db: q, t } = shared(db);
  return q.select().from(t.apiKeys).orderBy(desc(t.apiKeys.createdAt));
}

export async function revokeApiKey(db: AnyDb, id: string): Promise<boolean> {
  const { db: q, t } = shared(db);
  const revoked = await q
    .update(t.apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(t.apiKeys.id, id), isNull(t.apiKeys.revokedAt)))
    .returning({ id: t.apiKeys.id });
  return revoked.length > 0;
}

export async function countApiKeys(db: AnyDb): Promise<number> {
  const { db: q, t } = shared(db);
  const [row] = await q.select({ n: count() }).from(t.apiKeys);
  return row?.n ?? 0;
}
