import { asc, count, eq } from 'drizzle-orm';
import { nanoid } from 'nanoid';
import type { Db } from '../client.ts';
import { users } from '../schema.ts';

/** Admin UI accounts. Passwords arrive here already hashed (see admin/passwords.ts). */

export type UserRow = typeof users.$inferSelect;

export function countUsers(db: Db): number {
  return db.select({ n: count() }).from(users).get()?.n ?? 0;
}

export function insertUser(db: Db, email: string, passwordHash: string): UserRow {
  return db.insert(users).values({ id: nanoid(12), email: email.toLowerCase(), passwordHash, role: 'admin' }).returning().get();
}

export function findUserByEmail(db: Db, email: string): UserRow | undefined {
  return db.select().from(users).where(eq(users.email, email.toLowerCase())).get();
}

export function getUser(db: Db, id: string): UserRow | undefined {
  return db.select().from(users).where(eq(users.id, id)).get();
}

export function listUsers(db: Db): UserRow[] {
  return db.select().from(users).orderBy(asc(users.createdAt), asc(users.email)).all();
}

/** Delete an account; its sessions go with it (foreign key cascade). */
export function deleteUser(db: Db, id: string): boolean {
  return db.delete(users).where(eq(users.id, id)).run().changes > 0;
}

export function markLogin(db: Db, id: string): void {
  db.update(users).set({ lastLoginAt: new Date() }).where(eq(users.id, id)).run();
}
