import { bootConfig, exitOnSignal, failStart } from './boot.ts';
import type { DnsProcessReady } from './listeners/dns-processes.ts';
import { createLogger } from './logger.ts';
import { startHoneytrail } from './server.ts';

/**
 * One of DNS_PROCESSES: the DNS listener alone, on the socket the main process shares through
 * node:cluster (src/listeners/dns-processes.ts), recording into the same PostgreSQL database.
 */
async function main(): Promise<void> {
  const config = bootConfig('honeytrail dns process');
  const log = createLogger(config.LOG_LEVEL).child({ dnsProcess: Number(process.argv[2] ?? 0) });
  const app = await startHoneytrail({ config, log });
  const dns = app.listeners.find((l) => l.name === 'dns');
  if (!dns) throw new Error('the DNS listener did not start');
  process.send?.({ honeytrail: 'dns-ready', address: dns.address } satisfies DnsProcessReady);
  exitOnSignal(log, 'honeytrail dns process', () => app.close());
  // The main process is gone (killed without stopping us): stop too rather than answer unsupervised.
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

main().catch(failStart('honeytrail dns process'));
