import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startHoneytrail } from '../../src/server.ts';

/**
 * Honeytrail's admin API on the scale bench's seeded database (bench/admin.ts), in a process of
 * its own so the RSS it reports is the server's. Arguments: database file, data folder, API key.
 */
const [file, dir, key] = process.argv.slice(2);
const config = loadConfig({
  DATABASE_URL: `file:${file}`,
  DATA_DIR: dir,
  PUBLIC_PORT: '0',
  ADMIN_PORT: '0',
  ADMIN_HOST: '127.0.0.1',
  PUBLIC_HOST: '127.0.0.1',
  HONEYTRAIL_API_KEY: key,
  LOG_LEVEL: 'warn',
  DNS_ENABLED: 'false',
  SMTP_ENABLED: 'false',
});
const app = await startHoneytrail({ config, log: createLogger('warn') });
process.send?.({ port: app.port('admin') });
process.on('message', (m) => {
  if (m === 'rss') process.send?.({ rss: process.memoryUsage().rss });
});
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
