import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCheckpointer } from '../../src/db/checkpointer.ts';
import { openDatabase, closeDatabase } from '../../src/db/client.ts';
import { silentLog, tempDir } from '../helpers.ts';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe('WAL checkpointer', () => {
  it('copies WAL pages into the database file from a worker thread, not the writer', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const path = join(t.dir, 'h.db');
    const db = openDatabase({ path });
    const checkpointer = startCheckpointer(db, path, silentLog, 100);
    expect(db.$client.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const before = statSync(path).size;
    const insert = db.$client.prepare("insert into settings (key, value) values (?, '\"x\"')");
    db.$client.transaction(() => {
      for (let i = 0; i < 5000; i++) insert.run(`key-${i}-${'p'.repeat(200)}`);
    })();
    // The writer never checkpoints (auto-checkpoint is off); only the worker can grow the main file.
    let after = statSync(path).size;
    for (let i = 0; i < 50 && after <= before; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = statSync(path).size;
    }
    expect(after).toBeGreaterThan(before);
    await checkpointer?.close();
    closeDatabase(db);
  });
});
