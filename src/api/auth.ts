import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { findActiveApiKey, hashApiKey, markApiKeyUsed } from '../db/queries/api-keys.ts';
import type { AppDeps } from '../deps.ts';
import { AppError } from '../errors.ts';
import type { Actor } from '../tokens/service.ts';
import { scopePermissions, type Permission } from '../access.ts';
import type { Access } from '../admin/guard.ts';

/** Read the actor that the auth middleware attached. */
export function actorOf(locals: Record<string, unknown>): Actor {
  const actor = locals.actor as Actor | undefined;
  if (!actor) throw new AppError('unauthorized', 'authentication required');
  return actor;
}

/**
 * Bearer API keys: `Authorization: Bearer ht_…`. Keys are stored as sha256; the bootstrap key
 * from HONEYTRAIL_API_KEY is compared in constant time. A key's last use is recorded at most
 * once a minute so reads stay cheap.
 */
export function requireApiKey(deps: Pick<AppDeps, 'db' | 'config'>): RequestHandler {
  const bootstrap = deps.config.HONEYTRAIL_API_KEY ? Buffer.from(hashApiKey(deps.config.HONEYTRAIL_API_KEY), 'hex') : null;
  const lastMarked = new Map<string, number>();
  return async (req, res, next) => {
    if (res.locals.actor) return next();
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) {
      res.set('WWW-Authenticate', 'Bearer realm="honeytrail"');
      throw new AppError('unauthorized', header ? 'malformed Authorization header; expected "Bearer <api key>"' : 'missing API key: send "Authorization: Bearer <api key>"');
    }
    const key = match[1];
    const presented = Buffer.from(hashApiKey(key), 'hex');
    if (bootstrap && timingSafeEqual(presented, bootstrap)) {
      res.locals.actor = { id: 'api-key:bootstrap', ip: req.ip } satisfies Actor;
      res.locals.access = { permissions: scopePermissions(['*']), state: 'key', who: 'this API key' } satisfies Access;
      return next();
    }
    const row = await findActiveApiKey(deps.db, key);
    if (!row) {
      res.set('WWW-Authenticate', 'Bearer realm="honeytrail", error="invalid_token"');
      throw new AppError('unauthorized', 'invalid, expired or revoked API key');
    }
    const now = Date.now();
    if ((lastMarked.get(row.id) ?? 0) < now - 60_000) {
      lastMarked.set(row.id, now);
      await markApiKeyUsed(deps.db, row.id);
    }
    res.locals.actor = { id: `api-key:${row.id}`, ip: req.ip } satisfies Actor;
    res.locals.access = { permissions: scopePermissions(row.scopes), state: 'key', who: 'this API key' } satisfies Access;
    next();
  };
}

/**
 * GET /metrics: the counters tell an intruder which action tripped a decoy, so they need a
 * credential too: METRICS_TOKEN as a bearer (a scrape-only secret for Prometheus, compared in
 * constant time and never an API key), or any API key.
 */
export function requireMetricsAuth(deps: Pick<AppDeps, 'db' | 'config'>): RequestHandler {
  const token = deps.config.METRICS_TOKEN ? Buffer.from(hashApiKey(deps.config.METRICS_TOKEN), 'hex') : null;
  const apiKey = requireApiKey(deps);
  return (req, res, next) => {
    const presented = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
    if (token && presented && timingSafeEqual(Buffer.from(hashApiKey(presented), 'hex'), token)) {
      res.locals.actor = { id: 'metrics-token', ip: req.ip } satisfies Actor;
      res.locals.access = { permissions: new Set<Permission>(['metrics']), state: 'key', who: 'the metrics token' } satisfies Access;
      return next();
    }
    return apiKey(req, res, next);
  };
}
