import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import { randomToken, readCookie, sessionOf, setCookie } from './session.ts';

/**
 * CSRF protection for every state-changing form. Signed-in forms carry the session's own
 * token (`_csrf`); the login and setup forms, which have no session yet, use a double-submit
 * cookie. Both are compared in constant time. SameSite=Strict cookies are a second fence.
 */

/** Name of the hidden form field carrying the token. */
export const CSRF_FIELD = '_csrf';
const PRE_COOKIE = 'ht_csrf';

/** Constant-time string equality (hashing first makes the lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length > 0;
}

function submitted(body: unknown): string {
  const v = (body as Record<string, unknown> | undefined)?.[CSRF_FIELD];
  return typeof v === 'string' ? v : '';
}

const refused = () => new AppError('forbidden', 'This form has expired or did not come from this site. Reload the page and try again.');

/**
 * Refuse POSTs from a session whose `_csrf` field does not match the session token. Without a
 * session the policy guard answers (sign in first); the public forms check their own token.
 */
export const requireCsrf: RequestHandler = (req, res, next) => {
  if (req.method !== 'POST') return next();
  const s = sessionOf(res);
  if (!s) return next();
  if (!safeEqual(submitted(req.body), s.session.csrfToken)) return next(refused());
  next();
};

/** Token for the pre-session forms (login, setup): reuse or set the double-submit cookie. */
export function preSessionToken(config: Config): RequestHandler {
  return (req, res, next) => {
    let token = readCookie(req, PRE_COOKIE);
    if (!token || !/^[\w-]{20,64}$/.test(token)) {
      token = randomToken(24);
      setCookie(res, config, req, PRE_COOKIE, token);
    }
    res.locals.csrf = token;
    next();
  };
}

/** Check a pre-session form against its cookie. */
export const requirePreSessionCsrf: RequestHandler = (req, _res, next) => {
  const cookie = readCookie(req, PRE_COOKIE) ?? '';
  if (!safeEqual(submitted(req.body), cookie)) return next(refused());
  next();
};
