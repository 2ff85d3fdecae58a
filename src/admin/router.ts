import express, { Router, type ErrorRequestHandler } from 'express';
import type { AppDeps } from '../deps.ts';
import { AppError } from '../errors.ts';
import { accountPages } from './account-pages.ts';
import { adminPages } from './admin-pages.ts';
import { canFlags, sessionAccess } from './session-access.ts';
import { keyPages } from './key-pages.ts';
import { assetPages } from './asset-pages.ts';
import { expectedPages } from './expected-pages.ts';
import { feedPages } from './feed-pages.ts';
import { auditPage } from './audit-page.ts';
import { authRoutes } from './auth-routes.ts';
import { FLASH, type UiContext } from './context.ts';
import { requireCsrf } from './csrf.ts';
import { dashboardPage } from './dashboard.ts';
import { exportPages } from './export-pages.ts';
import { incidentPages } from './incident-pages.ts';
import { loadSession, requireLogin, sessionOf } from './session.ts';
import { settingsPages } from './settings-pages.ts';
import { createLoginThrottle, type ThrottleOptions } from './throttle.ts';
import { readUploadForm, tokenPages } from './token-pages.ts';
import { ADMIN_STATIC, createViews } from './views.ts';

/** Tuning for the admin UI router. */
export interface AdminUiOptions {
  /** Login throttling limits (tests tighten them). */
  throttle?: ThrottleOptions;
}

/**
 * The server-rendered admin UI, mounted at `/` on the admin listener. Everything except the
 * stylesheet/script, /login and /setup needs a session; every POST needs the session's CSRF
 * token. Errors render as pages; the log keeps the cause.
 */
export function adminUi(deps: AppDeps, options: AdminUiOptions = {}): Router {
  const ui: UiContext = { deps, views: createViews() };
  const r = Router();
  r.use('/static', express.static(ADMIN_STATIC, { index: false, maxAge: '1h', fallthrough: false }));
  r.use(express.urlencoded({ extended: false, limit: '1mb', parameterLimit: 2000 }));
  r.use(loadSession(deps.db, deps.config));
  r.use((req, res, next) => {
    const s = sessionOf(res);
    if (s) {
      const access = sessionAccess(s.user, s.session, deps.config);
      res.locals.access = access;
      // Navigation and buttons follow the same table: what the role cannot do is not offered.
      if (access.state === 'session') {
        res.locals.me = s.user.email;
        res.locals.role = s.user.role;
        res.locals.can = canFlags(access.permissions);
      }
    }
    res.locals.csrf = s?.session.csrfToken;
    const msg = typeof req.query.msg === 'string' && Object.hasOwn(FLASH, req.query.msg) ? FLASH[req.query.msg] : undefined;
    if (msg) res.locals.flash = msg;
    next();
  });
  r.use(authRoutes(ui, createLoginThrottle(options.throttle)));
  // The create form of a kind made from a document posts multipart/form-data; read it (signed in only) before the CSRF check.
  r.post('/tokens/new', readUploadForm(deps.config));
  r.use(requireCsrf);
  r.use(dashboardPage(ui), tokenPages(ui), incidentPages(ui), assetPages(ui), expectedPages(ui), feedPages(ui), accountPages(ui), adminPages(ui), keyPages(ui), settingsPages(ui), auditPage(ui), exportPages(ui));
  r.use(requireLogin, () => {
    throw new AppError('not_found', 'There is no page at this address.');
  });
  r.use(errorPage(ui));
  return r;
}

function errorPage(ui: UiContext): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const e = err as { type?: string; status?: number };
    const appErr =
      err instanceof AppError
        ? err
        : e?.type === 'entity.too.large'
          ? new AppError('payload_too_large', 'The form is too large.')
          : e?.status === 404
            ? new AppError('not_found', 'There is no file at this address.')
            : e?.status && e.status >= 400 && e.status < 500
              ? new AppError('invalid_request', 'The request could not be read.')
              : new AppError('internal', 'Something went wrong on our side; the details are in the server log.', undefined, { cause: err });
    if (appErr.code === 'internal') ui.deps.log.error({ err, method: req.method, path: req.path }, 'admin page failed');
    const fields = Object.entries(appErr.fields ?? {}).map(([field, message]) => ({ field, message }));
    ui.views.render(res, 'error', { title: `Error ${appErr.status}`, status: appErr.status, message: appErr.message, fields }, appErr.status);
  };
}
