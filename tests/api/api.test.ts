import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { createApiKey, revokeApiKey } from '../../src/db/queries/api-keys.ts';
import { listAudit } from '../../src/db/queries/audit.ts';
import { listTokens } from '../../src/db/queries/tokens.ts';
import { auth, startTestServer, type TestServer } from '../helpers.ts';

let s: TestServer;
let app: ReturnType<typeof createAdminApp>;
beforeAll(async () => {
  s = await startTestServer();
  app = createAdminApp(s.app.deps);
});
afterAll(() => s.stop());

const tokenCount = async () => (await listTokens(s.app.deps.db, { limit: 1, offset: 0 })).total;

describe('API auth', () => {
  it('refuses requests without a key, with a malformed header, or with a wrong key', async () => {
    for (const headers of [{}, { Authorization: 'Basic abc' }, { Authorization: 'Bearer ht_wrong' }]) {
      const res = await request(app).get('/api/v1/tokens').set(headers);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
  });

  it('accepts the bootstrap key and database keys, and refuses revoked ones', async () => {
    expect((await request(app).get('/api/v1/kinds').set(auth)).status).toBe(200);
    const { key, row } = await createApiKey(s.app.deps.db, 'ci', 'test');
    expect((await request(app).get('/api/v1/kinds').set('Authorization', `Bearer ${key}`)).status).toBe(200);
    await revokeApiKey(s.app.deps.db, row.id);
    expect((await request(app).get('/api/v1/kinds').set('Authorization', `Bearer ${key}`)).status).toBe(401);
  });

  it('/healthz is open and reports the database', async () => {
    const res = await request(app).get('/healthz');
    expect(res.status).toBe(200);
    // …and what this process serves, from the listener registry.
    const listeners = s.app.listeners.map((l) => ({ name: l.name, host: '127.0.0.1', port: l.address.port }));
    expect(res.body).toEqual({ status: 'ok', database: 'ok', recording: 'ok', listeners });
    expect(listeners.map((l) => l.name)).toEqual(expect.arrayContaining(['public', 'admin', 'dns', 'smtp']));
  });
});

describe('GET /kinds', () => {
  it('lists every kind with its params as JSON Schema', async () => {
    const res = await request(app).get('/api/v1/kinds').set(auth);
    const ids = res.body.items.map((k: { id: string }) => k.id);
    expect(ids).toEqual(expect.arrayContaining(['web-bug', 'redirect']));
    const redirect = res.body.items.find((k: { id: string }) => k.id === 'redirect');
    expect(redirect.params.type).toBe('object');
    expect(redirect.params.properties.target.type).toBe('string');
    expect(redirect.params.required).toContain('target');
  });
});

describe('POST /tokens', () => {
  it('creates a token and returns what to plant', async () => {
    const res = await request(app)
      .post('/api/v1/tokens')
      .set(auth)
      .send({ kind: 'web-bug', name: 'Finance share bug', location: '\\\\fs01\\finance\\Q3', plantedHost: 'FS01', alertEmails: ['SOC@corp.example'] });
    expect(res.status).toBe(201);
    expect(res.body.token.id).toMatch(/^[0-9a-z]{24}$/);
    expect(res.body.token).toMatchObject({ kind: 'web-bug', location: '\\\\fs01\\finance\\Q3', plantedHost: 'FS01', alertEmails: ['soc@corp.example'], enabled: true });
    expect(res.body.artifact.url.startsWith(s.config.PUBLIC_URL)).toBe(true);
    expect(res.body.artifact.url).not.toContain(res.body.token.id);
    expect(res.headers.location).toBe(`/api/v1/tokens/${res.body.token.id}`);
    const log = await listAudit(s.app.deps.db, 5, 0);
    expect(log.some((e) => e.action === 'token.create' && e.targetId === res.body.token.id && e.actor === 'api-key:bootstrap')).toBe(true);
  });

  it('generates varied URLs: no fixed path shared by all tokens', async () => {
    const paths = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const res = await request(app).post('/api/v1/tokens').set(auth).send({ kind: 'web-bug', name: `n${i}` });
      const u = new URL(res.body.artifact.url);
      paths.add(u.pathname.replace(res.body.token.id, 'ID') + u.search.replace(res.body.token.id, 'ID'));
    }
    expect(paths.size).toBeGreaterThan(4);
  });

  const bad: [string, unknown, string][] = [
    ['unknown kind', { kind: 'nope', name: 'x' }, 'kind'],
    ['missing name', { kind: 'web-bug' }, 'name'],
    ['oversize name', { kind: 'web-bug', name: 'n'.repeat(201) }, 'name'],
    ['bad params', { kind: 'redirect', name: 'x', params: { target: 'http://insecure.example' } }, 'params.target'],
    ['missing params', { kind: 'redirect', name: 'x' }, 'params.target'],
    ['bad email', { kind: 'web-bug', name: 'x', alertEmails: ['not-an-email'] }, 'alertEmails.0'],
    ['bad cidr', { kind: 'web-bug', name: 'x', ignoreCidrs: ['10.0.0.0/99'] }, 'ignoreCidrs.0'],
    ['unknown field', { kind: 'web-bug', name: 'x', color: 'red' }, '(body)'],
  ];
  it.each(bad)('refuses %s with a field message and writes nothing', async (_label, body, field) => {
    const before = await tokenCount();
    const res = await request(app).post('/api/v1/tokens').set(auth).send(body as object);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(Object.keys(res.body.error.fields)).toContain(field);
    expect(await tokenCount()).toBe(before);
  });

  it('refuses invalid JSON with 400 and an oversize body with 413', async () => {
    const res = await request(app).post('/api/v1/tokens').set(auth).set('content-type', 'application/json').send('{"kind":');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/not valid JSON/);
    const big = await request(app).post('/api/v1/tokens').set(auth).send({ kind: 'web-bug', name: 'x', location: 'l'.repeat(300_000) });
    expect(big.status).toBe(413);
  });
});

describe('token lifecycle', () => {
  it('lists with filters and pagination', async () => {
    for (let i = 0; i < 5; i++) await request(app).post('/api/v1/tokens').set(auth).send({ kind: 'redirect', name: `page-${i}`, location: `\\\\fs02\\hr\\${i}`, params: { target: 'https://hr.example.com/' } });
    const page1 = await request(app).get('/api/v1/tokens?kind=redirect&limit=2').set(auth);
    expect(page1.body.items).toHaveLength(2);
    expect(page1.body.total).toBe(5);
    expect(page1.body.nextOffset).toBe(2);
    const page3 = await request(app).get('/api/v1/tokens?kind=redirect&limit=2&offset=4').set(auth);
    expect(page3.body.items).toHaveLength(1);
    expect(page3.body.nextOffset).toBeNull();
    const ids = new Set([...page1.body.items, ...page3.body.items].map((t: { id: string }) => t.id));
    expect(ids.size).toBe(3);
    const byLocation = await request(app).get('/api/v1/tokens?location=fs02%5Chr').set(auth);
    expect(byLocation.body.total).toBe(5);
    expect((await request(app).get('/api/v1/tokens?limit=100000').set(auth)).status).toBe(400);
  });

  it('gets, patches, downloads and deletes a token', async () => {
    const created = await request(app).post('/api/v1/tokens').set(auth).send({ kind: 'web-bug', name: 'to change' });
    const id = created.body.token.id as string;
    const got = await request(app).get(`/api/v1/tokens/${id}`).set(auth);
    expect(got.body.artifact.url).toBe(created.body.artifact.url);

    const patched = await request(app).patch(`/api/v1/tokens/${id}`).set(auth).send({ name: 'changed', enabled: false, location: 'C:\\Users\\admin\\Desktop' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'changed', enabled: false, location: 'C:\\Users\\admin\\Desktop' });
    expect((await request(app).patch(`/api/v1/tokens/${id}`).set(auth).send({ enabled: 'yes' })).status).toBe(400);

    const file = await request(app).get(`/api/v1/tokens/${id}/artifact`).set(auth);
    expect(file.status).toBe(200);
    expect(file.headers['content-disposition']).toMatch(/^attachment; filename="?changed\.html"?$/);
    expect(file.text).toContain(created.body.artifact.url);

    expect((await request(app).delete(`/api/v1/tokens/${id}`).set(auth)).status).toBe(204);
    expect((await request(app).get(`/api/v1/tokens/${id}`).set(auth)).status).toBe(404);
    expect((await request(app).delete(`/api/v1/tokens/${id}`).set(auth)).status).toBe(404);
  });

  it('answers 404 for unknown ids and 400 for malformed ones', async () => {
    expect((await request(app).get(`/api/v1/tokens/${'z'.repeat(24)}`).set(auth)).status).toBe(404);
    expect((await request(app).get('/api/v1/tokens/..%2f..%2fetc%2fpasswd').set(auth)).status).toBe(400);
    expect((await request(app).get('/api/v1/nothing').set(auth)).status).toBe(404);
  });
});

describe('hits API', () => {
  it('lists hits of a token and of all tokens, with since and cursor filters', async () => {
    const created = await request(app).post('/api/v1/tokens').set(auth).send({ kind: 'web-bug', name: 'watched' });
    const { token, artifact } = created.body;
    const t0 = new Date();
    await fetch(artifact.url, { headers: { 'user-agent': 'curl/8.5.0' } });
    await fetch(artifact.url, { headers: { 'user-agent': 'python-requests/2.31' } });

    const own = await request(app).get(`/api/v1/tokens/${token.id}/hits`).set(auth);
    expect(own.body.items).toHaveLength(2);
    const hit = own.body.items[1];
    expect(hit).toMatchObject({ tokenId: token.id, channel: 'http', sourceIp: '127.0.0.1', userAgent: 'curl/8.5.0', classification: 'alert' });
    expect(hit.actor).toEqual({ user: null, host: null, domain: null });
    expect(Object.keys(hit)).toEqual(expect.arrayContaining(['id', 'tokenId', 'channel', 'at', 'sourceIp', 'userAgent', 'actor', 'classification', 'details', 'incidentId']));

    const since = await request(app).get(`/api/v1/hits?since=${encodeURIComponent(t0.toISOString())}`).set(auth);
    expect(since.body.items.map((h: { tokenId: string }) => h.tokenId)).toEqual([token.id, token.id]);
    const after = await request(app).get(`/api/v1/hits?after=${own.body.items[1].id}&order=asc`).set(auth);
    expect(after.body.items.map((h: { userAgent: string }) => h.userAgent)).toEqual(['python-requests/2.31']);
    expect((await request(app).get('/api/v1/hits?since=yesterday').set(auth)).status).toBe(400);
  });
});

describe('GET /metrics', () => {
  it('exposes token, hit, incident and outbox counts in the Prometheus text format', async () => {
    const created = await request(app).post('/api/v1/tokens').set(auth).send({ kind: 'web-bug', name: 'metered' });
    await fetch(created.body.artifact.url);
    const res = await request(app).get('/metrics').set(auth);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/^# TYPE honeytrail_hits_total counter$/m);
    expect(res.text).toMatch(/^honeytrail_tokens\{kind="web-bug",enabled="true"\} \d+$/m);
    expect(res.text).toMatch(/^honeytrail_hits_total\{channel="http",classification="alert"\} [1-9]\d*$/m);
    expect(res.text).toMatch(/^honeytrail_incidents\{status="open",severity="\w+"\} [1-9]\d*$/m);
    expect(res.text).not.toContain('metered');
  });
});
