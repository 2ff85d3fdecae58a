import { ensureFirstAdmin } from './admin/setup.ts';
import { bootConfig, exitOnSignal, failStart } from './boot.ts';
import { createLogger } from './logger.ts';
import { ensureInitialApiKey, startHoneytrail } from './server.ts';

/** Entry point: parse config, start listeners, shut down gracefully on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = bootConfig('honeytrail');
  const log = createLogger(config.LOG_LEVEL);
  const app = await startHoneytrail({ config, log });
  const keyFile = ensureInitialApiKey(app.deps.db, config, log);

  const adminUrl = `http://${config.ADMIN_HOST}:${app.port('admin')}`;
  const firstRun = await ensureFirstAdmin(app.deps.db, config, log, config.ADMIN_PORT === 0 ? adminUrl : config.ADMIN_URL);
  process.stderr.write(
    [
      '',
      `Honeytrail is running.`,
      `  Admin API : ${adminUrl}/api/v1   (health: ${adminUrl}/healthz)`,
      `  Public    : ${config.PUBLIC_URL}  (token URLs are generated under this base)`,
      `  Admin UI  : ${adminUrl}/`,
      firstRun.kind === 'setup' ? `  First run : create the first admin at ${firstRun.url}  (one-time link, valid 24 h)` : '',
      firstRun.kind === 'bootstrapped' ? `  First run : admin ${firstRun.email} created from ADMIN_EMAIL` : '',
      config.DNS_ENABLED ? `  DNS       : ${config.DNS_HOST}:${app.port('dns')} (UDP+TCP), authoritative for ${config.DNS_ZONE}` : '',
      config.SMTP_ENABLED ? `  SMTP      : ${config.SMTP_HOST}:${app.port('smtp')}, mail for @${config.MAIL_DOMAIN} (email tokens)` : '',
      keyFile ? `  API key   : written to ${keyFile}  ->  curl -H "Authorization: Bearer $(cat ${keyFile})" ${adminUrl}/api/v1/kinds` : '',
      '',
    ]
      .filter((l) => l !== '')
      .join('\n') + '\n',
  );

  exitOnSignal(log, 'honeytrail', () => app.close());
}

main().catch(failStart('honeytrail'));
