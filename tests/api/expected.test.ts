import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { listAudit } from '../../src/db/queries/audit.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import { auth, makeToken, rawQuery, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { getFrom, waitFor } from '../alerts/support.ts';

/** /api/v1/expected-activity over HTTP, with real hits through the public listener. */
let s: TestServer | undefined;
afterEach(async () => {
  await s?.stop();
  s = undefined;
});

type Rule = { id: number; name: string; managedBy: string; stale: boolean; absorbed: { last7d: number; last30d: number; lastAt: string | null } };

describe('expected-activity API', () => {
  it('creates, lists with what each rule absorbed, flags a rule silent for 30 days, updates, deletes, audits; refuses what a rule may not be', async () => {
    s = await startTestServer({ TRUST_PROXY: 'loopback' });
    const app = createAdminApp(s.app.deps);
    const api = request(app);
    const { url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', name: 'share link', location: '\\\\fs01\\it\\links.url' });

    // Clear errors for what a rule may not be: nothing is stored.
    const bad = [
      [{ name: 'users only', users: ['svc-av'], decoys: ['*'] }, 'sources', 'say who'],
      [{ name: 'cred', sources: ['10.0.0.1'], decoys: ['*'], evidence: ['credential-used'] }, 'evidence', 'a planted credential used always alerts'],
      [{ name: 'nowhere', sources: ['10.0.0.1'], decoys: [] }, 'decoys', 'say which decoys'],
      [{ name: 'when', sources: ['10.0.0.1'], decoys: ['*'], schedule: 'nightly' }, 'schedule', 'must read like'],
      [{ name: 'kind', sources: ['10.0.0.1'], decoys: ['kind:nope'] }, 'decoys.0', '"nope" is not a kind'],
      [{ name: 'net', sources: ['10.0.0.0/33'], decoys: ['*'] }, 'sources.0', 'must be an IP address or CIDR'],
    ] as const;
    for (const [body, field, words] of bad) {
      const res = await api.post('/api/v1/expected-activity').set(auth).send(body);
      expect([res.status, res.body.error?.fields?.[field]], JSON.stringify(body)).toEqual([400, expect.stringContaining(words)]);
    }
    expect((await api.get('/api/v1/expected-activity').set(auth)).body.items).toEqual([]);

    const created = await api.post('/api/v1/expected-activity').set(auth).send({ name: 'link checker', sources: ['127.0.0.0/8'], decoys: ['\\\\FS01\\*'], tag: 'monitoring' });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/api/v1/expected-activity/${created.body.id}`);
    expect(created.body).toMatchObject({ name: 'link checker', enabled: true, evidence: ['touch'], managedBy: 'api', stale: false, absorbed: { last7d: 0, last30d: 0, lastAt: null } });
    expect((await api.post('/api/v1/expected-activity').set(auth).send({ name: 'link checker', sources: ['10.0.0.1'], decoys: ['*'] })).status).toBe(409);

    // Hits through the real listener, at once: the rule was added in this process, whose rule
    // cache drops its view on the change (other processes recheck within a second).
    for (let i = 0; i < 3; i++) expect(await getFrom(url ?? '', '127.0.0.1', { 'X-Forwarded-For': '127.0.0.1' })).toBe(200);
    await waitFor(async () => (await listHits(s!.app.deps.db, { limit: 10 })).length >= 3, 5000, 'three hits');
    const hits = await listHits(s.app.deps.db, { limit: 10 });
    expect(hits.map((h) => h.classification)).toEqual(['expected', 'expected', 'expected']);
    const one = (await api.get(`/api/v1/expected-activity/${created.body.id}`).set(auth)).body as Rule;
    expect(one.absorbed).toMatchObject({ last7d: 3, last30d: 3 });
    expect(Date.parse(one.absorbed.lastAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
    // The hits API says which rule.
    const listed = (await api.get('/api/v1/hits?classification=expected').set(auth)).body.items as { classification: string; expectedRuleId: number }[];
    expect(listed.every((h) => h.expectedRuleId === created.body.id)).toBe(true);

    // A rule that absorbed nothing for 30 days is flagged.
    const quiet = (await api.post('/api/v1/expected-activity').set(auth).send({ name: 'old AV job', hosts: ['AV01'], decoys: ['*'] })).body as Rule;
    await rawQuery(s.app.deps.db, `update expected_rules set created_at = ${s.config.DATABASE_URL.startsWith('postgres') ? "now() - interval '31 days'" : `${Date.now() - 31 * 86400_000}`} where id = ${quiet.id}`);
    const items = (await api.get('/api/v1/expected-activity').set(auth)).body.items as Rule[];
    expect(items.map((r) => [r.name, r.stale])).toEqual([
      ['link checker', false],
      ['old AV job', true],
    ]);

    // Update: the patched rule must still be a rule.
    expect((await api.patch(`/api/v1/expected-activity/${quiet.id}`).set(auth).send({ hosts: [] })).status).toBe(400);
    const patched = await api.patch(`/api/v1/expected-activity/${quiet.id}`).set(auth).send({ enabled: false, note: 'job retired' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ enabled: false, note: 'job retired', stale: false });
    expect((await api.delete(`/api/v1/expected-activity/${quiet.id}`).set(auth)).status).toBe(204);
    expect((await api.get(`/api/v1/expected-activity/${quiet.id}`).set(auth)).status).toBe(404);
    const audit = (await listAudit(s.app.deps.db, 50, 0)).filter((a) => a.action.startsWith('expected.')).map((a) => a.action);
    expect(audit.sort()).toEqual(['expected.create', 'expected.create', 'expected.delete', 'expected.update']);
  });

  it('loads EXPECTED_ACTIVITY_FILE at start: its rules are read-only through the API; an invalid file stops the start with the reason', async () => {
    const dir = tempDir();
    try {
      const file = join(dir.dir, 'rules.json');
      writeFileSync(file, JSON.stringify({ rules: [{ name: 'backup', sources: ['10.1.5.20'], decoys: ['\\\\FS01\\*'], schedule: 'daily 01:00-04:00 Europe/Berlin', tag: 'backup' }] }));
      s = await startTestServer({ EXPECTED_ACTIVITY_FILE: file });
      const api = request(createAdminApp(s.app.deps));
      const [rule] = (await api.get('/api/v1/expected-activity').set(auth)).body.items as Rule[];
      expect(rule).toMatchObject({ name: 'backup', managedBy: 'file' });
      const refused = await api.patch(`/api/v1/expected-activity/${rule?.id}`).set(auth).send({ enabled: false });
      expect(refused.status).toBe(409);
      expect(refused.body.error.message).toBe('rule "backup" is managed by EXPECTED_ACTIVITY_FILE: change it in that file');
      expect((await api.delete(`/api/v1/expected-activity/${rule?.id}`).set(auth)).status).toBe(409);
      await s.stop();
      s = undefined;

      writeFileSync(file, '{"rules": [{"name": "x", "decoys": ["*"]}]}');
      const err = await startTestServer({ EXPECTED_ACTIVITY_FILE: file }).catch((e: unknown) => e);
      expect(String((err as Error).message)).toMatch(/rules\.json has 1 problem\(s\), no rule was changed:\n {2}rule 1 \("x"\): sources say who/);
    } finally {
      dir.cleanup();
    }
  });
});
