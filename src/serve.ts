import { ensureFirstAdmin } from './admin/setup.ts';
import { exitOnSignal } from './boot.ts';
import type { Config } from './config.ts';
import { preloadIpOwners } from './hits/ip-owner.ts';
import { createLogger } from './logger.ts';
import { activeRoles, ROLES } from './roles.ts';
import { ensureInitialApiKey, startHoneytrail } from './server.ts';

export { activeRoles, ROLES, roleSwitches, type Role } from './roles.ts';

/** Start the enabled listeners and worker, print where they are, and stop cleanly on SIGTERM/SIGINT. */
export async function serve(config: Config, program = 'honeytrail'): Promise<void> {
  const log = createLogger(config.LOG_LEVEL);
  const roles = activeRoles(config);
  if (roles.length === 0) throw new Error(`no role enabled (set at least one of ${Object.values(ROLES).join(', ')} to true)`);
  const app = await startHoneytrail({ config, log });
  // The offline IP-owner databases (half a second, ~15 MB) load now rather than on the first public source.
  void preloadIpOwners().catch((err: unknown) => log.warn({ err }, 'IP owner database not loaded; alerts will not name the owner of public sources'));
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
