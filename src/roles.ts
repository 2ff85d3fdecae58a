import type { Config } from './config.ts';

/**
 * The parts one Honeytrail process can play. A single process plays them all (the default);
 * a larger deployment splits them across machines, e.g. `serve --only public,dns` on edge
 * nodes, `serve --only admin` next to the security team, `serve --only worker` for alerts.
 */
export const ROLES = {
  public: 'PUBLIC_ENABLED',
  dns: 'DNS_ENABLED',
  smtp: 'SMTP_ENABLED',
  admin: 'ADMIN_ENABLED',
  worker: 'ALERT_WORKER_ENABLED',
} as const;
export type Role = keyof typeof ROLES;

/** The environment switches for `--only a,b`: the named roles on, every other one off. Throws RangeError on an unknown or empty list. */
export function roleSwitches(only: string): Record<string, string> {
  const wanted = only.split(',').map((r) => r.trim().toLowerCase()).filter(Boolean);
  const unknown = wanted.filter((r) => !(r in ROLES));
  if (wanted.length === 0 || unknown.length) {
    throw new RangeError(`${unknown.length ? `unknown role ${unknown.map((u) => `"${u}"`).join(', ')}` : 'name at least one role'} (roles: ${Object.keys(ROLES).join(', ')})`);
  }
  return Object.fromEntries(Object.entries(ROLES).map(([role, env]) => [env, String(wanted.includes(role))]));
}

/** Roles a configuration turns on. */
export function activeRoles(config: Config): Role[] {
  return (Object.entries(ROLES) as [Role, keyof Config][]).filter(([, env]) => config[env] === true).map(([role]) => role);
}
