import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Throwaway PostgreSQL databases for tests, on the server at PG_TEST_URL (default: the local
 * PostgreSQL on 127.0.0.1:5432, trust auth, user postgres). Each test database has a unique
 * name and is dropped again, connections and all.
 */
const ADMIN_URL = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestPg {
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function admin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface TestPgOptions {
  /**
   * Give the database an ICU collation such as `en-US` (a typical production setup, where
   * text sorts by locale rather than bytewise). @default the server's default collation
   */
  icuLocale?: string;
  /** The server to create it on (the benchmarks pass BENCH_PG_URL). @default PG_TEST_URL or the local server */
  adminUrl?: string;
  /** Database name prefix. @default 'ht_test' */
  prefix?: string;
}

export async function createTestPg(options: TestPgOptions = {}): Promise<TestPg> {
  const adminUrl = options.adminUrl ?? ADMIN_URL;
  const name = `${options.prefix ?? 'ht_test'}_${randomBytes(6).toString('hex')}`;
  const locale = options.icuLocale?.replace(/[^\w-]/g, '');
  await admin(adminUrl, (c) => c.query(locale ? `create database ${name} template template0 locale_provider icu icu_locale '${locale}' locale 'C.UTF-8'` : `create database ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => admin(adminUrl, (c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  };
}
