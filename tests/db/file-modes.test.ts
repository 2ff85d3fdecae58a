import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase } from '../../src/db/client.ts';
import { ensureInitialApiKey } from '../../src/server.ts';
import { silentLog, tempDir, testConfig } from '../helpers.ts';

/**
 * Files at rest (issue 15): the database, its WAL and shared-memory files hold planted secrets
 * and hit data, the first-run key file an API key. They are owner-only whatever the umask, and
 * an earlier version's 0644 files are tightened at start. SQLite only (PostgreSQL keeps its own files).
 */
const mode = (p: string) => statSync(p).mode & 0o777;
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe('files at rest', () => {
  it('creates the folder 0700 and the database, WAL and SHM 0600, under a permissive umask', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const data = join(t.dir, 'data', 'nested');
    const path = join(data, 'honeytrail.db');
    const old = process.umask(0o000);
    let db: ReturnType<typeof openDatabase> | undefined;
    try {
      db = openDatabase({ path });
      db.$client.exec("insert into settings (key, value, updated_at) values ('x', '1', 0)");
      expect(mode(data)).toBe(0o700);
      expect(mode(path)).toBe(0o600);
      expect(mode(`${path}-wal`)).toBe(0o600);
      expect(mode(`${path}-shm`)).toBe(0o600);
      const config = testConfig(t.dir, { DATA_DIR: join(t.dir, 'keys'), HONEYTRAIL_API_KEY: '' });
      const file = await ensureInitialApiKey(db, config, silentLog);
      expect(file).toBe(join(t.dir, 'keys', 'initial-api-key'));
      expect(mode(join(t.dir, 'keys'))).toBe(0o700);
      expect(mode(file ?? '')).toBe(0o600);
    } finally {
      process.umask(old);
      if (db) closeDatabase(db);
    }
  });

  it('tightens a 0644 database and WAL left by an earlier version', () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const path = join(t.dir, 'honeytrail.db');
    closeDatabase(openDatabase({ path }));
    writeFileSync(`${path}-wal`, '');
    chmodSync(path, 0o644);
    chmodSync(`${path}-wal`, 0o644);
    const db = openDatabase({ path });
    try {
      expect(mode(path)).toBe(0o600);
      expect(mode(`${path}-wal`)).toBe(0o600);
    } finally {
      closeDatabase(db);
    }
  });
});
