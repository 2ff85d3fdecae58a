import { existsSync } from 'node:fs';

/**
 * What entry points need before (or without) the full configuration: the error type listing
 * every bad variable, `.env` loading and the SQLite path of a DATABASE_URL. Kept apart from
 * config.ts so that `honeytrail --help` and other commands that need no configuration start
 * without loading the schema library.
 */

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Load `.env` from the working directory into the environment if it exists (variables already
 * set win). Called once by the entry points before `loadConfig`.
 */
export function loadDotEnv(path = '.env'): void {
  if (existsSync(path)) process.loadEnvFile(path);
}

/** Resolve the SQLite file path from DATABASE_URL (`file:./x.db`, `sqlite:x.db` or a bare path). */
export function sqlitePath(databaseUrl: string): string {
  if (/^(postgres|postgresql|mysql):/i.test(databaseUrl)) {
    throw new ConfigError([
      `DATABASE_URL: serving from ${databaseUrl.split(':')[0]} is not supported yet; use file:./path.db (honeytrail db copy --to postgres://... already moves a deployment; see docs/deployment.md)`,
    ]);
  }
  return databaseUrl.replace(/^(file|sqlite):(\/\/)?/i, '') || ':memory:';
}
