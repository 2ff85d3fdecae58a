import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase } from '../../src/db/client.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import { getToken } from '../../src/db/queries/tokens.ts';
import { auth, makeToken, startTestServer, tempDir, testConfig } from '../helpers.ts';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe('persistence', () => {
  it('opens with WAL, foreign keys and a busy timeout, and keeps data across reopen', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const path = join(t.dir, 'h.db');
    const db = openDatabase({ path });
    expect(db.$client.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.$client.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.$client.pragma('busy_timeout', { simple: true })).toBe(5000);
    const { token } = await makeToken(db, testConfig(t.dir), { kind: 'redirect', name: 'kept', params: { target: 'https://a.example/' } });
    closeDatabase(db);

    const again = openDatabase({ path });
    expect(await getToken(again, token.id)).toMatchObject({ name: 'kept', params: { target: 'https://a.example/' } });
    closeDatabase(again);
  });

  it('a restarted server still has the token and its hits', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const first = await startTestServer({}, t.dir, { sqlite: true });
    const created = await fetch(`${first.adminUrl}/api/v1/tokens`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'web-bug', name: 'survivor' }),
    }).then((r) => r.json() as Promise<{ token: { id: string }; artifact: { url: string } }>);
    await fetch(created.artifact.url, { headers: { 'user-agent': 'before-restart' } });
    await first.stop();

    const second = await startTestServer({}, t.dir, { sqlite: true });
    try {
      const hits = await fetch(`${second.adminUrl}/api/v1/tokens/${created.token.id}/hits`, { headers: auth }).then(
        (r) => r.json() as Promise<{ items: { userAgent: string }[] }>,
      );
      expect(hits.items.map((h) => h.userAgent)).toEqual(['before-restart']);
      expect(await listHits(second.app.deps.db, { limit: 10 })).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });
});
