import { ensureFirstAdmin } from './admin/setup.ts';
import { exitOnSignal } from './boot.ts';
import type { Config } from './config.ts';
import { createLogger } from './logger.ts';
import { ensureInitialApiKey, startHoneytrail } from './server.ts';

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

/** Start the enabled listeners and worker, print where they are, and stop cleanly on SIGTERM/SIGINT. */
export async function serve(config: Config, program = 'honeytrail'): Promise<void> {
  const log = createLogger(config.LOG_LEVEL);
  const roles = activeRoles(config);
  if (roles.length === 0) throw new Error(`no role enabled (set at least one of ${Object.values(ROLES).join(', ')} to true)`);
  const app = await startHoneytrail({ config, log });
  const lines = ['', `Honeytrail is running (${roles.join(', ')}).`];
  if (config.ADMIN_ENABLED) {
    const keyFile = await ensureInitialApiKey(app.deps.db, config, log);
    const adminUrl = `http://${config.ADMIN_HOST}:${app.port('admin')}`;
    const firstRun = await ensureFirstAdmin(app.deps.db, config, log, config.ADMIN_PORT === 0 ? adminUrl : config.ADMIN_URL);
    lines.push(`  Admin API : ${adminUrl}/api/v1   (health: ${adminUrl}/healthz)`, `  Admin UI  : ${adminUrl}/`);
    if (firstRun.kind === 'setup') lines.push(`  First run : create the first admin at ${firstRun.url}  (one-time link, valid 24 h)`);
    if (firstRun.kind === 'bootstrapped') lines.push(`  First run : admin ${firstRun.email} created from ADMIN_EMAIL`);
    if (keyFile) lines.push(`  API key   : written to ${keyFile}  ->  curl -H "Authorization: Bearer $(cat ${keyFile})" ${adminUrl}/api/v1/kinds`);
  }
  if (config.PUBLIC_ENABLED) lines.push(`  Public    : ${config.PUBLIC_HOST}:${app.port('public')}, token URLs under ${config.PUBLIC_URL}`);
  if (config.DNS_ENABLED) lines.push(`  DNS       : ${config.DNS_HOST}:${app.port('dns')} (UDP+TCP), authoritative for ${config.DNS_ZONE}`);
  if (config.SMTP_ENABLED) lines.push(`  SMTP      : ${config.SMTP_HOST}:${app.port('smtp')}, mail for @${config.MAIL_DOMAIN} (email tokens)`);
  if (config.ALERT_WORKER_ENABLED) lines.push('  Alerts    : delivered by this process (ALERT_WORKER_ENABLED)');
  else lines.push('  Alerts    : queued for a separate worker (honeytrail serve --only worker)');
  process.stderr.write(`${lines.join('\n')}\n\n`);
  exitOnSignal(log, program, () => app.close());
}
