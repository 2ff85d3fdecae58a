import { parseArgs } from 'node:util';
import { runDrill } from '../alerts/drill.ts';
import { bootConfig } from '../boot.ts';
import { createLogger } from '../logger.ts';
import { openConfiguredDatabase } from '../db/open.ts';

/**
 * `npm run drill [-- --email a@x --webhook https://…]`: send a test alert through every
 * configured channel (ALERT_TO, WEBHOOK_URLS, plus the extra targets given) and print one
 * line per channel. Exits 0 when every channel accepted it, 1 otherwise, 2 on bad config.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({ options: { email: { type: 'string', multiple: true }, webhook: { type: 'string', multiple: true } } });
  const config = bootConfig('honeytrail drill');
  const log = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
  const { db, close } = await openConfiguredDatabase(config);
  try {
    const results = await runDrill({ db, config, log }, { emails: values.email ?? [], webhooks: values.webhook ?? [] });
    if (results.length === 0) {
      process.stderr.write('honeytrail drill: no channel configured (set ALERT_TO + SMTP_URL or WEBHOOK_URLS, or pass --email / --webhook)\n');
      return 1;
    }
    for (const r of results) {
      process.stdout.write(`${r.ok ? 'OK  ' : 'FAIL'} ${r.channel.padEnd(7)} ${r.target}${r.status ? `  (${r.status})` : ''}${r.error ? `  ${r.error}` : ''}\n`);
    }
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    await close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`honeytrail drill: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
