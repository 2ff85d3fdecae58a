import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { getIncident } from '../../src/db/queries/incidents.ts';
import { getFrom } from '../alerts/support.ts';
import { makeToken, startTestServer, TEST_API_KEY, type TestServer } from '../helpers.ts';

/**
 * A change made through the API takes effect in the same process on the very next touch: the
 * listener's token cache, the rule and intel indexes and the asset map drop their view when their table is
 * written here (src/db/changes.ts), instead of serving the old answer for up to a second.
 */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.stop());
const auth = { authorization: `Bearer ${TEST_API_KEY}` };
const hitsOf = async (tokenId: string) => (await listHits(s.app.deps.db, { tokenId, limit: 50 })).length;

describe('changes made in this process', () => {
  it('a token disabled through the API stops recording at once, though the listener had just looked it up', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    expect(await getFrom(url ?? '')).toBe(200);
    expect(await hitsOf(token.id)).toBe(1);
    expect((await request(s.adminUrl).patch(`/api/v1/tokens/${token.id}`).set(auth).send({ enabled: false })).status).toBe(200);
    expect(await getFrom(url ?? '')).toBe(404);
    expect(await hitsOf(token.id)).toBe(1);
    expect((await request(s.adminUrl).patch(`/api/v1/tokens/${token.id}`).set(auth).send({ enabled: true })).status).toBe(200);
    expect(await getFrom(url ?? '')).toBe(200);
    expect(await hitsOf(token.id)).toBe(2);
  });

  it('an expected-activity rule added through the API absorbs the next touch', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', location: '\\\\FS07\\finance\\q3.docx' });
    expect(await getFrom(url ?? '', '127.0.0.1')).toBe(200);
    const rule = await request(s.adminUrl).post('/api/v1/expected-activity').set(auth).send({ name: 'nightly scan of FS07', sources: ['127.0.0.0/8'], decoys: ['\\\\FS07\\*'] });
    expect(rule.status).toBe(201);
    expect(await getFrom(url ?? '', '127.0.0.1')).toBe(200);
    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    expect(hits.map((h) => h.classification)).toEqual(['expected', 'alert']);
  });

  it('an asset mapped through the API names the next new source, though the trail had just read the map', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    expect(await getFrom(url ?? '', '127.77.1.5')).toBe(200);
    const asset = await request(s.adminUrl).post('/api/v1/assets').set(auth).send({ cidr: '127.77.2.0/24', label: 'Payroll VLAN', segment: 'payroll', criticality: 'high' });
    expect(asset.status).toBe(201);
    expect(await getFrom(url ?? '', '127.77.2.9')).toBe(200);
    const [second] = await listHits(s.app.deps.db, { tokenId: token.id, limit: 1 });
    expect(second?.sourceIp).toBe('127.77.2.9');
    expect((await getIncident(s.app.deps.db, second?.incidentId ?? -1))?.actorLabel).toContain('Payroll VLAN');
  });
});
