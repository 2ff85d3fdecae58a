import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { KINDS } from '../../src/tokens/registry.ts';
import { csrfOf, makeAdmin, ADMIN } from '../admin/helpers.ts';
import { auth, makeToken, startTestServer, type TestServer } from '../helpers.ts';

/**
 * Security properties that span the whole product (issue: proof under hostile input). Page-level
 * auth, CSRF and XSS of the admin UI are in tests/admin; mail escaping in tests/alerts.
 */
let s: TestServer;
let app: ReturnType<typeof createAdminApp>;
let someId: string;
beforeAll(async () => {
  s = await startTestServer();
  app = createAdminApp(s.app.deps);
  someId = (await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' })).token.id;
  await makeAdmin(s.app.deps.db);
});
afterAll(() => s.stop());

describe('JSON API refuses anonymous and wrong-key access on every route', () => {
  const routes = (): [string, string][] => [
    ['GET', '/api/v1/kinds'],
    ['GET', '/api/v1/tokens'],
    ['POST', '/api/v1/tokens'],
    ['GET', `/api/v1/tokens/${someId}`],
    ['PATCH', `/api/v1/tokens/${someId}`],
    ['DELETE', `/api/v1/tokens/${someId}`],
    ['GET', `/api/v1/tokens/${someId}/artifact`],
    ['GET', `/api/v1/tokens/${someId}/hits`],
    ['GET', '/api/v1/hits'],
    ['GET', '/api/v1/assets'],
    ['POST', '/api/v1/assets'],
    ['POST', '/api/v1/assets/import'],
    ['GET', '/api/v1/assets/1'],
    ['PATCH', '/api/v1/assets/1'],
    ['DELETE', '/api/v1/assets/1'],
    ['GET', '/api/v1/exports/hits'],
    ['GET', '/api/v1/intel'],
    ['POST', '/api/v1/intel/import'],
    ['DELETE', '/api/v1/intel'],
    ['GET', '/api/v1/incidents'],
    ['GET', '/api/v1/alerts'],
    ['POST', '/api/v1/alerts/test'],
    ['GET', '/api/v1/does-not-exist'],
  ];
  it('every route answers 401 without a key and with a wrong one, and changes nothing', async () => {
    for (const [method, path] of routes()) {
      for (const headers of [{}, { Authorization: 'Bearer ht_not_a_real_key_000000000000000' }]) {
        const res = await request(app)[method.toLowerCase() as 'get'](path).set(headers).send({});
        expect(res.status, `${method} ${path}`).toBe(401);
      }
    }
    expect((await request(app).get(`/api/v1/tokens/${someId}`).set(auth)).status).toBe(200);
  });

  it('a session cookie alone does not open the API (cookies are not API credentials)', async () => {
    const agent = request.agent(app);
    const page = await agent.get('/login');
    await agent.post('/login').type('form').send({ email: ADMIN.email, password: ADMIN.password, _csrf: csrfOf(page.text) });
    expect((await agent.get('/api/v1/tokens')).status).toBe(401);
  });
});

describe('admin sessions', () => {
  it('signing in issues a fresh session id: a cookie planted before login is not adopted (no fixation)', async () => {
    const planted = 'attacker-chosen-session-value-0123456789';
    const agent = request.agent(app);
    const page = await agent.get('/login').set('Cookie', `ht_session=${planted}`);
    const res = await agent
      .post('/login')
      .set('Cookie', `ht_session=${planted}; ${String(page.headers['set-cookie'] ?? '').split(';')[0]}`)
      .type('form')
      .send({ email: ADMIN.email, password: ADMIN.password, _csrf: csrfOf(page.text) });
    expect(res.status).toBe(303);
    const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    const session = cookies.find((c) => c.startsWith('ht_session='));
    expect(session).toBeDefined();
    expect(session).not.toContain(planted);
    // The planted value still opens nothing.
    const anon = await request(app).get('/').set('Cookie', `ht_session=${planted}`);
    expect([302, 303]).toContain(anon.status);
    expect(anon.headers.location).toMatch(/^\/login/);
  });
});

describe('downloads', () => {
  it('refuses path traversal in token ids and never puts path separators in file names', async () => {
    for (const path of ['/api/v1/tokens/..%2F..%2Fetc%2Fpasswd/artifact', '/api/v1/tokens/%2e%2e/artifact', `/api/v1/tokens/${someId}%00.txt/artifact`]) {
      const res = await request(app).get(path).set(auth);
      expect([400, 404], path).toContain(res.status);
    }
    const created = await request(app)
      .post('/api/v1/tokens')
      .set(auth)
      .send({ kind: 'word', name: 'traversal', params: { filename: '..\\..\\Windows/System32/evil.docx' } });
    expect(created.status).toBe(201);
    const file = await request(app).get(`/api/v1/tokens/${created.body.token.id}/artifact`).set(auth);
    const disposition = String(file.headers['content-disposition']);
    expect(disposition).not.toMatch(/[\\/]|\.\./);
  });
});

describe('the public listener reveals nothing', () => {
  // Headers that name a framework or product; kinds may send what the service they imitate sends.
  const FORBIDDEN_HEADERS = /^(x-powered-by|x-runtime|x-aspnet-version|x-aspnetmvc-version|via|x-honeytrail.*|x-generator)$/;
  const TELLS = /honey|trail|canary|decoy|\btrap\b|express|node\.js|stack|at [\w.]+ \(/i;

  it.each(KINDS.filter((k) => k.channels.includes('http')).map((k) => [k.id]))('%s: headers and body give nothing away', async (kindId) => {
    const { url } = await makeToken(s.app.deps.db, s.config, { kind: kindId, name: 'Honeytrail decoy trap' });
    for (const method of ['GET', 'POST', 'OPTIONS', 'HEAD']) {
      const res = await fetch(url!, { method, redirect: 'manual', body: method === 'POST' ? 'a=b' : undefined, headers: method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {} });
      for (const [name, value] of res.headers) {
        expect(FORBIDDEN_HEADERS.test(name), `${kindId} ${method}: header ${name}`).toBe(false);
        expect(value, `${kindId} ${method}: header ${name}`).not.toMatch(TELLS);
      }
      expect(res.headers.get('server')).toBe('nginx');
      const body = await res.text();
      expect(body, `${kindId} ${method}`).not.toMatch(TELLS);
    }
  });

  it('error paths look like nginx too', async () => {
    for (const path of ['/%', '/..%2f..%2fetc/passwd', '/.env', '/.git/config', '/api/v1/tokens']) {
      const res = await fetch(`${s.publicUrl}${path}`);
      expect(res.headers.get('server')).toBe('nginx');
      expect(await res.text()).not.toMatch(TELLS);
    }
  });
});
