import { ensureFirstAdmin } from './admin/setup.ts';
import { exitOnSignal } from './boot.ts';
import type { Config } from './config.ts';
import { preloadIpOwners } from './hits/ip-owner.ts';
import { createLogger, type Logger } from './logger.ts';
import { startDnsProcesses, type DnsProcesses } from './listeners/dns-processes.ts';
import { bannerLine, bannerLines, LISTENERS } from './listeners/registry.ts';
import { activeRoles, ROLES } from './roles.ts';
import { ensureInitialApiKey, startHoneytrail, type Honeytrail } from './server.ts';

export { activeRoles, ROLES, roleSwitches, type Role } from './roles.ts';

/** Start the enabled listeners and worker, print where they are, and stop cleanly on SIGTERM/SIGINT. */
export async function serve(config: Config, program = 'honeytrail'): Promise<void> {
  const log = createLogger(config.LOG_LEVEL);
  const roles = activeRoles(config);
  if (roles.length === 0) throw new Error(`no role enabled (set at least one of ${Object.values(ROLES).join(', ')} to true)`);
  // DNS_PROCESSES > 1: DNS is answered by processes of its own, started once this one has migrated the database.
  const dnsApart = config.DNS_ENABLED && config.DNS_PROCESSES > 1;
  const app = await startHoneytrail({ config: dnsApart ? Object.freeze({ ...config, DNS_ENABLED: false }) : config, log });
  let dns: DnsProcesses | null = null;
  try {
    if (dnsApart) dns = await startDnsProcesses(config, log);
  } catch (err) {
    await app.close();
    throw err;
  }
  // The offline IP-owner databases (half a second, ~15 MB) load now rather than on the first public source.
  void preloadIpOwners().catch((err: unknown) => log.warn({ err }, 'IP owner database not loaded; alerts will not name the owner of public sources'));
  const lines = ['', `Honeytrail is running (${roles.join(', ')}).`];
  // One block per running listener, in registry order; the admin console's first-run notes follow its lines.
  for (const [i, entry] of app.entries.entries()) {
    const running = app.listeners[i];
    if (!running) continue;
    lines.push(...bannerLines(entry, config, running.address));
    if (entry.name === 'admin') lines.push(...(await firstRunLines(app, config, log, running.address.port)));
  }
  const dnsEntry = LISTENERS.find((l) => l.name === 'dns');
  if (dns && dnsEntry) lines.push(...bannerLines(dnsEntry, config, dns.address), bannerLine('', `answered by ${config.DNS_PROCESSES} processes (DNS_PROCESSES): ${dns.pids().join(', ')}`));
  if (config.ALERT_WORKER_ENABLED) lines.push('  Alerts    : delivered by this process (ALERT_WORKER_ENABLED)');
  else lines.push('  Alerts    : queued for a separate worker (honeytrail serve --only worker)');
  process.stderr.write(`${lines.join('\n')}\n\n`);
  exitOnSignal(log, program, async () => {
    await dns?.close();
    await app.close();
  });
}

/** The admin console's first-run notes: the one-time setup link and where the first API key was written. */
async function firstRunLines(app: Honeytrail, config: Config, log: Logger, adminPort: number): Promise<string[]> {
  const lines: string[] = [];
  const keyFile = await ensureInitialApiKey(app.deps.db, config, log);
  const adminUrl = `http://${config.ADMIN_HOST}:${adminPort}`;
  const firstRun = await ensureFirstAdmin(app.deps.db, config, log, config.ADMIN_PORT === 0 ? adminUrl : config.ADMIN_URL);
  if (firstRun.kind === 'setup') lines.push(`  First run : create the first admin at ${firstRun.url}  (one-time link, valid 24 h)`);
  if (firstRun.kind === 'bootstrapped') lines.push(`  First run : admin ${firstRun.email} created from ADMIN_EMAIL`);
  if (keyFile) lines.push(`  API key   : written to ${keyFile}  ->  curl -H "Authorization: Bearer $(cat ${keyFile})" ${adminUrl}/api/v1/kinds`);
  return lines;
}
