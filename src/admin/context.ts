import type { Request, Response } from 'express';
import type { AppDeps } from '../deps.ts';
import type { Actor } from '../tokens/service.ts';
import { sessionOf } from './session.ts';
import type { Views } from './views.ts';

/** What every admin page module is built from. */
export interface UiContext {
  deps: AppDeps;
  views: Views;
}

/** The signed-in user as the domain services' Actor (`user:<email>`). */
export function uiActor(req: Request, res: Response): Actor {
  const s = sessionOf(res);
  return { id: s ? `user:${s.user.email}` : 'anonymous', ip: req.ip ?? null };
}

/**
 * Messages shown after a redirect (`?msg=<code>`). Only these fixed strings can appear, so a
 * crafted link cannot put text on the page.
 */
export const FLASH: Readonly<Record<string, string>> = {
  welcome: 'Welcome. Your admin account is ready.',
  logged_out: 'You are signed out.',
  saved: 'Changes saved.',
  deleted: 'Deleted.',
  enabled: 'Token enabled.',
  disabled: 'Token disabled.',
  bulk_done: 'Bulk action applied.',
  status_changed: 'Incident status updated.',
  asset_added: 'Asset added.',
  rule_added: 'Expected-activity rule added: matching hits are stored as expected from now on.',
  imported: 'Network map imported.',
  admin_added: 'Account added.',
  admin_removed: 'Account removed.',
  mfa_reset: 'Authenticator removed: they set up a new one at their next sign-in.',
  mfa_required: 'Set up an authenticator app to continue: a second factor is required for your account.',
  mfa_off: 'Sign-in with an authenticator app is off.',
  password_changed: 'Password changed. Your other sessions were signed out.',
  recovery_used: 'You signed in with a recovery code; it cannot be used again. Make new codes if few are left.',
  none_selected: 'Select at least one token first.',
  test_done: 'Test finished: the result is below.',
  key_revoked: 'API key revoked.',
  feed_pulled: 'Feed pulled: its counts and any error are below.',
  expired: 'Your session ended. Sign in again.',
};

/** Build `path?query` from defined, non-empty values (pagination and filter links). */
export function linkTo(path: string, params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '' && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** Offset pagination model for a table: page numbers and prev/next links. */
export function pager(path: string, params: Record<string, string | number | boolean | undefined | null>, page: number, perPage: number, total: number) {
  const pages = Math.max(1, Math.ceil(total / perPage));
  return {
    page,
    pages,
    total,
    prev: page > 1 ? linkTo(path, { ...params, page: page - 1 }) : null,
    next: page < pages ? linkTo(path, { ...params, page: page + 1 }) : null,
  };
}
