import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../src/config.ts';
import { openDatabase, type Db } from '../src/db/client.ts';
import type { AnyDb } from '../src/db/store.ts';
import { createLogger, type Logger } from '../src/logger.ts';
import { startHoneytrail, type Honeytrail } from '../src/server.ts';
import { createToken, type CreateTokenInput } from '../src/tokens/service.ts';
import type { TokenRow } from '../src/db/schema.ts';

/** A bootstrap API key used by tests (long enough to pass config validation). */
export const TEST_API_KEY = 'ht_test_key_0123456789abcdefghijklmnop';

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'honeytrail-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Config for tests: ephemeral ports on 127.0.0.1, a database file in `dir`, silent logs. */
export function testConfig(dir: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    DATABASE_URL: `file:${join(dir, 'honeytrail.db')}`,
    DATA_DIR: dir,
    PUBLIC_HOST: '127.0.0.1',
    PUBLIC_PORT: '0',
    ADMIN_HOST: '127.0.0.1',
    ADMIN_PORT: '0',
    DNS_HOST: '127.0.0.1',
    DNS_PORT: '0',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: '0',
    // The SSH listener makes host keys in each new data folder (seconds of CPU for RSA): the SSH tests turn it on.
    SSH_ENABLED: 'false',
    SSH_HOST: '127.0.0.1',
    SSH_PORT: '0',
    PGWIRE_HOST: '127.0.0.1',
    PGWIRE_PORT: '0',
    MYSQL_HOST: '127.0.0.1',
    MYSQL_PORT: '0',
    WIREGUARD_HOST: '127.0.0.1',
    WIREGUARD_PORT: '0',
    LOG_LEVEL: 'silent',
    HONEYTRAIL_API_KEY: TEST_API_KEY,
    NODE_ENV: 'test',
    // Tests drive the public listener from one address far faster than any intruder's tool
    // would be allowed to; the rate-limit tests (tests/hits/storage-budget.test.ts) set it.
    PUBLIC_RATE_LIMIT: '0',
    ...env,
  });
}

export const silentLog: Logger = createLogger('silent');

/** A freshly migrated database file in its own temp dir. */
export function testDb(): { db: Db; dir: string; cleanup: () => void } {
  const t = tempDir();
  const db = openDatabase({ path: join(t.dir, 'honeytrail.db') });
  return {
    db,
    dir: t.dir,
    cleanup: () => {
      if (db.$client.open) db.$client.close();
      t.cleanup();
    },
  };
}

/** A server on a SQLite test database, typed so (tests reach into it with SQLite-only helpers). */
export type SqliteHoneytrail = Omit<Honeytrail, 'deps'> & { deps: Omit<Honeytrail['deps'], 'db'> & { db: Db } };

export interface TestServer {
  app: SqliteHoneytrail;
  config: Config;
  dir: string;
  publicUrl: string;
  adminUrl: string;
  stop(): Promise<void>;
}

/**
 * Start the whole server on ephemeral ports. PUBLIC_URL is unknown until the public port is
 * bound, so the server is started once to learn it unless the caller sets PUBLIC_URL.
 */
export async function startTestServer(env: Record<string, string> = {}, dir?: string, opts: { sqlite?: boolean } = {}): Promise<TestServer> {
  const t = dir ? { dir, cleanup: () => {} } : tempDir();
  // TEST_DATABASE=postgres runs the servers of the suite on a throwaway PostgreSQL database each
  // (npm run test:pg); `sqlite` keeps a server on the SQLite file in its folder (tests about that file).
  const pg = process.env.TEST_DATABASE === 'postgres' && !env.DATABASE_URL && !opts.sqlite ? await (await import('./pg.ts')).createTestPg() : null;
  // The public port is chosen before binding (PUBLIC_URL names it); a port the caller chose is not retried.
  const { config, started } = await onFreePorts(async () => {
    const config = testConfig(t.dir, { PUBLIC_PORT: String((await freePort()).port), ...(pg ? { DATABASE_URL: pg.url } : {}), ...env });
    return { config, started: await startHoneytrail({ config, log: silentLog }) };
  }, env.PUBLIC_PORT ? 1 : 5).catch(async (err: unknown) => {
    // A server that refused to start (some tests expect that) leaves no database or folder behind.
    await pg?.drop();
    if (!dir) t.cleanup();
    throw err;
  });
  // Typed as SQLite for the tests that reach into it; on PostgreSQL only dialect-neutral code may touch it.
  const app = started as SqliteHoneytrail;
  return {
    app,
    config,
    dir: t.dir,
    publicUrl: `http://127.0.0.1:${app.port('public')}`,
    adminUrl: `http://127.0.0.1:${app.port('admin')}`,
    async stop() {
      await app.close();
      await pg?.drop();
      if (!dir) t.cleanup();
    },
  };
}

/**
 * Run `start`, which binds ports picked with freePort() beforehand, again when it fails with
 * EADDRINUSE: a parallel test can be handed a released port in between (at most `tries` runs).
 */
export async function onFreePorts<T>(start: () => Promise<T>, tries = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= tries || !/EADDRINUSE/.test(String((err as Error).cause ?? err))) throw err;
    }
  }
}

/** Ask the OS for a free TCP port on 127.0.0.1 (so PUBLIC_URL can name it before binding). */
export async function freePort(): Promise<{ port: number }> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve({ port }));
    });
  });
}

/** Factory: a token of `kind` with the kind's example params unless given. */
export async function makeToken(
  db: AnyDb,
  config: Config,
  input: Partial<CreateTokenInput> & { kind: string },
): Promise<{ token: TokenRow; url?: string }> {
  const { findKind } = await import('../src/tokens/registry.ts');
  const kind = findKind(input.kind);
  if (!kind) throw new Error(`unknown kind ${input.kind}`);
  // A kind made from an uploaded file gets the small file its contract names.
  const upload = kind.upload ? await kind.upload.example() : undefined;
  const { token, artifact } = await createToken(
    db,
    { config },
    { name: `test ${input.kind}`, params: kind.example, ...input },
    { id: 'test' },
    upload,
  );
  return { token, url: artifact.url };
}

export const auth = { Authorization: `Bearer ${TEST_API_KEY}` };

export { rawQuery } from '../src/db/store.ts';
