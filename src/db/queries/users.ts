import { asc, count, eq } from 'drizzle-orm';
import { nanoid } from 'nanoid';
import type { Db } from '../client.ts';
import { users } from '../schema.ts';

/** Admin UI accounts. Passwords arrive here already hashed (see admin/passwords.ts). */

/** An admin account row. */
export type UserRow = typeof users.$inferSelect;

/** Zero means first run: the setup link or ADMIN_EMAIL bootstrap applies. */
export function countUsers(db: Db): number {
  return db.select({ n: count() }).from(users).get()?.n ?? 0;
}

/** Create an admin; emails are stored lower-cased so sign-in is case-insensitive. */
export function insertUser(db: Db, email: string, passwordHash: string): UserRow {
  return db.insert(users).values({ id: nanoid(12), email: email.toLowerCase(), passwordHash, role: 'admin' }).returning().get();
}

/** The account for a sign-in attempt. */
export function findUserByEmail(db: Db, email: string): UserRow | undefined {
  return db.select().from(users).where(eq(users.email, email.toLowerCase())).get();
}

/** The account behind a session. */
export function getUser(db: Db, id: string): UserRow | undefined {
  return db.select().from(users).where(eq(users.id, id)).get();
}

/** Every admin, oldest first (the list is short). */
export function listUsers(db: Db): UserRow[] {
  return db.select().from(users).orderBy(asc(users.createdAt), asc(users.email)).all();
}

/** Delete an account; its sessions go with it (foreign key cascade). */
export function deleteUser(db: Db, id: string): boolean {
  return db.delete(users).where(eq(users.id, id)).run().changes > 0;
}

/** Record a successful sign-in, shown on the admins page. */
export function markLogin(db: Db, id: string): void {
  db.update(users).set({ lastLoginAt: new Date() }).where(eq(users.id, id)).run();
}
