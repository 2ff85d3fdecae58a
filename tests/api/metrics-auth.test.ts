import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { auth, startTestServer, type TestServer } from '../helpers.ts';

/** /metrics needs a credential (issue 15): METRICS_TOKEN as a bearer, or an API key; nothing anonymous. */
const METRICS_TOKEN = 'prom_scrape_0123456789abcdefghijklmn';

let s: TestServer;
let app: ReturnType<typeof createAdminApp>;
beforeAll(async () => {
  s = await startTestServer({ METRICS_TOKEN });
  app = createAdminApp(s.app.deps);
});
afterAll(() => s.stop());

describe('GET /metrics', () => {
  it('refuses anonymous and wrong credentials with 401 and shows no counter', async () => {
    for (const headers of [{}, { Authorization: 'Bearer wrong_token_0123456789abcdefghij' }, { Authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` }]) {
      const res = await request(app).get('/metrics').set(headers);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.text).not.toContain('honeytrail_');
    }
  });

  it('answers the scrape token and any API key', async () => {
    for (const headers of [{ Authorization: `Bearer ${METRICS_TOKEN}` }, auth]) {
      const res = await request(app).get('/metrics').set(headers);
      expect(res.status).toBe(200);
      expect(res.text).toMatch(/^# TYPE honeytrail_hits_total counter$/m);
    }
  });

  it('the scrape token opens nothing else', async () => {
    expect((await request(app).get('/api/v1/tokens').set({ Authorization: `Bearer ${METRICS_TOKEN}` })).status).toBe(401);
  });

  it('over the real admin listener too', async () => {
    expect((await fetch(`${s.adminUrl}/metrics`)).status).toBe(401);
    expect((await fetch(`${s.adminUrl}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);
  });
});
