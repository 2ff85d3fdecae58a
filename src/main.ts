import { ensureFirstAdmin } from './admin/setup.ts';
import { ConfigError, loadConfig, loadDotEnv } from './config.ts';
import { createLogger } from './logger.ts';
import { ensureInitialApiKey, startHoneytrail } from './server.ts';

/** Entry point: parse config, start listeners, shut down gracefully on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    loadDotEnv();
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`honeytrail: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
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
      keyFile ? `  API key   : written to ${keyFile}  ->  curl -H "Authorization: Bearer $(cat ${keyFile})" ${adminUrl}/api/v1/kinds` : '',
      '',
    ]
      .filter((l) => l !== '')
      .join('\n') + '\n',
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`honeytrail: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
