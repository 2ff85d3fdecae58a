import { Router, type RequestHandler, type Response } from 'express';
import { policyFor, type Permission } from '../access.ts';
import { AppError } from '../errors.ts';

/**
 * Enforcement of the policy table (src/access.ts). Every admin page and API route is registered
 * through `guardedRouter`, which puts `guard(METHOD path)` in front of its handlers; a route the
 * table does not name fails the start-up, so nothing is reachable without a decision.
 */

/** What the request may do, set by the session (admin UI) or the API key middleware. */
export interface Access {
  permissions: ReadonlySet<Permission>;
  /** `pending`: password checked, code not yet; `enrol`: must set up a second factor first. */
  state: 'session' | 'pending' | 'enrol' | 'key';
  /** Who, for the refusal message: a role name or "this API key". */
  who: string;
}

/** The request's access, when signed in or holding a key. */
export function accessOf(res: Response): Access | undefined {
  return (res.locals as { access?: Access }).access;
}

/** Marks guard middleware so tests can check that every route has one. */
export const GUARD = Symbol('policy guard');
type Guard = RequestHandler & { [GUARD]: { key: string; permission: Permission } };

/** The middleware enforcing one table entry; throws at start-up when the table has none for `key`. */
export function guard(key: string, api: boolean): Guard {
  const permission = policyFor(key);
  if (!permission) throw new Error(`no policy entry for "${key}" in src/access.ts: every route needs one`);
  const handler: RequestHandler = (req, res, next) => {
    if (permission === 'public') return next();
    const access = accessOf(res);
    if (!access) {
      if (api) return next(new AppError('unauthorized', 'authentication required'));
      const back = req.method === 'GET' && req.originalUrl.startsWith('/') ? `?next=${encodeURIComponent(req.originalUrl)}` : '';
      return res.redirect(303, `/login${back}`);
    }
    if (access.state === 'pending') return res.redirect(303, '/login/mfa');
    if (access.permissions.has(permission)) return next();
    if (access.state === 'enrol') return res.redirect(303, '/account/mfa?msg=mfa_required');
    next(new AppError('forbidden', api ? `This API key may not do this (it needs the ${permission} scope).` : `Your role (${access.who}) cannot open this page or do this; ask an admin if you need to.`));
  };
  return Object.assign(handler, { [GUARD]: { key, permission } });
}

const METHODS = ['get', 'post', 'patch', 'delete', 'put'] as const;

/**
 * A Router whose `get/post/patch/delete/put(path, …)` put the policy guard of
 * `METHOD <prefix><path>` first. `prefix` is where the router is mounted (`/api/v1` for the API).
 */
export function guardedRouter(prefix = ''): Router {
  const r = Router();
  const api = prefix.startsWith('/api');
  for (const m of METHODS) {
    const original = r[m].bind(r) as (path: string, ...handlers: RequestHandler[]) => Router;
    const wrapped = (path: string, ...handlers: RequestHandler[]) => original(path, guard(`${m.toUpperCase()} ${prefix}${path}`, api), ...handlers);
    Object.assign(r, { [m]: wrapped });
  }
  return r;
}
