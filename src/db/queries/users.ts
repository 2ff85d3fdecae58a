import { asc, count, eq } from 'drizzle-orm';
import { nanoid } from 'nanoid';
import type { users } from '../schema.ts';
import { type AnyDb, insertedRow, shared } from '../store.ts';

/** Admin UI accounts. Passwords arrive here already hashed (see admin/passwords.ts). */

/** An admin account row. */
export type UserRow = typeof users.$inferSelect;

/** Zero means first run: the setup link or ADMIN_EMAIL bootstrap applies. */
export async function countUsers(db: AnyDb): Promise<number> {
  const { db: q, t } = shared(db);
  const [row] = await q.select({ n: count() }).from(t.users);
  return row?.n ?? 0;
}

/** Create an admin; emails are stored lower-cased so sign-in is case-insensitive. */
export async function insertUser(db: AnyDb, email: string, passwordHash: string): Promise<UserRow> {
  const { db: q, t } = shared(db);
  return insertedRow(await q.insert(t.users).values({ id: nanoid(12), email: email.toLowerCase(), passwordHash, role: 'admin' }).returning());
}

/** The account for a sign-in attempt. */
export async function findUserByEmail(db: AnyDb, email: string): Promise<UserRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.users).where(eq(t.users.email, email.toLowerCase())).limit(1);
  return row;
}

/** The account behind a session. */
export async function getUser(db: AnyDb, id: string): Promise<UserRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.users).where(eq(t.users.id, id)).limit(1);
  return row;
}

/** Every admin, oldest first (the list is short). */
export async function listUsers(db: AnyDb): Promise<UserRow[]> {
  const { db: q, t } = shared(db);
  return q.select().from(t.users).orderBy(asc(t.users.createdAt), asc(t.users.email));
}

/** Delete an account; its sessions go with it (foreign key cascade). */
export async function deleteUser(db: AnyDb, id: string): Promise<boolean> {
  const { db: q, t } = shared(db);
  const gone = await q.delete(t.users).where(eq(t.users.id, id)).returning({ id: t.users.id });
  return gone.length > 0;
}

/** Record a successful sign-in, shown on the admins page. */
export async function markLogin(db: AnyDb, id: string): Promise<void> {
  const { db: q, t } = shared(db);
  await q.update(t.users).set({ lastLoginAt: new Date() }).where(eq(t.users.id, id));
}
