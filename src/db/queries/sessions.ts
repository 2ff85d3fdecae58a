import { and, eq, lt, or } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { sessions } from '../schema.ts';

/** Admin UI sessions. `id` is the sha256 of the cookie value, never the value itself. */

export type SessionRow = typeof sessions.$inferSelect;

export function insertSession(db: Db, row: Omit<typeof sessions.$inferInsert, 'createdAt'>): SessionRow {
  return db.insert(sessions).values(row).returning().get();
}

export function getSession(db: Db, idHash: string): SessionRow | undefined {
  return db.select().from(sessions).where(eq(sessions.id, idHash)).get();
}

export function touchSession(db: Db, idHash: string, at: Date): void {
  db.update(sessions).set({ lastSeenAt: at }).where(eq(sessions.id, idHash)).run();
}

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
