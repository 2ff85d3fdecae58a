import { and, eq, lt, or } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { sessions } from '../schema.ts';

/** Admin UI sessions. `id` is the sha256 of the cookie value, never the value itself. */

/** A session row (`id` is a hash, never the cookie). */
export type SessionRow = typeof sessions.$inferSelect;

/** Store a new session. */
export function insertSession(db: Db, row: Omit<typeof sessions.$inferInsert, 'createdAt'>): SessionRow {
  return db.insert(sessions).values(row).returning().get();
}

/** The session for a cookie's hash. */
export function getSession(db: Db, idHash: string): SessionRow | undefined {
  return db.select().from(sessions).where(eq(sessions.id, idHash)).get();
}

/** Move the idle clock forward (done at most once a minute per session). */
export function touchSession(db: Db, idHash: string, at: Date): void {
  db.update(sessions).set({ lastSeenAt: at }).where(eq(sessions.id, idHash)).run();
}

/** End one session (sign-out, expiry, or a new sign-in from the same browser). */
export function deleteSession(db: Db, idHash: string): void {
  db.delete(sessions).where(eq(sessions.id, idHash)).run();
}

/** Drop sessions past their absolute expiry or idle since `idleBefore`. */
export function purgeSessions(db: Db, now: Date, idleBefore: Date): number {
  return db
    .delete(sessions)
    .where(or(lt(sessions.expiresAt, now), and(lt(sessions.lastSeenAt, idleBefore))))
    .run().changes;
}
