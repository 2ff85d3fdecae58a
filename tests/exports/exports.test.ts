import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { csvCell } from '../../src/csv.ts';
import { uuidV5 } from '../../src/exports/stix.ts';
import type { Token } from '../../src/tokens/kind.ts';
import { auth, makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { stixProblems } from './stix-rules.ts';

let s: TestServer;
let app: ReturnType<typeof createAdminApp>;
let tokenId: string;
beforeAll(async () => {
  s = await startTestServer();
  app = createAdminApp(s.app.deps);
  const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', name: '=HYPERLINK("http://evil")', location: '\\\\fs01\\hr' });
  tokenId = token.id;
  await fetch(url!, { headers: { 'user-agent': '=cmd|\' /C calc\'!A0' } });
  await fetch(`${url!}${url!.includes('?') ? '&' : '?'}q=@SUM(1)`, { headers: { 'user-agent': '+plus "quoted"' } });
});
afterAll(() => s.stop());

describe('CSV cells', () => {
  it.each([
    ['=1+1', `"'=1+1"`],
    ['+1', `"'+1"`],
    ['-2', `"'-2"`],
    ['@SUM(A1)', `"'@SUM(A1)"`],
    ['\tx', `"'\tx"`],
    ['a "b"', '"a ""b"""'],
    [null, '""'],
    [42, '"42"'],
  ])('%j -> %s', (input, out) => expect(csvCell(input)).toBe(out));
});

describe('hit exports', () => {
  it('CSV neutralises formulas in attacker-controlled fields', async () => {
    const res = await request(app).get('/api/v1/exports/hits?format=csv').set(auth);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="?honeytrail-hits-[0-9-]+\.csv"?$/);
    const lines = res.text.trim().split('\r\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^"id","at","token_id".*"what","evidence","repeat_count"$/);
    // What happened, in words, on every row (a user agent starting with = is no formula there either).
    expect(lines[1]).toMatch(/"'=cmd\|'[^"]* fetched the link","touch","1"$/);
    expect(res.text).toContain(`"'=HYPERLINK(""http://evil"")"`);
    expect(res.text).toContain(`"'=cmd|' /C calc'!A0"`);
    expect(res.text).toContain(`"'+plus ""quoted"""`);
    for (const line of lines.slice(1)) expect(line).not.toMatch(/(^|,)"[=+\-@]/);
  });

  it('JSON Lines has one parseable hit per line with its token', async () => {
    const res = await request(app).get(`/api/v1/exports/hits?format=jsonl&tokenId=${tokenId}`).set(auth);
    const rows = res.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ tokenId, channel: 'http', token: { kind: 'web-bug', location: '\\\\fs01\\hr' }, evidence: 'touch', techniques: ['T1039'] });
    expect(rows[0].what).toMatch(/ fetched the link$/);
  });

  it('STIX 2.1 bundle passes the specification rules and links sightings to indicators and ATT&CK', async () => {
    const res = await request(app).get('/api/v1/exports/hits?format=stix').set(auth);
    expect(res.headers['content-type']).toMatch(/application\/stix\+json/);
    const bundle = JSON.parse(res.text);
    expect(stixProblems(bundle)).toEqual([]);
    const byType = (t: string) => bundle.objects.filter((o: { type: string }) => o.type === t);
    expect(byType('indicator')).toHaveLength(1);
    expect(byType('sighting')).toHaveLength(2);
    expect(byType('observed-data')).toHaveLength(2);
    expect(byType('indicator')[0].pattern).toMatch(/^\[url:value = 'http:\/\/127\.0\.0\.1:\d+\/.+'\]$/);
    const ap = byType('attack-pattern');
    expect(ap.length).toBeGreaterThan(0);
    expect(ap[0].external_references[0]).toMatchObject({ source_name: 'mitre-attack', external_id: expect.stringMatching(/^T\d{4}/) });
    const traffic = byType('network-traffic')[0];
    expect(traffic.extensions['http-request-ext'].request_header['User-Agent']).toBeDefined();
    // Re-exporting yields the same object ids (importers update instead of duplicating).
    const again = JSON.parse((await request(app).get('/api/v1/exports/hits?format=stix').set(auth)).text);
    expect(again.objects.map((o: { id: string }) => o.id).sort()).toEqual(bundle.objects.map((o: { id: string }) => o.id).sort());
  });

  it('the rule checker catches broken bundles (so the test above can fail)', () => {
    expect(stixProblems({ type: 'bundle', id: 'bundle--x', objects: [] })).not.toEqual([]);
    const bad = { type: 'bundle', id: `bundle--${uuidV5('a', '00abedb4-aa42-466c-9c01-fed23315a9b7')}`, objects: [{ type: 'sighting', id: `sighting--${uuidV5('b', '00abedb4-aa42-466c-9c01-fed23315a9b7')}`, spec_version: '2.1', created: 'yesterday', modified: '2026-01-01T00:00:00Z', sighting_of_ref: 'indicator--00000000-0000-4000-8000-000000000000' }] };
    const problems = stixProblems(bad).join('\n');
    expect(problems).toMatch(/created/);
    expect(problems).toMatch(/dangling reference/);
  });

  it('refuses unknown formats', async () => {
    const res = await request(app).get('/api/v1/exports/hits?format=xlsx').set(auth);
    expect(res.status).toBe(400);
    expect(res.body.error.fields.format).toMatch(/csv, jsonl or stix/);
  });
});

describe('incident exports', () => {
  it('CSV, JSON Lines and a STIX bundle whose groupings hold the incident sightings', async () => {
    const { getFrom } = await import('../alerts/support.ts');
    const a = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', name: 'inc A', location: '\\\\fs01\\a', plantedHost: 'FS01' });
    // B lives on WS-HR-02's own disk: followed from 127.0.0.61, it is a hop (lateral movement).
    const b = await makeToken(s.app.deps.db, s.config, { kind: 'redirect', name: 'inc B', location: 'C:\\Users\\hr\\b.url', plantedHost: 'WS-HR-02', params: { target: 'https://x.example/' } });
    await getFrom(a.url ?? '', '127.0.0.61');
    await getFrom(b.url ?? '', '127.0.0.61');
    // Two intrusions that one hit then links (the planted portal password tried as m.keller from 10.9.8.7): merged.
    const rec = s.app.deps.recorder;
    const folder = (await makeToken(s.app.deps.db, s.config, { kind: 'windows-folder', name: 'folder', location: '\\\\fs01\\f' })).token as Token;
    const bookmark = (await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', name: 'bookmark' })).token as Token;
    const portal = (await makeToken(s.app.deps.db, s.config, { kind: 'credentials', name: 'portal' })).token as Token;
    const parent = await rec.record({ token: folder, channel: 'dns', sourceIp: '10.0.0.53', qname: 'x.example', facts: { actor: { user: 'm.keller', host: 'WS-22', domain: 'CORP' } } });
    const child = await rec.record({ token: bookmark, channel: 'http', sourceIp: '10.9.8.7' });
    await rec.record({ token: portal, channel: 'http', sourceIp: '10.9.8.7', facts: { details: { portal: 'planted-password-other-user', username: 'm.keller', via: 'form' } } });

    const csv = await request(app).get('/api/v1/exports/incidents?format=csv').set(auth);
    expect(csv.status).toBe(200);
    expect(csv.text.split('\r\n')[0]).toMatch(/^"id","first_at","last_at","status","severity","actor".*"machines","path","evidence","merged_into"$/);
    expect(csv.text).toContain('"yes"');
    expect(csv.text).toContain('"WS-HR-02 → 127.0.0.61"');

    const jsonl = await request(app).get('/api/v1/exports/incidents?format=jsonl&status=open').set(auth);
    const incidents = jsonl.text.trim().split('\n').map((l) => JSON.parse(l));
    const lateral = incidents.find((i: { hostCount: number; tokenCount: number }) => i.hostCount === 2 && i.tokenCount === 2);
    expect(lateral).toMatchObject({ lateral: true, severity: 'critical', status: 'open', machineCount: 2, path: { text: 'WS-HR-02 → 127.0.0.61' } });
    expect(lateral.hitIds).toHaveLength(2);
    expect(lateral.techniques[0]).toMatchObject({ id: expect.stringMatching(/^T\d{4}/), name: expect.any(String) });
    expect(lateral.reasons.map((r: { code: string }) => r.code)).toEqual(['touch', 'first-seen', 'touch', 'hop']);
    expect(incidents.find((i: { id: number }) => i.id === child.incidentId)).toMatchObject({ mergedInto: parent.incidentId });

    const stix = JSON.parse((await request(app).get('/api/v1/exports/incidents?format=stix').set(auth)).text);
    expect(stixProblems(stix)).toEqual([]);
    const groupings = stix.objects.filter((o: { type: string }) => o.type === 'grouping');
    expect(groupings.length).toBeGreaterThanOrEqual(1);
    const g = groupings.find((x: { name: string }) => x.name.startsWith(`Honeytrail incident ${lateral.id}`));
    expect(g.object_refs).toHaveLength(2);
    expect(g.context).toBe('suspicious-activity');
    expect(g.labels).toContain('severity:critical');
    expect(g.x_honeytrail_path).toBe('WS-HR-02 → 127.0.0.61');
    // The merged intrusion: a grouping that refers to its parent, and a relationship saying so.
    const pg = groupings.find((x: { name: string }) => x.name.startsWith(`Honeytrail incident ${parent.incidentId}`));
    const cg = groupings.find((x: { name: string }) => x.name.startsWith(`Honeytrail incident ${child.incidentId}`));
    expect(cg.object_refs).toEqual([pg.id]);
    expect(stix.objects.find((o: { type: string; source_ref?: string }) => o.type === 'relationship' && o.source_ref === cg.id)).toMatchObject({ relationship_type: 'related-to', target_ref: pg.id });
    const ap = stix.objects.find((o: { type: string }) => o.type === 'attack-pattern');
    expect(ap.name).not.toMatch(/^T\d{4}/); // technique names, not bare ids
  });

  it('the admin UI offers the same downloads to a signed-in user only', async () => {
    const { makeAdmin, signIn } = await import('../admin/helpers.ts');
    await makeAdmin(s.app.deps.db, 'export@corp.example');
    const anon = await request(app).get('/export/incidents?format=csv');
    expect([302, 303]).toContain(anon.status);
    expect(anon.headers.location).toMatch(/^\/login/);
    const { agent } = await signIn(app, 'export@corp.example');
    const res = await agent.get('/export/incidents?format=csv');
    expect(res.status).toBe(200);
    expect(res.headers['content-disposition']).toMatch(/honeytrail-incidents-[0-9-]+\.csv/);
    expect((await agent.get('/export/hits?format=xlsx')).status).toBe(400);
  });
});
