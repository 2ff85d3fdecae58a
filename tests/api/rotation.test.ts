import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { listAudit } from '../../src/db/queries/audit.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import { updateToken } from '../../src/db/queries/tokens.ts';
import { getFrom, waitFor } from '../alerts/support.ts';
import { auth, startTestServer, type TestServer } from '../helpers.ts';

/** Rotation and freshness through the API, with real hits through the public listener. */
let s: TestServer | undefined;
afterEach(async () => {
  await s?.stop();
  s = undefined;
});

const DAY = 86_400_000;

describe('token rotation', () => {
  it('makes a new generation for the same placement, says what to replace, and the old artifact still fires as stale', async () => {
    s = await startTestServer();
    const api = request(createAdminApp(s.app.deps));
    const expiresAt = new Date(Date.now() + 30 * DAY).toISOString();
    const created = await api
      .post('/api/v1/tokens')
      .set(auth)
      .send({ kind: 'api-key', name: 'payments env', location: '/srv/app/payments', plantedHost: 'APP01', tags: ['prod'], params: { format: 'env', service: 'Payments' }, plantedFile: '.env.production', rotateEveryDays: 90, expiresAt });
    expect(created.status).toBe(201);
    const old = created.body.token as { id: string; params: { key: string }; generation: number; rotationDueAt: string; artifact?: unknown };
    expect(old).toMatchObject({ generation: 1, rotateEveryDays: 90, plantedFile: '.env.production', rotationDueAt: expiresAt });

    const rotated = await api.post(`/api/v1/tokens/${old.id}/rotate`).set(auth).send({});
    expect(rotated.status).toBe(201);
    const { token, previous, artifact, replace } = rotated.body;
    expect(token.id).not.toBe(old.id);
    expect(token).toMatchObject({ kind: 'api-key', name: 'payments env', location: '/srv/app/payments', plantedHost: 'APP01', tags: ['prod'], generation: 2, rotatedFrom: old.id, rotateEveryDays: 90, plantedFile: '.env.production' });
    expect(token.params.service).toBe('Payments');
    expect(token.params.key).not.toBe(old.params.key);
    // The expiry is the same lifetime again, from now.
    expect(Date.parse(token.expiresAt) - Date.now()).toBeGreaterThan(29 * DAY);
    expect(previous).toMatchObject({ id: old.id, rotatedTo: token.id, rotationDueAt: null });
    expect(artifact.download).toBe(`/api/v1/tokens/${token.id}/artifact`);
    expect(replace).toMatchObject({ location: '/srv/app/payments', plantedHost: 'APP01', file: '.env.production', newFilename: '.env' });
    expect(replace.text).toContain('replace .env.production in /srv/app/payments on APP01');
    const file = await (await fetch(`${s.adminUrl}${artifact.download}`, { headers: auth })).text();
    expect(file).toContain(token.params.key);
    expect(file).not.toContain(old.params.key);

    // An old generation is not rotated twice; the current one is.
    const again = await api.post(`/api/v1/tokens/${old.id}/rotate`).set(auth).send({});
    expect([again.status, again.body.error.message]).toEqual([409, expect.stringContaining(token.id)]);

    // The old key still fires, tagged stale, and the intrusion says why; the new key fires as usual.
    const base = s.publicUrl;
    const use = (key: string) => fetch(`${base}/v1/charges`, { headers: { authorization: `Bearer ${key}` } });
    expect((await use(old.params.key)).status).toBeLessThan(500);
    expect((await use(token.params.key)).status).toBeLessThan(500);
    const db = s.app.deps.db;
    const staleHit = await waitFor(async () => (await listHits(db, { tokenId: old.id, limit: 5 })).find((h) => h.incidentId), 5000, 'the stale hit on a trail');
    expect(staleHit.credential).toBeTruthy();
    expect(staleHit.details?.stale).toMatchObject({ current: token.id, generation: 1 });
    const fresh = await waitFor(async () => (await listHits(db, { tokenId: token.id, limit: 5 }))[0], 5000, 'the hit on the new key');
    expect(fresh.details?.stale).toBeUndefined();
    const inc = (await api.get(`/api/v1/incidents/${staleHit.incidentId}`).set(auth)).body as { reasons: { code: string; text: string }[] };
    const stale = inc.reasons.find((r) => r.code === 'stale');
    expect(stale?.text).toMatch(new RegExp(`^old artifact \\(rotated on ${new Date().toISOString().slice(0, 10)}\\) of decoy "payments env" at /srv/app/payments`));

    const actions = (await listAudit(db, 20, 0)).map((a) => [a.action, a.targetId]);
    expect(actions).toContainEqual(['token.rotate', old.id]);
  });

  it('rotates a URL decoy to a new URL; the old URL keeps recording hits', async () => {
    s = await startTestServer();
    const api = request(createAdminApp(s.app.deps));
    const created = (await api.post('/api/v1/tokens').set(auth).send({ kind: 'web-bug', name: 'intranet bug', location: 'https://intranet/hr' })).body;
    const r = (await api.post(`/api/v1/tokens/${created.token.id}/rotate`).set(auth).send({})).body;
    expect(r.artifact.url).not.toBe(created.artifact.url);
    // A web bug is planted as its URL (or its HTML snippet file): both are named.
    expect(r.replace).toMatchObject({ location: 'https://intranet/hr', file: 'intranet_bug.html', value: r.artifact.url });
    expect(await getFrom(created.artifact.url)).toBe(200);
    const hit = await waitFor(async () => (await listHits(s!.app.deps.db, { tokenId: created.token.id, limit: 5 }))[0], 5000, 'a hit on the old URL');
    expect(hit.details?.stale).toMatchObject({ current: r.token.id });
  });
});

describe('freshness', () => {
  it('lists decoys past expiry or rotation policy, with a missing file, or unseen by their scheduled check', async () => {
    s = await startTestServer();
    const api = request(createAdminApp(s.app.deps));
    const db = s.app.deps.db;
    const make = async (body: Record<string, unknown>) => (await api.post('/api/v1/tokens').set(auth).send({ kind: 'web-bug', ...body })).body.token as { id: string };
    const expired = await make({ name: 'expired', expiresAt: new Date(Date.now() - 1000).toISOString() });
    const policy = await make({ name: 'policy', rotateEveryDays: 30 });
    const fine = await make({ name: 'fine', rotateEveryDays: 30, expectSeenEveryDays: 7 });
    const watched = await make({ name: 'watched', expectSeenEveryDays: 7 });
    const gone = await make({ name: 'gone', plantedFile: 'salaries.xlsx' });
    // The nightly scan (an expected-activity rule) touches this one.
    const scanned = (await api.post('/api/v1/tokens').set(auth).send({ kind: 'web-bug', name: 'scanned', location: '\\\\fs02\\scan\\a', expectSeenEveryDays: 7 })).body;
    // Made 40 days ago: past its 30-day policy, and older than the 7-day window.
    for (const t of [policy, watched, scanned.token]) await updateToken(db, t.id, { createdAt: new Date(Date.now() - 40 * DAY) });
    expect((await api.post('/api/v1/expected-activity').set(auth).send({ name: 'nightly scan', sources: ['127.0.0.0/8'], decoys: ['\\\\FS02\\*'] })).status).toBe(201);
    expect(await getFrom(scanned.artifact.url)).toBe(200);
    await waitFor(async () => (await listHits(db, { tokenId: scanned.token.id, limit: 5 }))[0]?.classification === 'expected', 5000, 'the scan absorbed as expected');
    expect((await api.post(`/api/v1/tokens/${gone.id}/verification`).set(auth).send({ present: false })).body.missingAt).toBeTruthy();
    expect((await api.post(`/api/v1/tokens/${fine.id}/verification`).set(auth).send({ present: true })).body).toMatchObject({ missingAt: null });

    const f = (await api.get('/api/v1/freshness').set(auth)).body as { due: { token: { id: string }; why: string }[]; missing: { id: string }[]; unseen: { token: { id: string }; lastSeenAt: string | null }[] };
    expect(f.due.map((d) => [d.token.id, d.why]).sort()).toEqual([[expired.id, 'expired'], [policy.id, 'rotation']].sort());
    expect(f.missing.map((t) => t.id)).toEqual([gone.id]);
    // `fine` is younger than its window; `watched` had no expected-activity hit in 7 days.
    expect(f.unseen.map((u) => [u.token.id, u.lastSeenAt])).toEqual([[watched.id, null]]);

    // A rotated decoy leaves the list; its new generation is fresh. A file found again clears "missing".
    await api.post(`/api/v1/tokens/${policy.id}/rotate`).set(auth).send({});
    await api.post(`/api/v1/tokens/${gone.id}/verification`).set(auth).send({ present: true });
    const after = (await api.get('/api/v1/freshness').set(auth)).body as typeof f;
    expect(after.due.map((d) => d.token.id)).toEqual([expired.id]);
    expect(after.missing).toEqual([]);
    const audit = (await listAudit(db, 50, 0)).map((a) => [a.action, a.targetId]);
    expect(audit).toContainEqual(['token.file_missing', gone.id]);
    expect(audit).toContainEqual(['token.file_present', gone.id]);
  });
});
