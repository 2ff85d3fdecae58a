import { eq } from 'drizzle-orm';
import { createHash } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFirstAdmin } from '../../src/admin/setup.ts';
import { createAdminApp } from '../../src/app.ts';
import { countUsers } from '../../src/db/queries/users.ts';
import { listTokens } from '../../src/db/queries/tokens.ts';
import { shared } from '../../src/db/store.ts';
import { insertAsset } from '../../src/db/queries/assets.ts';
import { makeIncident } from '../factories.ts';
import { makeToken, silentLog, startTestServer, testConfig, testDb, type TestServer } from '../helpers.ts';
import { ADMIN, csrfOf, makeAdmin, signIn } from './helpers.ts';

let s: TestServer;
let app: ReturnType<typeof createAdminApp>;
let tokenId: string;
let incidentId: number;
let assetId: number;
beforeAll(async () => {
  s = await startTestServer();
  app = createAdminApp(s.app.deps);
  await makeAdmin(s.app.deps.db);
  tokenId = (await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' })).token.id;
  incidentId = (await makeIncident(s.app.deps.db)).id;
  assetId = (await insertAsset(s.app.deps.db, { label: 'WS-1', cidr: '10.0.0.1' })).id;
});
afterAll(() => s.stop());

const tokenCount = async () => (await listTokens(s.app.deps.db, { limit: 1, offset: 0 })).total;

describe('admin UI access control', () => {
  it('redirects every page to the login page when not signed in', async () => {
    const pages = [
      '/', '/tokens', '/tokens?kind=web-bug', '/tokens/new', '/tokens/new?kind=redirect', `/tokens/${tokenId}`, `/tokens/${tokenId}/created`,
      `/tokens/${tokenId}/delete`, `/tokens/${tokenId}/download`, '/incidents', `/incidents/${incidentId}`, '/assets', `/assets/${assetId}`,
      '/settings', '/admins', '/api-keys', '/audit', '/no-such-page',
    ];
    for (const page of pages) {
      const res = await request(app).get(page);
      expect(res.status, page).toBe(303);
      expect(res.headers.location, page).toBe(`/login?next=${encodeURIComponent(page)}`);
    }
  });

  it('refuses state-changing posts without a session and changes nothing', async () => {
    const before = await tokenCount();
    for (const path of ['/tokens/new', `/tokens/${tokenId}/delete`, '/tokens/bulk', `/incidents/${incidentId}/status`, '/api-keys', '/admins', '/assets']) {
      const res = await request(app).post(path).type('form').send({ kind: 'web-bug', name: 'x', ids: tokenId, action: 'delete', confirm: 'yes', status: 'closed' });
      expect(res.status, path).toBe(303);
      expect(res.headers.location).toBe('/login');
    }
    expect(await tokenCount()).toBe(before);
  });

  it('serves the login page with security headers and no inline script or style', async () => {
    const res = await request(app).get('/login');
    expect(res.status).toBe(200);
    expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(res.headers['content-security-policy']).not.toMatch(/unsafe-inline/);
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(res.text).not.toMatch(/\sstyle=/);
    expect(res.text).toMatch(/<label for="email">/);
  });
});

describe('CSRF', () => {
  it('refuses a signed-in form post without a valid CSRF token', async () => {
    const { agent, csrf } = await signIn(app);
    const before = await tokenCount();
    for (const bad of [undefined, '', 'wrong-token', `${csrf}x`]) {
      const body: Record<string, string> = { kind: 'web-bug', name: 'csrf victim' };
      if (bad !== undefined) body._csrf = bad;
      const res = await agent.post('/tokens/new').type('form').send(body);
      expect(res.status).toBe(403);
      expect(res.text).toMatch(/form has expired or did not come from this site/);
    }
    expect(await tokenCount()).toBe(before);
    const ok = await agent.post('/tokens/new').type('form').send({ kind: 'web-bug', name: 'legit', _csrf: csrf });
    expect(ok.status).toBe(303);
    expect(await tokenCount()).toBe(before + 1);
  });

  it('refuses a login post without the double-submit token', async () => {
    const res = await request(app).post('/login').type('form').send({ email: ADMIN.email, password: ADMIN.password });
    expect(res.status).toBe(403);
    expect(res.headers['set-cookie']?.toString() ?? '').not.toMatch(/ht_session=[^;]/);
  });
});

describe('login, sessions and throttling', () => {
  it('sets an HttpOnly SameSite=Strict cookie and stores only its hash', async () => {
    const agent = request.agent(app);
    const page = await agent.get('/login');
    const res = await agent.post('/login').type('form').send({ email: ADMIN.email, password: ADMIN.password, _csrf: csrfOf(page.text) });
    expect(res.status).toBe(303);
    const cookie = (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('ht_session='));
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/);
    const value = /ht_session=([^;]+)/.exec(cookie ?? '')?.[1] ?? '';
    const { db: q, t } = shared(s.app.deps.db);
    const rows = await q.select().from(t.sessions);
    expect(rows.some((r) => r.id === value)).toBe(false);
    expect(rows.some((r) => r.id === createHash('sha256').update(value).digest('hex'))).toBe(true);
  });

  it('replaces the session a browser already had when it signs in again', async () => {
    const count = async () => {
      const { db: q, t } = shared(s.app.deps.db);
      return (await q.select().from(t.sessions)).length;
    };
    const agent = request.agent(app);
    const pre = csrfOf((await agent.get('/login')).text);
    expect((await agent.post('/login').type('form').send({ email: ADMIN.email, password: ADMIN.password, _csrf: pre })).status).toBe(303);
    const after1 = await count();
    expect((await agent.post('/login').type('form').send({ email: ADMIN.email, password: ADMIN.password, _csrf: pre })).status).toBe(303);
    expect(await count()).toBe(after1);
    expect((await agent.get('/tokens')).status).toBe(200);
  });

  it('marks the cookie Secure when ADMIN_URL is https', async () => {
    const { db, cleanup, dir } = testDb();
    try {
      const config = testConfig(dir, { ADMIN_URL: 'https://honeytrail.corp.example' });
      const secureApp = createAdminApp({ ...s.app.deps, db, config });
      await makeAdmin(db);
      const agent = request.agent(secureApp);
      const page = await agent.get('/login');
      expect(page.headers['set-cookie']?.toString()).toMatch(/Secure/);
      const res = await agent.post('/login').set('Cookie', (page.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).join('; ')).type('form').send({ email: ADMIN.email, password: ADMIN.password, _csrf: csrfOf(page.text) });
      expect(res.status).toBe(303);
      expect((res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('ht_session='))).toMatch(/Secure/);
    } finally {
      cleanup();
    }
  });

  it('ends idle sessions and logs out', async () => {
    const { agent, csrf } = await signIn(app);
    expect((await agent.get('/tokens')).status).toBe(200);
    const out = await agent.post('/logout').type('form').send({ _csrf: csrf });
    expect(out.status).toBe(303);
    expect((await agent.get('/tokens')).status).toBe(303);

    const again = await signIn(app);
    const { db: q, t } = shared(s.app.deps.db);
    await q.update(t.sessions).set({ lastSeenAt: new Date(Date.now() - 31 * 60_000) });
    const res = await again.agent.get('/tokens');
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login/);
  });

  it('ends a session 12 h after sign-in however active it is (absolute expiry)', async () => {
    const { db: q, t } = shared(s.app.deps.db);
    const before = new Set((await q.select().from(t.sessions)).map((x) => x.id));
    const signed = await signIn(app);
    const session = (await q.select().from(t.sessions)).find((x) => !before.has(x.id));
    if (!session) throw new Error('no session stored');
    expect(session.expiresAt.getTime() - session.createdAt.getTime()).toBeGreaterThan(12 * 3600_000 - 5000);
    expect(session.expiresAt.getTime() - session.createdAt.getTime()).toBeLessThanOrEqual(12 * 3600_000 + 5000);
    // Activity moves the idle clock, never the absolute expiry.
    expect((await signed.agent.get('/tokens')).status).toBe(200);
    const [after] = await q.select().from(t.sessions).where(eq(t.sessions.id, session.id));
    expect(after?.expiresAt.getTime()).toBe(session.expiresAt.getTime());
    // Past it, a session that was active a moment ago is over.
    await q.update(t.sessions).set({ expiresAt: new Date(Date.now() - 1000), lastSeenAt: new Date() }).where(eq(t.sessions.id, session.id));
    const res = await signed.agent.get('/tokens');
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login/);
  });

  it('throttles an account after repeated failures, even with the right password', async () => {
    const fresh = createAdminApp(s.app.deps);
    const agent = request.agent(fresh);
    const csrf = csrfOf((await agent.get('/login')).text);
    for (let i = 0; i < 5; i++) {
      const res = await agent.post('/login').type('form').send({ email: ADMIN.email, password: `wrong-${i}`, _csrf: csrf });
      expect(res.status).toBe(401);
      expect(res.text).toMatch(/Email or password is not right/);
    }
    const blocked = await agent.post('/login').type('form').send({ email: ADMIN.email, password: ADMIN.password, _csrf: csrf });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(blocked.text).toMatch(/Too many failed sign-in attempts/);
  });

  it('throttles a client address that sprays many accounts', async () => {
    const fresh = createAdminApp(s.app.deps);
    const agent = request.agent(fresh);
    const csrf = csrfOf((await agent.get('/login')).text);
    for (let i = 0; i < 20; i++) {
      expect((await agent.post('/login').type('form').send({ email: `user${i}@corp.example`, password: 'guess', _csrf: csrf })).status).toBe(401);
    }
    const blocked = await agent.post('/login').type('form').send({ email: ADMIN.email, password: ADMIN.password, _csrf: csrf });
    expect(blocked.status).toBe(429);
  });

  it('follows only same-site paths after login', async () => {
    const agent = request.agent(app);
    const csrf = csrfOf((await agent.get('/login')).text);
    const res = await agent.post('/login').type('form').send({ email: ADMIN.email, password: ADMIN.password, next: '//evil.example/x', _csrf: csrf });
    expect(res.headers.location).toBe('/');
    const ok = await agent.post('/login').type('form').send({ email: ADMIN.email, password: ADMIN.password, next: '/tokens?kind=web-bug', _csrf: csrf });
    expect(ok.headers.location).toBe('/tokens?kind=web-bug');
  });
});

describe('first run', () => {
  it('issues a one-time setup link that creates the first admin once', async () => {
    const { db, cleanup, dir } = testDb();
    try {
      const config = testConfig(dir);
      const firstApp = createAdminApp({ ...s.app.deps, db, config });
      const run = await ensureFirstAdmin(db, config, silentLog, 'http://127.0.0.1:1');
      if (run.kind !== 'setup') throw new Error('expected a setup link');
      const path = new URL(run.url).pathname + new URL(run.url).search;
      expect((await request(firstApp).get('/login')).text).toMatch(/No admin account exists yet/);
      expect((await request(firstApp).get('/setup?token=guess')).status).toBe(404);

      const agent = request.agent(firstApp);
      const page = await agent.get(path);
      expect(page.status).toBe(200);
      const token = new URL(run.url).searchParams.get('token') ?? '';
      const short = await agent.post('/setup').type('form').send({ token, email: 'first@corp.example', password: 'short', confirm: 'short', _csrf: csrfOf(page.text) });
      expect(short.status).toBe(400);
      expect(short.text).toMatch(/at least 12 characters/);
      const res = await agent.post('/setup').type('form').send({ token, email: 'first@corp.example', password: 'a long enough password', confirm: 'a long enough password', _csrf: csrfOf(page.text) });
      expect(res.status).toBe(303);
      expect((await agent.get('/')).status).toBe(200);
      expect(await countUsers(db)).toBe(1);
      expect((await request(firstApp).get(path)).status).toBe(404);
    } finally {
      cleanup();
    }
  });

  it('bootstraps the first admin from ADMIN_EMAIL and ADMIN_PASSWORD', async () => {
    const { db, cleanup, dir } = testDb();
    try {
      const config = testConfig(dir, { ADMIN_EMAIL: 'Boot@Corp.example', ADMIN_PASSWORD: 'bootstrap password 1' });
      expect(await ensureFirstAdmin(db, config, silentLog)).toEqual({ kind: 'bootstrapped', email: 'boot@corp.example' });
      expect(await ensureFirstAdmin(db, config, silentLog)).toEqual({ kind: 'ready' });
      await signIn(createAdminApp({ ...s.app.deps, db, config }), 'boot@corp.example', 'bootstrap password 1');
    } finally {
      cleanup();
    }
  });
});
