import { and, asc, count, eq, isNull, lt, ne, or } from 'drizzle-orm';
import { nanoid } from 'nanoid';
import type { UserRole, users } from '../schema.ts';
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
  return insertedRow(await q.insert(t.users).values({ id: nanoid(12), email: email.toLowerCase(), passwordHash, role: 'admin', passwordChangedAt: new Date() }).returning());
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

/** Create an account with a role (console "add admin", CLI `admin create --role`). */
export async function insertUserWithRole(db: AnyDb, email: string, passwordHash: string, role: UserRole): Promise<UserRow> {
  const { db: q, t } = shared(db);
  return insertedRow(await q.insert(t.users).values({ id: nanoid(12), email: email.toLowerCase(), passwordHash, role, passwordChangedAt: new Date() }).returning());
}

/** Change what an account may do and whether it must use a second factor. */
export async function updateUser(db: AnyDb, id: string, patch: Partial<Pick<UserRow, 'role' | 'mfaRequired'>>): Promise<UserRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.update(t.users).set(patch).where(eq(t.users.id, id)).returning();
  return row;
}

/** A new password hash (own change, admin reset, CLI reset); other sessions of the account end. */
export async function setPassword(db: AnyDb, id: string, passwordHash: string, keepSession?: string): Promise<void> {
  const { db: q, t } = shared(db);
  await q.update(t.users).set({ passwordHash, passwordChangedAt: new Date() }).where(eq(t.users.id, id));
  await q.delete(t.sessions).where(keepSession ? and(eq(t.sessions.userId, id), ne(t.sessions.id, keepSession)) : eq(t.sessions.userId, id));
}

/** Turn TOTP on with its secret, the step of the code that proved it, and hashed recovery codes. */
export async function enableTotp(db: AnyDb, id: string, secret: string, step: number, recoveryHashes: string[]): Promise<void> {
  const { db: q, t } = shared(db);
  await q.update(t.users).set({ totpSecret: secret, totpEnabledAt: new Date(), totpLastStep: step, recoveryCodes: recoveryHashes }).where(eq(t.users.id, id));
}

/** Turn TOTP off (own choice, or an admin's reset for a lost phone). */
export async function clearTotp(db: AnyDb, id: string): Promise<void> {
  const { db: q, t } = shared(db);
  await q.update(t.users).set({ totpSecret: null, totpEnabledAt: null, totpLastStep: null, recoveryCodes: [] }).where(eq(t.users.id, id));
}

/**
 * Accept a TOTP step once: only when it is newer than the last accepted one (compare-and-swap,
 * so two requests with the same code cannot both pass).
 */
export async function takeTotpStep(db: AnyDb, id: string, step: number): Promise<boolean> {
  const { db: q, t } = shared(db);
  const done = await q
    .update(t.users)
    .set({ totpLastStep: step })
    .where(and(eq(t.users.id, id), or(isNull(t.users.totpLastStep), lt(t.users.totpLastStep, step))))
    .returning({ id: t.users.id });
  return done.length > 0;
}

/** Replace the recovery codes (after one is used, or regenerated). */
export async function setRecoveryCodes(db: AnyDb, id: string, hashes: string[]): Promise<void> {
  const { db: q, t } = shared(db);
  await q.update(t.users).set({ recoveryCodes: hashes }).where(eq(t.users.id, id));
}
