import { and, eq, lt, or } from 'drizzle-orm';
import type { sessions } from '../schema.ts';
import { type AnyDb, insertedRow, shared } from '../store.ts';

/** Admin UI sessions. `id` is the sha256 of the cookie value, never the value itself. */

/** A session row (`id` is a hash, never the cookie). */
export type SessionRow = typeof sessions.$inferSelect;

/** Store a new session. */
export async function insertSession(db: AnyDb, row: Omit<typeof sessions.$inferInsert, 'createdAt'>): Promise<SessionRow> {
  const { db: q, t } = shared(db);
  return insertedRow(await q.insert(t.sessions).values(row).returning());
}

/** The session for a cookie's hash. */
export async function getSession(db: AnyDb, idHash: string): Promise<SessionRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.sessions).where(eq(t.sessions.id, idHash)).limit(1);
  return row;
}

/** Move the idle clock forward (done at most once a minute per session). */
export async function touchSession(db: AnyDb, idHash: string, at: Date): Promise<void> {
  const { db: q, t } = shared(db);
  await q.update(t.sessions).set({ lastSeenAt: at }).where(eq(t.sessions.id, idHash));
}

/** End one session (sign-out, expiry, or a new sign-in from the same browser). */
export async function deleteSession(db: AnyDb, idHash: string): Promise<void> {
  const { db: q, t } = shared(db);
  await q.delete(t.sessions).where(eq(t.sessions.id, idHash));
}

/** Drop sessions past their absolute expiry or idle since `idleBefore`. */
export async function purgeSessions(db: AnyDb, now: Date, idleBefore: Date): Promise<number> {
  const { db: q, t } = shared(db);
  const gone = await q
    .delete(t.sessions)
    .where(or(lt(t.sessions.expiresAt, now), and(lt(t.sessions.lastSeenAt, idleBefore))))
    .returning({ id: t.sessions.id });
  return gone.length;
}
