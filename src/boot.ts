import { ConfigError, loadConfig, loadDotEnv, type Config } from './config.ts';
import type { Logger } from './logger.ts';

/**
 * Shared start-up and shutdown for the entry points (server, worker, drill): read `.env` and the
 * environment, or print every problem and exit 2; stop cleanly once on SIGTERM/SIGINT.
 */
export function bootConfig(program: string): Config {
  try {
    loadDotEnv();
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${program}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** Run `close` once on the first SIGTERM or SIGINT, then exit 0 (1 if closing failed). */
export function exitOnSignal(log: Logger, what: string, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${what} stopping`);
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, `${what} failed to stop cleanly`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Report a start-up failure on stderr and exit 1. */
export function failStart(program: string) {
  return (err: unknown): never => {
    process.stderr.write(`${program}: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  };
}
