import { createHash, randomBytes } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Config } from '../config.ts';
import { deleteSession, getSession, insertSession, purgeSessions, touchSession, type SessionRow } from '../db/queries/sessions.ts';
import { getUser, type UserRow } from '../db/queries/users.ts';
import type { AnyDb } from '../db/store.ts';

/**
 * Cookie sessions for the admin UI. The cookie holds 256 random bits; the database keeps only
 * their sha256, so a leaked database cannot be replayed as a login. A session ends after
 * `IDLE_MS` without requests or `ABSOLUTE_MS` after login, whichever comes first.
 */

/** Name of the session cookie. */
export const SESSION_COOKIE = 'ht_session';
/** Idle timeout. */
export const IDLE_MS = 30 * 60_000;
/** Absolute lifetime of a session, however active. */
export const ABSOLUTE_MS = 12 * 3600_000;
const TOUCH_EVERY_MS = 60_000;

/** What `loadSession` puts in `res.locals` for a signed-in request. */
export interface SessionLocals {
  user: UserRow;
  session: SessionRow;
}

const sha256 = (v: string): string => createHash('sha256').update(v).digest('hex');
/** A URL-safe random secret (session values, CSRF and setup tokens). */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');

/** Minimal Cookie header parser (names and values are ours: no quoting to handle). */
export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Secure cookies when the admin UI is served over HTTPS (directly or behind a trusted proxy). */
export function cookieSecure(config: Config, req: Request): boolean {
  return req.secure || config.ADMIN_URL.startsWith('https://');
}

/** Set one of our cookies: always HttpOnly and SameSite=Strict, Secure over HTTPS. */
export function setCookie(res: Response, config: Config, req: Request, name: string, value: string, maxAgeMs?: number): void {
  res.cookie(name, value, { httpOnly: true, sameSite: 'strict', secure: cookieSecure(config, req), path: '/', ...(maxAgeMs ? { maxAge: maxAgeMs } : {}) });
}

/** Expire one of our cookies with the same attributes it was set with. */
export function clearCookie(res: Response, config: Config, req: Request, name: string): void {
  res.clearCookie(name, { httpOnly: true, sameSite: 'strict', secure: cookieSecure(config, req), path: '/' });
}

/**
 * Start a session for `user` and set its cookie; a session the browser already had is dropped
 * (no fixation). `mfaPending`: the password was right, the second factor is still to come.
 */
export async function startSession(db: AnyDb, config: Config, req: Request, res: Response, user: UserRow, mfaPending = false): Promise<void> {
  const previous = readCookie(req, SESSION_COOKIE);
  if (previous) await deleteSession(db, sha256(previous));
  const value = randomToken();
  const now = Date.now();
  await insertSession(db, {
    id: sha256(value),
    userId: user.id,
    csrfToken: randomToken(),
    expiresAt: new Date(now + ABSOLUTE_MS),
    lastSeenAt: new Date(now),
    ip: req.ip ?? null,
    userAgent: (req.get('user-agent') ?? '').slice(0, 300),
    mfaPending,
  });
  await purgeSessions(db, new Date(now), new Date(now - IDLE_MS));
  setCookie(res, config, req, SESSION_COOKIE, value, ABSOLUTE_MS);
}

/** Sign out: delete the session row and expire the cookie. */
export async function endSession(db: AnyDb, config: Config, req: Request, res: Response): Promise<void> {
  const value = readCookie(req, SESSION_COOKIE);
  if (value) await deleteSession(db, sha256(value));
  clearCookie(res, config, req, SESSION_COOKIE);
}

/** Attach `res.locals.user` and `res.locals.session` when the cookie names a live session. */
export function loadSession(db: AnyDb, config: Config): RequestHandler {
  return async (req, res, next) => {
    const value = readCookie(req, SESSION_COOKIE);
    if (!value) return next();
    const id = sha256(value);
    const session = await getSession(db, id);
    const now = Date.now();
    const lastSeen = (session?.lastSeenAt ?? session?.createdAt)?.getTime() ?? 0;
    const user = session ? await getUser(db, session.userId) : undefined;
    if (!session || !user || user.disabledAt || session.expiresAt.getTime() <= now || lastSeen <= now - IDLE_MS) {
      if (session) await deleteSession(db, id);
      clearCookie(res, config, req, SESSION_COOKIE);
      return next();
    }
    if (lastSeen < now - TOUCH_EVERY_MS) await touchSession(db, id, new Date(now));
    res.locals.user = user;
    res.locals.session = session;
    next();
  };
}

/** The signed-in user and session, or undefined. */
export function sessionOf(res: Response): SessionLocals | undefined {
  const { user, session } = res.locals as Partial<SessionLocals>;
  return user && session ? { user, session } : undefined;
}

/** Pages behind login: anonymous visitors are sent to /login (and back afterwards). */
export const requireLogin: RequestHandler = (req, res, next) => {
  if (sessionOf(res)) return next();
  const back = req.method === 'GET' && req.originalUrl.startsWith('/') ? `?next=${encodeURIComponent(req.originalUrl)}` : '';
  res.redirect(303, `/login${back}`);
};
