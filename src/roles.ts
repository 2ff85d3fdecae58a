import type { Config } from './config.ts';
import { enableKey, LISTENERS, type ListenerEntry } from './listeners/registry.ts';

/**
 * The parts one Honeytrail process can play: every listener of the registry by its name, and
 * the alert worker. A single process plays them all (the default); a larger deployment splits
 * them across machines, e.g. `serve --only public,dns` (or `--only edge`, every attacker-facing
 * listener) on edge nodes, `serve --only admin` next to the security team, `serve --only worker`
 * for alerts.
 */
export const ROLES: Readonly<Record<string, string>> = Object.freeze({
  ...Object.fromEntries(LISTENERS.map((l) => [l.name, enableKey(l)])),
  worker: 'ALERT_WORKER_ENABLED',
});
export type Role = string;

/** Names `--only` accepts that stand for several roles. */
export const ROLE_GROUPS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  edge: LISTENERS.filter((l) => l.role === 'edge').map((l) => l.name),
});

/** Every name `--only` accepts, roles first. */
export const roleNames = (): string[] => [...Object.keys(ROLES), ...Object.keys(ROLE_GROUPS)];

/** The environment switches for `--only a,b`: the named roles on, every other one off. Throws RangeError on an unknown or empty list. */
export function roleSwitches(only: string): Record<string, string> {
  const named = only.split(',').map((r) => r.trim().toLowerCase()).filter(Boolean);
  const unknown = named.filter((r) => !(r in ROLES) && !(r in ROLE_GROUPS));
  if (named.length === 0 || unknown.length) {
    throw new RangeError(`${unknown.length ? `unknown role ${unknown.map((u) => `"${u}"`).join(', ')}` : 'name at least one role'} (roles: ${roleNames().join(', ')})`);
  }
  const wanted = new Set(named.flatMap((r) => ROLE_GROUPS[r] ?? [r]));
  return Object.fromEntries(Object.entries(ROLES).map(([role, env]) => [env, String(wanted.has(role))]));
}

/** Roles a configuration turns on, in registry order, the worker last. */
export function activeRoles(config: Config, list: readonly ListenerEntry[] = LISTENERS): Role[] {
  return [...list.filter((l) => l.enabled(config)).map((l) => l.name), ...(config.ALERT_WORKER_ENABLED ? ['worker'] : [])];
}
