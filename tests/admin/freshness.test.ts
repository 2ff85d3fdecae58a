import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { listAudit } from '../../src/db/queries/audit.ts';
import { getToken, updateToken } from '../../src/db/queries/tokens.ts';
import { startTestServer, type TestServer } from '../helpers.ts';
import { makeAdmin, signIn } from './helpers.ts';

/** The console's side of rotation and freshness: the form, the rotate button (confirm, post, redirect) and the dashboard. */
let s: TestServer;
let agent: Awaited<ReturnType<typeof signIn>>['agent'];
let csrf: string;
beforeAll(async () => {
  s = await startTestServer();
  const app = createAdminApp(s.app.deps);
  await makeAdmin(s.app.deps.db);
  ({ agent, csrf } = await signIn(app));
});
afterAll(() => s.stop());

const DAY = 86_400_000;
const idFrom = (location: string) => /^\/tokens\/([0-9a-z]{24})\/created$/.exec(location)?.[1] ?? '';

describe('rotation and freshness in the console', () => {
  it('takes a rotation policy on the form, rotates after confirmation, and shows what to replace', async () => {
    const bad = await agent.post('/tokens/new').type('form').send({ kind: 'aws-keys', name: 'x', rotateEveryDays: '0', _csrf: csrf });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('must be at least 1 day');
    const created = await agent
      .post('/tokens/new')
      .type('form')
      .send({ kind: 'aws-keys', name: 'deploy keys', location: '\\\\fs01\\it\\deploy', plantedHost: 'FS01', rotateEveryDays: '90', expiresAt: '2030-01-31', 'params.profile': 'deploy', _csrf: csrf });
    expect(created.status).toBe(303);
    const id = idFrom(created.headers.location ?? '');
    const token = await getToken(s.app.deps.db, id);
    expect(token).toMatchObject({ rotateEveryDays: 90, expiresAt: new Date('2030-01-31T00:00:00Z') });

    const page = await agent.get(`/tokens/${id}`);
    expect(page.text).toContain(`href="/tokens/${id}/rotate"`);
    expect(page.text).toMatch(/Generation<\/dt><dd>1/);
    const confirm = await agent.get(`/tokens/${id}/rotate`);
    expect(confirm.text).toContain('Rotate deploy keys?');
    expect(confirm.text).toContain('aws-deploy.zip in \\\\fs01\\it\\deploy');
    const done = await agent.post(`/tokens/${id}/rotate`).type('form').send({ _csrf: csrf });
    expect(done.status).toBe(303);
    const fresh = idFrom(done.headers.location ?? '');
    expect(fresh).not.toBe(id);
    const shown = await agent.get(done.headers.location ?? '');
    expect(shown.text).toContain('Token rotated');
    expect(shown.text).toMatch(/File to overwrite<\/dt><dd><code>aws-deploy\.zip<\/code>/);
    expect(shown.text).toContain('\\\\fs01\\it\\deploy on FS01');
    // The old generation says it was rotated and where the current one is; it offers no second rotation.
    const old = await agent.get(`/tokens/${id}`);
    expect(old.text).toContain(`The current artifact is <a href="/tokens/${fresh}">`);
    expect(old.text).not.toContain(`href="/tokens/${id}/rotate"`);
    expect((await agent.get(`/tokens/${id}/rotate`)).headers.location).toBe(`/tokens/${fresh}`);
    expect((await listAudit(s.app.deps.db, 10, 0)).map((a) => a.action)).toContain('token.rotate');
    // Clearing the policy on the settings form.
    const saved = await agent.post(`/tokens/${fresh}`).type('form').send({ name: 'deploy keys', rotateEveryDays: '', expiresAt: '', _csrf: csrf });
    expect(saved.status).toBe(303);
    expect(await getToken(s.app.deps.db, fresh)).toMatchObject({ rotateEveryDays: null, expiresAt: null });
  });

  it('lists decoys due for rotation, with a missing file, or unseen by their scheduled check on the dashboard', async () => {
    const make = async (name: string, extra: Record<string, string>) => {
      const res = await agent.post('/tokens/new').type('form').send({ kind: 'web-bug', name, ...extra, _csrf: csrf });
      return idFrom(res.headers.location ?? '');
    };
    const quiet = await agent.get('/');
    expect(quiet.text).not.toContain('id="freshness"');
    const due = await make('old badge list', { rotateEveryDays: '30' });
    const watched = await make('scanned share', { expectSeenEveryDays: '7', location: '\\\\fs02\\scan' });
    const gone = await make('gone salaries', {});
    for (const id of [due, watched]) await updateToken(s.app.deps.db, id, { createdAt: new Date(Date.now() - 40 * DAY) });
    await updateToken(s.app.deps.db, gone, { plantedFile: 'salaries.xlsx', missingAt: new Date() });
    const home = await agent.get('/');
    const section = /<section aria-labelledby="fresh-h"[\s\S]*?<\/section>/.exec(home.text)?.[0] ?? '';
    expect(section).toContain('Decoys that need attention (3)');
    expect(section).toMatch(new RegExp(`<tr class="due"><td><a href="/tokens/${due}">old badge list</a></td><td><span class="pill pill-off">rotation due`));
    expect(section).toMatch(new RegExp(`<tr class="missing"><td><a href="/tokens/${gone}">gone salaries</a></td><td><span class="pill pill-alert">file missing</span> <code>salaries.xlsx</code>`));
    expect(section).toMatch(new RegExp(`<tr class="unseen"><td><a href="/tokens/${watched}">scanned share</a>[\\s\\S]*every 7 days[\\s\\S]*never seen`));
    expect((await agent.get(`/tokens/${gone}`)).text).toContain('id="file-missing"');
    expect((await agent.get(`/tokens/${due}`)).text).toContain('id="rotation-due"');
  });
});
