import { ROLE_PERMISSIONS, type Permission } from '../access.ts';
import type { Config } from '../config.ts';
import type { SessionRow } from '../db/queries/sessions.ts';
import type { UserRow } from '../db/queries/users.ts';
import type { Access } from './guard.ts';

/**
 * A session's access under the policy table: its role's permissions once both factors are in;
 * only the code page while the second factor is pending; only its own account page while a
 * required second factor is not set up yet (MFA_REQUIRED or the admin's own flag).
 */
export function sessionAccess(user: UserRow, session: SessionRow, config: Config): Access {
  if (session.mfaPending) return { permissions: new Set(), state: 'pending', who: user.role };
  if ((config.MFA_REQUIRED || user.mfaRequired) && !user.totpEnabledAt) return { permissions: new Set<Permission>(['signed-in']), state: 'enrol', who: user.role };
  return { permissions: new Set(ROLE_PERMISSIONS[user.role] ?? ROLE_PERMISSIONS.viewer), state: 'session', who: user.role };
}

/** Template flags (`can.tokens_write` …): one per permission, `:` and `-` as `_`. */
export function canFlags(permissions: ReadonlySet<Permission>): Record<string, boolean> {
  return Object.fromEntries([...permissions].map((p) => [p.replace(/[:-]/g, '_'), true]));
}
