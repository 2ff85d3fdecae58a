import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import type { AnyDb } from '../db/store.ts';
import { apiClient, type ApiClient } from './api-client.ts';

/** What every `honeytrail` command is: its help text, its options and what it runs. */
export interface Command {
  summary: string;
  usage: string;
  options: ParseArgsConfig['options'];
  run(args: { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] }): Promise<number>;
}

/** Wrong use of a command: printed with the command's usage, exit 2. */
export class UsageError extends Error {}

/** Options every command takes. */
export const GLOBAL = {
  server: { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export const out = (s: string) => process.stdout.write(`${s}\n`);
export const err = (s: string) => process.stderr.write(`${s}\n`);
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * An API client from --server/--api-key, the environment, or the first-run key file. The
 * configuration schema is loaded here, on first use, so `--help` and usage errors start fast.
 */
export async function connect(values: Record<string, unknown>): Promise<ApiClient> {
  const { loadCliEnv } = await import('../config.ts');
  const env = loadCliEnv();
  const server = typeof values.server === 'string' ? values.server : env.HONEYTRAIL_SERVER;
  let key = typeof values['api-key'] === 'string' ? values['api-key'] : env.HONEYTRAIL_API_KEY;
  const keyFile = join(env.DATA_DIR, 'initial-api-key');
  if (!key && existsSync(keyFile)) key = readFileSync(keyFile, 'utf8').trim();
  if (!key) throw new UsageError('no API key: pass --api-key or set HONEYTRAIL_API_KEY');
  return apiClient(server, key);
}

/** Run `fn` on the local database named by DATABASE_URL (for admin commands run on the server host). */
export async function withLocalDb(fn: (db: AnyDb) => Promise<void>): Promise<void> {
  const [{ openConfiguredDatabase }, { loadConfig }] = await Promise.all([import('../db/open.ts'), import('../config.ts')]);
  const { db, close } = await openConfiguredDatabase(loadConfig());
  try {
    await fn(db);
  } finally {
    await close();
  }
}
