import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

/**
 * Storage faults: the database refusing writes (read-only file, disk full). The listener must
 * answer like a broken web server (no crash, no stack trace), /healthz must say so, and
 * recording must resume by itself once the fault is gone.
 */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({}, undefined, { sqlite: true });
});
afterAll(() => s.stop());

const sqlite = () => s.app.deps.db.$client;

describe('storage faults', () => {
  it('a read-only database: hits get a bland 500, health turns 503, and recording resumes afterwards', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const admin = createAdminApp(s.app.deps);
    sqlite().pragma('query_only = ON'); // every write now fails with SQLITE_READONLY
    try {
      const res = await fetch(url ?? '');
      expect(res.status).toBe(500);
      expect(res.headers.get('server')).toBe('nginx');
      expect(await res.text()).toContain('<center>nginx</center>');
      const health = await request(admin).get('/healthz');
      expect(health.status).toBe(503);
      expect(health.body.recording).toMatch(/^failing: .*readonly/i);
    } finally {
      sqlite().pragma('query_only = OFF');
    }
    const again = await fetch(url ?? '', { headers: { 'user-agent': 'after-recovery' } });
    expect(again.status).toBe(200);
    expect((await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 })).map((h) => h.userAgent)).toEqual(['after-recovery']);
  });

  it('a full disk: the hit that does not fit fails alone and clearly; the next one after space returns is stored', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const pages = Number(sqlite().pragma('page_count', { simple: true }));
    sqlite().pragma('wal_checkpoint(TRUNCATE)');
    sqlite().pragma(`max_page_count = ${pages}`); // the file may not grow: SQLITE_FULL on the next new page
    const statuses: number[] = [];
    try {
      for (let i = 0; i < 40; i++) {
        const res = await fetch(url ?? '', { headers: { 'user-agent': `filler-${i}-${'x'.repeat(1500)}`, 'x-pad': 'p'.repeat(6000) } });
        statuses.push(res.status);
        if (res.status === 500) break;
      }
      expect(statuses).toContain(500);
      expect(s.app.deps.recorder.stats.lastFailure).toMatch(/full/i);
    } finally {
      sqlite().pragma('max_page_count = 4294967294');
    }
    const ok = await fetch(url ?? '', { headers: { 'user-agent': 'space-again' } });
    expect(ok.status).toBe(200);
    const stored = await listHits(s.app.deps.db, { tokenId: token.id, limit: 100 });
    expect(stored[0]?.userAgent).toBe('space-again');
    // Every answered request (200) is a stored row; the refused one (500) is not.
    expect(stored.length).toBe(statuses.filter((st) => st === 200).length + 1);
  });
});
