import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { assetForHost, assetForIp, listAssets } from '../../src/db/queries/assets.ts';
import { auth, startTestServer, type TestServer } from '../helpers.ts';

let s: TestServer;
let app: ReturnType<typeof createAdminApp>;
beforeAll(async () => {
  s = await startTestServer();
  app = createAdminApp(s.app.deps);
});
afterAll(() => s.stop());

describe('assets API (network map)', () => {
  it('creates, updates, lists and deletes assets; validates fields', async () => {
    const created = await request(app).post('/api/v1/assets').set(auth).send({ cidr: '10.20.4.0/24', label: 'Finance VLAN', segment: 'finance', criticality: 'high' });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const patched = await request(app).patch(`/api/v1/assets/${id}`).set(auth).send({ label: 'Finance workstations' });
    expect(patched.body.label).toBe('Finance workstations');
    const bad = await request(app).post('/api/v1/assets').set(auth).send({ cidr: '10.0.0.0/33', label: '' });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.error.fields)).toEqual(expect.arrayContaining(['cidr', 'label']));
    expect((await request(app).post('/api/v1/assets').set(auth).send({ label: 'nowhere' })).status).toBe(400);
    expect((await request(app).get('/api/v1/assets').set(auth)).body.total).toBeGreaterThanOrEqual(1);
    expect((await request(app).delete(`/api/v1/assets/${id}`).set(auth)).status).toBe(204);
    expect((await request(app).get(`/api/v1/assets/${id}`).set(auth)).status).toBe(404);
  });

  it('imports a CSV all-or-nothing and maps addresses and host names to the most specific asset', async () => {
    const csv = ['cidr,hostname,label,segment,criticality', '10.30.0.0/16,,Branch office,branch,medium', '10.30.4.17,WS-ACCT-07,WS-ACCT-07,finance,high', ',fs01.corp.example,"File server, HQ",servers,critical'].join('\n');
    const res = await request(app).post('/api/v1/assets/import').set(auth).set('content-type', 'text/csv').send(csv);
    expect(res.status).toBe(201);
    expect(res.body.imported).toBe(3);
    expect((await assetForIp(s.app.deps.db, '10.30.4.17'))?.label).toBe('WS-ACCT-07');
    expect((await assetForIp(s.app.deps.db, '::ffff:10.30.9.9'))?.label).toBe('Branch office');
    expect(await assetForIp(s.app.deps.db, '192.0.2.1')).toBeUndefined();
    expect((await assetForHost(s.app.deps.db, 'FS01'))?.label).toBe('File server, HQ');

    const before = (await listAssets(s.app.deps.db)).total;
    const bad = await request(app).post('/api/v1/assets/import').set(auth).set('content-type', 'text/csv').send('cidr,label\n10.1.0.0/16,ok\nnot-an-ip,bad');
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields['line 3']).toMatch(/cidr/);
    expect((await listAssets(s.app.deps.db)).total).toBe(before);
  });
});
