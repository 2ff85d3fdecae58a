import { defineConfig } from 'vitest/config';

/**
 * Suites whose behaviour depends on the database dialect: they run twice, on SQLite and with
 * every test server on a throwaway PostgreSQL database (TEST_DATABASE=postgres). Everything
 * else (artifact rendering, wire parsing, the browser, the CLI, faults of the SQLite file …)
 * runs once: its database is incidental. Suites that compare both dialects themselves
 * (tests/db, tests/hits/pg-concurrency, tests/cli/postgres-roles) run once too.
 */
const DIALECT_SUITES = [
  'tests/hits/{intrusions,paging,correlate,record-hit,flood,hit-log,storage-budget,expected,changes}.test.ts',
  'tests/alerts/**/*.test.ts',
  'tests/api/**/*.test.ts',
  'tests/admin/{pages,freshness}.test.ts',
  'tests/exports/**/*.test.ts',
  'tests/siem/**/*.test.ts',
  'tests/intel/**/*.test.ts',
  'tests/e2e/**/*.test.ts',
];

export default defineConfig({
  test: {
    pool: 'forks',
    // Most suites wait on sockets, child processes and real consumers rather than the CPU: more
    // workers than cores keep both cores busy.
    maxWorkers: 4,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    // The real programs and services the suites drive are there (or installed), before any test runs.
    globalSetup: ['tests/preflight.ts'],
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['tests/**/*.test.ts'] } },
      { extends: true, test: { name: 'postgres', include: DIALECT_SUITES, env: { TEST_DATABASE: 'postgres' } } },
    ],
  },
});
