import type { UserRole } from './db/schema.ts';

/**
 * Who may do what: ONE policy table for every admin page and every API endpoint. A route is
 * registered through `guardedRouter` (src/admin/guard.ts), which looks its `METHOD path` up
 * here and refuses to start when it is missing, so no route exists without a decision.
 * Roles and API key scopes are both sets of the permissions below: a key's scopes are the
 * permissions it was given, a person's are their role's.
 */

/** What a route needs. `public`: nobody signed in; `signed-in`: any role (one's own account). */
export const PERMISSIONS = [
  'public',
  'signed-in',
  'tokens:read',
  'tokens:write',
  'incidents:read',
  'incidents:write',
  'assets:read',
  'assets:write',
  'intel:read',
  'intel:write',
  'alerts:read',
  'alerts:test',
  'settings',
  'users',
  'keys',
  'audit',
  'metrics',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const READ: readonly Permission[] = ['tokens:read', 'incidents:read', 'assets:read', 'intel:read', 'alerts:read'];
const RESPOND: readonly Permission[] = [...READ, 'tokens:write', 'incidents:write', 'assets:write', 'intel:write'];

/** What each role may do: viewer reads; responder also works incidents, tokens, the network map and intel; admin does everything. */
export const ROLE_PERMISSIONS: Readonly<Record<UserRole, readonly Permission[]>> = {
  viewer: ['signed-in', ...READ],
  responder: ['signed-in', ...RESPOND],
  admin: PERMISSIONS.filter((p) => p !== 'public' && p !== 'metrics'),
};

/** API key scope presets offered in the console (a key holds the permissions, not the preset name). */
export const KEY_PRESETS = {
  read: { label: 'Read only (SIEM pull: tokens, hits, incidents, exports)', scopes: READ },
  plant: { label: 'Plant tokens (automation: create, change, retire tokens)', scopes: ['tokens:read', 'tokens:write'] },
  responder: { label: 'Responder (tokens, incidents, network map, intel)', scopes: RESPOND },
  full: { label: 'Full access (everything, including alert drills)', scopes: ['*'] },
} as const satisfies Record<string, { label: string; scopes: readonly (Permission | '*')[] }>;
export type KeyPreset = keyof typeof KEY_PRESETS;

/** The permissions an API key's stored scopes grant (`*`: every one, as keys made before scopes had). */
export function scopePermissions(scopes: readonly string[]): ReadonlySet<Permission> {
  if (scopes.includes('*')) return new Set<Permission>([...ROLE_PERMISSIONS.admin, 'metrics']);
  // Any key may be scraped with, as before scopes (the counts are no secret to a key holder).
  return new Set(PERMISSIONS.filter((p) => p === 'metrics' || (p !== 'public' && p !== 'signed-in' && scopes.includes(p))));
}

/** The preset a key's scopes match, for display; null for a custom set. */
export function presetOf(scopes: readonly string[]): KeyPreset | null {
  const key = [...scopes].sort().join(',');
  for (const [name, p] of Object.entries(KEY_PRESETS)) if ([...p.scopes].sort().join(',') === key) return name as KeyPreset;
  return null;
}

/**
 * The policy table: `METHOD path` as the route is registered (API routes under `/api/v1`).
 * tests/admin/policy.test.ts walks the app and fails on a route without an entry or an entry
 * without a route, then tries every route as every role.
 */
export const POLICY = {
  // Listener-level (/metrics: METRICS_TOKEN or any API key, see api/auth.ts)
  'GET /healthz': 'public',
  'GET /metrics': 'metrics',
  // Sign-in and first run
  'GET /login': 'public',
  'POST /login': 'public',
  'GET /login/mfa': 'public',
  'POST /login/mfa': 'public',
  'POST /logout': 'signed-in',
  'GET /setup': 'public',
  'POST /setup': 'public',
  // One's own account
  'GET /account': 'signed-in',
  'POST /account/password': 'signed-in',
  'GET /account/mfa': 'signed-in',
  'POST /account/mfa': 'signed-in',
  'GET /account/mfa/disable': 'signed-in',
  'POST /account/mfa/disable': 'signed-in',
  'POST /account/recovery-codes': 'signed-in',
  'GET /account/recovery-codes': 'signed-in',
  // Console pages
  'GET /': 'incidents:read',
  'GET /tokens': 'tokens:read',
  'POST /tokens/bulk': 'tokens:write',
  'GET /tokens/new': 'tokens:write',
  'POST /tokens/new': 'tokens:write',
  'GET /tokens/:id/created': 'tokens:read',
  'GET /tokens/:id': 'tokens:read',
  'POST /tokens/:id': 'tokens:write',
  'POST /tokens/:id/state': 'tokens:write',
  'GET /tokens/:id/delete': 'tokens:write',
  'POST /tokens/:id/delete': 'tokens:write',
  'GET /tokens/:id/download': 'tokens:read',
  'GET /tokens/:id/rotate': 'tokens:write',
  'POST /tokens/:id/rotate': 'tokens:write',
  'GET /incidents': 'incidents:read',
  'GET /incidents/:id': 'incidents:read',
  'POST /incidents/:id/status': 'incidents:write',
  'GET /assets': 'assets:read',
  'POST /assets': 'assets:write',
  'POST /assets/import': 'assets:write',
  'GET /assets/:id': 'assets:read',
  'POST /assets/:id': 'assets:write',
  'GET /assets/:id/delete': 'assets:write',
  'POST /assets/:id/delete': 'assets:write',
  'GET /admins': 'users',
  'POST /admins': 'users',
  'GET /admins/:id': 'users',
  'POST /admins/:id': 'users',
  'GET /admins/:id/delete': 'users',
  'POST /admins/:id/delete': 'users',
  'POST /admins/:id/password': 'users',
  'GET /admins/password/:ref': 'users',
  'POST /admins/:id/mfa-reset': 'users',
  'GET /api-keys': 'keys',
  'POST /api-keys': 'keys',
  'GET /api-keys/created/:ref': 'keys',
  'GET /api-keys/:id/revoke': 'keys',
  'POST /api-keys/:id/revoke': 'keys',
  'GET /settings': 'settings',
  'POST /settings/test-email': 'settings',
  'POST /settings/test-webhook': 'settings',
  'POST /settings/drill': 'settings',
  'POST /settings/scenario': 'settings',
  'GET /settings/drills/:id': 'settings',
  'GET /audit': 'audit',
  'GET /expected-activity': 'alerts:read',
  'POST /expected-activity': 'settings',
  'GET /expected-activity/:id': 'alerts:read',
  'POST /expected-activity/:id': 'settings',
  'GET /expected-activity/:id/delete': 'settings',
  'POST /expected-activity/:id/delete': 'settings',
  'GET /export/hits': 'tokens:read',
  'GET /export/incidents': 'incidents:read',
  // JSON API v1
  'GET /api/v1/kinds': 'tokens:read',
  'POST /api/v1/tokens': 'tokens:write',
  'GET /api/v1/tokens': 'tokens:read',
  'GET /api/v1/tokens/:id': 'tokens:read',
  'PATCH /api/v1/tokens/:id': 'tokens:write',
  'DELETE /api/v1/tokens/:id': 'tokens:write',
  'GET /api/v1/tokens/:id/artifact': 'tokens:read',
  'GET /api/v1/tokens/:id/hits': 'tokens:read',
  'POST /api/v1/tokens/:id/rotate': 'tokens:write',
  'POST /api/v1/tokens/:id/verification': 'tokens:write',
  'GET /api/v1/freshness': 'tokens:read',
  'GET /api/v1/hits': 'tokens:read',
  'GET /api/v1/assets': 'assets:read',
  'POST /api/v1/assets': 'assets:write',
  'POST /api/v1/assets/import': 'assets:write',
  'GET /api/v1/assets/:id': 'assets:read',
  'PATCH /api/v1/assets/:id': 'assets:write',
  'DELETE /api/v1/assets/:id': 'assets:write',
  'GET /api/v1/exports/hits': 'tokens:read',
  'GET /api/v1/exports/incidents': 'incidents:read',
  'GET /api/v1/incidents': 'incidents:read',
  'GET /api/v1/incidents/:id': 'incidents:read',
  'PATCH /api/v1/incidents/:id': 'incidents:write',
  'GET /api/v1/alerts': 'alerts:read',
  'POST /api/v1/alerts/test': 'alerts:test',
  'GET /api/v1/drills': 'alerts:read',
  'POST /api/v1/drills': 'alerts:test',
  'GET /api/v1/drills/:id': 'alerts:read',
  'DELETE /api/v1/drills/:id': 'alerts:test',
  'POST /api/v1/intel/import': 'intel:write',
  'GET /api/v1/intel': 'intel:read',
  'DELETE /api/v1/intel': 'intel:write',
  // Expected activity silences paging: reading is for anyone who reads alerts, changing it is an admin's.
  'GET /api/v1/expected-activity': 'alerts:read',
  'POST /api/v1/expected-activity': 'settings',
  'GET /api/v1/expected-activity/:id': 'alerts:read',
  'PATCH /api/v1/expected-activity/:id': 'settings',
  'DELETE /api/v1/expected-activity/:id': 'settings',
} as const satisfies Record<string, Permission>;
export type RouteKey = keyof typeof POLICY;

/** The permission a route needs, or undefined when the table has no entry for it. */
export function policyFor(key: string): Permission | undefined {
  return Object.hasOwn(POLICY, key) ? POLICY[key as RouteKey] : undefined;
}
