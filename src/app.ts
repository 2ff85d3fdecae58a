import express, { type ErrorRequestHandler, type Express } from 'express';
import { guard } from './admin/guard.ts';
import { adminUi } from './admin/router.ts';
import { assetRoutes } from './api/assets.ts';
import { drillRoutes } from './api/drills.ts';
import { expectedRoutes } from './api/expected.ts';
import { incidentRoutes } from './api/incidents.ts';
import { requireApiKey, requireMetricsAuth } from './api/auth.ts';
import { exportRoutes } from './api/exports.ts';
import { intelRoutes } from './api/intel.ts';
import { metricsHandler } from './api/metrics.ts';
import { apiRoutes } from './api/routes.ts';
import { createPublicHandler } from './channels/http.ts';
import { compileTrust } from './channels/proxy.ts';
import { pingDatabase } from './db/client.ts';
import { pingPostgres } from './db/pg.ts';
import { isPg } from './db/store.ts';
import type { AppDeps } from './deps.ts';
import { AppError } from './errors.ts';

/**
 * The admin listener: JSON API under /api/v1 (bearer API keys), /healthz, and (later) the
 * server-rendered admin UI. It binds to 127.0.0.1 by default and is never reachable from
 * the public listener.
 */
export function createAdminApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', compileTrust(deps.config.TRUST_PROXY));
  app.use((_req, res, next) => {
    res.set({
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    });
    next();
  });

  // Metrics are counts only, but they show what tripped a decoy when: METRICS_TOKEN or an API key (README: Prometheus).
  app.get('/metrics', requireMetricsAuth(deps), guard('GET /metrics', true), metricsHandler(deps));
  app.get('/healthz', guard('GET /healthz', true), async (_req, res) => {
    const db = isPg(deps.db) ? await pingPostgres(deps.db) : pingDatabase(deps.db);
    // A hit that could not be stored in the last minute (disk full, read-only file) is an outage.
    const { lastFailureAt, lastFailure } = deps.recorder.stats;
    const failing = lastFailureAt !== null && Date.now() - lastFailureAt < 60_000;
    const ok = db && !failing;
    res.status(ok ? 200 : 503).json({
      status: ok ? 'ok' : 'degraded',
      database: db ? 'ok' : 'unreachable',
      recording: failing ? `failing: ${lastFailure}` : 'ok',
    });
  });

  app.use('/api/v1', requireApiKey(deps), intelRoutes(deps));
  app.use(
    '/api/v1',
    express.json({ limit: '256kb' }),
    express.text({ type: ['text/csv', 'text/plain'], limit: '2mb' }),
    requireApiKey(deps),
    apiRoutes(deps),
    assetRoutes(deps),
    expectedRoutes(deps),
    drillRoutes(deps),
    exportRoutes(deps),
    incidentRoutes(deps),
  );
  app.use('/api', (_req, _res, next) => next(new AppError('not_found', 'no such API route')));
  app.use(adminUi(deps));
  app.use(errorHandler(deps));
  return app;
}

/** The public listener's handler (plain node:http; see channels/http.ts for why). */
export const createPublicApp = createPublicHandler;

function errorHandler(deps: AppDeps): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const appErr = toAppError(err);
    if (appErr.code === 'internal') deps.log.error({ err, method: req.method, path: req.path }, 'admin request failed');
    else deps.log.debug({ code: appErr.code, path: req.path }, appErr.message);
    res.status(appErr.status).json({
      error: { code: appErr.code, message: appErr.message, ...(appErr.fields ? { fields: appErr.fields } : {}) },
    });
  };
}

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { type?: string; status?: number; message?: string };
  if (e?.type === 'entity.parse.failed') return new AppError('invalid_request', 'request body is not valid JSON', { '(body)': 'is not valid JSON' });
  if (e?.type === 'entity.too.large') return new AppError('payload_too_large', 'request body is too large (limit 256 kB)');
  if (e?.status && e.status >= 400 && e.status < 500) return new AppError('invalid_request', e.message ?? 'bad request');
  return new AppError('internal', 'internal error; see the server log', undefined, { cause: err });
}
