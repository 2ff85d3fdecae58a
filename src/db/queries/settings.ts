import { eq, like } from 'drizzle-orm';
import { shared, type AnyDb } from '../store.ts';

/** Instance state that must survive restarts (cursors, first-run flags). */
export async function getSetting<T>(db: AnyDb, key: string): Promise<T | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.settings).where(eq(t.settings.key, key)).limit(1);
  return row?.value as T | undefined;
}

export async function setSetting(db: AnyDb, key: string, value: unknown): Promise<void> {
  const { db: q, t } = shared(db);
  await q
    .insert(t.settings)
    .values({ key, value, updatedAt: new Date() })
    .onConflictDoUpdate({ target: t.settings.key, set: { value, updatedAt: new Date() } });
}

export async function deleteSetting(db: AnyDb, key: string): Promise<void> {
  const { db: q, t } = shared(db);
  await q.delete(t.settings).where(eq(t.settings.key, key));
}

/** Remove a setting and return its value, or undefined when it was not there: of concurrent takers exactly one gets it. */
export async function takeSetting<T>(db: AnyDb, key: string): Promise<T | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.delete(t.settings).where(eq(t.settings.key, key)).returning();
  return row?.value as T | undefined;
}

/** Every setting whose key starts with `prefix` (lower-case letters, digits, `-` and `:` only), bounded. */
export async function settingsWithPrefix<T>(db: AnyDb, prefix: string, limit = 500): Promise<{ key: string; value: T; updatedAt: Date | null }[]> {
  if (!/^[a-z0-9:-]+$/.test(prefix)) throw new Error('settings prefix must be [a-z0-9:-]');
  const { db: q, t } = shared(db);
  const rows = await q.select().from(t.settings).where(like(t.settings.key, `${prefix}%`)).orderBy(t.settings.key).limit(limit);
  return rows.map((r) => ({ key: r.key, value: r.value as T, updatedAt: r.updatedAt }));
}
