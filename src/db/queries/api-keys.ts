import { createHash, randomBytes } from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import { nanoid } from 'nanoid';
import type { Db } from '../client.ts';
import { apiKeys, type ApiKeyRow } from '../schema.ts';

/** API keys look like `ht_` + 40 base62-ish chars; only a sha256 is stored. */
export function generateApiKey(): string {
  return `ht_${randomBytes(30).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Create a key and return it in clear exactly once. */
export function createApiKey(db: Db, name: string, createdBy: string, key = generateApiKey()): { key: string; row: ApiKeyRow } {
  const row = db
    .insert(apiKeys)
    .values({ id: nanoid(12), name, prefix: key.slice(0, 8), keyHash: hashApiKey(key), createdBy })
    .returning()
    .get();
  return { key, row };
}

/** The active key row for a presented key, if any. */
export function findActiveApiKey(db: Db, key: string): ApiKeyRow | undefined {
  return db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, hashApiKey(key)), isNull(apiKeys.revokedAt)))
    .get();
}

export function markApiKeyUsed(db: Db, id: string): void {
  db.update(apiKeys).set({ lastUsedAt: new Date() }).where(eq(apiKeys.id, id)).run();
}

export function listApiKeys(db: Db): ApiKeyRow[] {
  return db.select().from(apiKeys).orderBy(desc(apiKeys.createdAt)).all();
}

export function revokeApiKey(db: Db, id: string): boolean {
  return db.update(apiKeys).set({ revokedAt: new Date() }).where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt))).run().changes > 0;
}

export function countApiKeys(db: Db): number {
  return db.select({ id: apiKeys.id }).from(apiKeys).all().length;
}
