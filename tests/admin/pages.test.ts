import { simpleParser } from 'mailparser';
import { createServer as createHttpServer } from 'node:http';
import { SMTPServer } from 'smtp-server';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { getIncident } from '../../src/db/queries/incidents.ts';
import { insertAsset, listAssets } from '../../src/db/queries/assets.ts';
import { listApiKeys, findActiveApiKey } from '../../src/db/queries/api-keys.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import { getToken, listTokens } from '../../src/db/queries/tokens.ts';
import { listUsers } from '../../src/db/queries/users.ts';
import { KINDS } from '../../src/tokens/registry.ts';
import { makeAlert, makeHit, makeIncident } from '../factories.ts';
import { createAlertActions } from '../../src/alerts/actions.ts';
import { makeToken, silentLog, startTestServer, testConfig, type TestServer } from '../helpers.ts';
import { csrfOf, makeAdmin, signIn } from './helpers.ts';

const HOSTILE_NAME = '<img src=x onerror=alert(1)>';
const HOSTILE_UA = '"><script>alert("ua")</script><svg onload=alert(2)>';

let s: TestServer;
let app: ReturnType<typeof createAdminApp>;
let agent: Awaited<ReturnType<typeof signIn>>['agent'];
let csrf: string;
beforeAll(async () => {
  s = await startTestServer();
  app = createAdminApp(s.app.deps);
  await makeAdmin(s.app.deps.db);
  ({ agent, csrf } = await signIn(app));
});
afterAll(() => s.stop());

const db = () => s.app.deps.db;

/** POST the create form as multipart/form-data (fields, and a file when given), as a browser sends a form with a file input. */
function multipart(fields: Record<string, string | string[]>, file?: { filename: string; body: Buffer }) {
  let req = agent.post('/tokens/new');
  for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) req = req.field(k, one);
  return file ? req.attach('file', file.body, file.filename) : req;
}
const tokenIdFrom = (location: string) => /^\/tokens\/([0-9a-z]{24})\/created$/.exec(location)?.[1] ?? '';

describe('attacker-controlled text renders as text', () => {
  it('escapes a hostile token name and a hostile hit on every page that shows them', async () => {
    const created = await agent.post('/tokens/new').type('form').send({ kind: 'web-bug', name: HOSTILE_NAME, location: '<b>share</b>', _csrf: csrf });
    expect(created.status).toBe(303);
    const id = tokenIdFrom(created.headers.location ?? '');
    const token = await getToken(db(), id);
    if (!token?.urlPath) throw new Error('token not created');

    const hit = await fetch(`${s.publicUrl}${token.urlPath}`, { headers: { 'user-agent': HOSTILE_UA, referer: 'https://x.example/<i>ref</i>' } });
    expect(hit.status).toBe(200);
    const [stored] = await listHits(db(), { tokenId: id, limit: 1 });
    if (!stored) throw new Error('hit not recorded');
    expect(stored.userAgent).toBe(HOSTILE_UA);
    const incident = await makeIncident(db(), { hits: [stored], actorLabel: '<u>actor</u>' });
    await makeAlert(db(), incident.id, { status: 'dead', lastError: '<marquee>smtp said no</marquee>', target: 'x@corp.example' });

    for (const page of ['/', '/tokens', `/tokens/${id}`, `/tokens/${id}/created`, `/incidents/${incident.id}`, '/incidents', '/audit']) {
      const res = await agent.get(page);
      expect(res.status, page).toBe(200);
      expect(res.text, page).not.toContain('<img src=x');
      expect(res.text, page).not.toContain('<script>alert');
      expect(res.text, page).not.toContain('<svg onload');
      expect(res.text, page).not.toContain('<b>share</b>');
      expect(res.text, page).not.toContain('<u>actor</u>');
      expect(res.text, page).not.toContain('<marquee>');
    }
    const detail = (await agent.get(`/tokens/${id}`)).text;
    expect(detail).toContain('&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;');
    expect(detail).toContain('&lt;script&gt;alert(&quot;ua&quot;)&lt;/script&gt;');
    expect((await agent.get('/')).text).toContain('&lt;marquee&gt;smtp said no&lt;/marquee&gt;');
  });

  it('escapes hostile DNS names, mail subjects and decoded actor fields', async () => {
    const { token } = await makeToken(db(), s.config, { kind: 'web-bug', name: 'dns and mail' });
    const dns = await makeHit(db(), token.id, { channel: 'dns', qname: '<h1>x</h1>.t.corp.example', qtype: 'A', actorUser: '<i>bob</i>', actorDomain: 'CORP', actorHost: 'WS<1>' });
    const mail = await makeHit(db(), token.id, { channel: 'smtp', mailFrom: 'a@x', mailTo: 'b@y', mailSubject: '<iframe src=//evil>' });
    const incident = await makeIncident(db(), { hits: [dns, mail] });
    for (const page of [`/tokens/${token.id}`, `/incidents/${incident.id}`, '/']) {
      const text = (await agent.get(page)).text;
      expect(text).not.toMatch(/<h1>x<\/h1>|<i>bob<\/i>|<iframe|WS<1>/);
      // The hit tables name the decoded actor; the incident trail names the machine the lookup reported.
      expect(text).toContain(page.startsWith('/incidents/') ? 'WS&lt;1&gt; (reported)' : 'CORP\\&lt;i&gt;bob&lt;/i&gt;@WS&lt;1&gt;');
      expect(text).toContain('&lt;iframe src&#x3D;//evil&gt;');
    }
  });
});

describe('create-token form', () => {
  it.each(KINDS.map((k) => [k.id]))('renders a labelled field for every %s param and creates one from its example', async (kindId) => {
    const kind = KINDS.find((k) => k.id === kindId);
    if (!kind) throw new Error('kind');
    const page = await agent.get(`/tokens/new?kind=${kindId}`);
    expect(page.status).toBe(200);
    const body: Record<string, string | string[]> = { kind: kindId, name: `form ${kindId}`, _csrf: csrf };
    for (const [key, value] of Object.entries(kind.example)) {
      expect(page.text).toMatch(new RegExp(`<label[^>]* for="f-params-${key}"`));
      if (typeof value === 'boolean') {
        if (value) body[`params.${key}`] = 'on';
      } else body[`params.${key}`] = Array.isArray(value) ? value.map(String).join('\n') : String(value);
    }
    // A kind made from a document posts its form as multipart/form-data with the file, as the page's form does.
    const upload = kind.upload ? await kind.upload.example() : undefined;
    if (upload) expect(page.text).toMatch(/<form method="post" action="\/tokens\/new"[^>]* enctype="multipart\/form-data"[\s\S]*<input type="file" id="f-file" name="file"/);
    const res = upload ? await multipart(body, upload) : await agent.post('/tokens/new').type('form').send(body);
    expect(res.status, res.text.slice(0, 500)).toBe(303);
    const created = await agent.get(res.headers.location ?? '');
    expect(created.text).toContain('What to plant');
  });

  it('a document form with a mistake elsewhere keeps the uploaded file, so it need not be chosen again; nothing is stored until it is right', async () => {
    const kind = KINDS.find((k) => k.id === 'own-document');
    const upload = await kind?.upload?.example();
    if (!upload) throw new Error('own-document takes a file');
    const before = (await listTokens(db(), { limit: 1, offset: 0 })).total;
    const first = await multipart({ kind: 'own-document', name: 'kept file', alertEmails: 'not-an-email', _csrf: csrf }, upload);
    expect(first.status).toBe(400);
    expect(first.text).toMatch(/id="f-alertEmails-err">entry 1: must be an email address/);
    expect(first.text).toContain('value="kept file"');
    // Handlebars writes `=` as `&#x3D;` in attributes; the browser posts it back decoded.
    expect(first.text).toContain(`name="keptFile" value="${upload.body.toString('base64').replaceAll('=', '&#x3D;')}"`);
    expect(first.text).toContain(`<strong>${upload.filename}</strong>`);
    expect((await listTokens(db(), { limit: 1, offset: 0 })).total).toBe(before);
    // Sent again with the mistake fixed and no new file: the kept one is used.
    const again = await multipart({ kind: 'own-document', name: 'kept file', alertEmails: 'soc@corp.example', keptFile: upload.body.toString('base64'), keptFileName: upload.filename, _csrf: csrf });
    expect(again.status, again.text.slice(0, 500)).toBe(303);
    const token = await getToken(db(), tokenIdFrom(again.headers.location ?? ''));
    expect(token?.params).toMatchObject({ format: 'pdf', filename: upload.filename, size: upload.body.length });
  });

  it('a document over UPLOAD_MAX_BYTES: the form comes back (413) with what was typed and the limit on the file field', async () => {
    const before = (await listTokens(db(), { limit: 1, offset: 0 })).total;
    const res = await multipart({ _csrf: csrf, kind: 'own-document', name: 'too big', location: '\\\\fs01\\big' }, { filename: 'Huge.pdf', body: Buffer.alloc(s.config.UPLOAD_MAX_BYTES + 1, 0x41) });
    expect(res.status).toBe(413);
    expect(res.text).toMatch(/id="f-file-err">is larger than \d+ bytes/);
    expect(res.text).toContain('value="too big"');
    expect(res.text).toContain('value="\\\\fs01\\big"');
    expect((await listTokens(db(), { limit: 1, offset: 0 })).total).toBe(before);
  });

  it('a document form without a file, or with a broken one, says so on the field', async () => {
    const none = await multipart({ kind: 'own-document', name: 'no file', _csrf: csrf });
    expect(none.status).toBe(400);
    expect(none.text).toMatch(/id="f-file-err">is required/);
    const broken = await multipart({ kind: 'own-document', name: 'broken', _csrf: csrf }, { filename: 'Budget.xlsx', body: Buffer.from('PK\x03\x04 not really a zip') });
    expect(broken.status).toBe(400);
    expect(broken.text).toMatch(/id="f-file-err">is not a zip package|id="f-file-err">[^<]*zip/);
    expect(broken.text).not.toContain('name="keptFile"');
  });

  it('shows field errors inline, keeps what was typed, and stores nothing', async () => {
    const before = (await listTokens(db(), { limit: 1, offset: 0 })).total;
    const res = await agent
      .post('/tokens/new')
      .type('form')
      .send({ kind: 'redirect', name: 'keep me', 'params.target': 'http://insecure.example', alertEmails: 'soc@corp.example\nnot-an-email', ignoreCidrs: '10.0.0.0/99', _csrf: csrf });
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/id="f-params-target-err">must be an https:\/\/ URL/);
    expect(res.text).toMatch(/id="f-alertEmails-err">entry 2: must be an email address/);
    expect(res.text).toMatch(/id="f-ignoreCidrs-err">entry 1: must be an IP address or CIDR/);
    expect(res.text).toContain('value="keep me"');
    expect(res.text).toContain('value="http://insecure.example"');
    expect(res.text).toMatch(/aria-invalid="true"/);
    expect((await listTokens(db(), { limit: 1, offset: 0 })).total).toBe(before);
  });

  it('asks for a kind when none is chosen', async () => {
    const res = await agent.post('/tokens/new').type('form').send({ kind: 'nope', name: 'x', _csrf: csrf });
    expect(res.status).toBe(400);
    expect(res.text).toContain('Choose a token kind.');
  });
});

describe('tokens list and detail', () => {
  it('filters, paginates and applies bulk actions (delete after confirmation)', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 27; i++) ids.push((await makeToken(db(), s.config, { kind: 'redirect', name: `bulk-${i}`, location: `\\\\fs09\\legal\\${i}` })).token.id);
    const page1 = await agent.get('/tokens?location=fs09');
    expect(page1.text.match(/name="ids"/g)?.length).toBe(25);
    expect(page1.text).toContain('Page 1 of 2 · 27 total');
    const page2 = await agent.get('/tokens?location=fs09&page=2');
    expect(page2.text.match(/name="ids"/g)?.length).toBe(2);
    expect((await agent.get('/tokens?q=bulk-13')).text.match(/name="ids"/g)?.length).toBe(1);

    const two = ids.slice(0, 2);
    expect((await agent.post('/tokens/bulk').type('form').send({ action: 'disable', ids: two, _csrf: csrf })).status).toBe(303);
    expect(await Promise.all(two.map(async (id) => (await getToken(db(), id))?.enabled))).toEqual([false, false]);
    expect((await agent.get('/tokens?location=fs09&state=disabled')).text.match(/name="ids"/g)?.length).toBe(2);
    const confirm = await agent.post('/tokens/bulk').type('form').send({ action: 'delete', ids: two, _csrf: csrf });
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain('Delete 2 tokens');
    expect(await getToken(db(), two[0] ?? '')).toBeDefined();
    await agent.post('/tokens/bulk').type('form').send({ action: 'delete', ids: two, confirm: 'yes', _csrf: csrf });
    expect(await Promise.all(two.map((id) => getToken(db(), id)))).toEqual([undefined, undefined]);
  });

  it('updates settings, toggles, and deletes a token after confirmation', async () => {
    const { token } = await makeToken(db(), s.config, { kind: 'web-bug', name: 'settings' });
    const bad = await agent.post(`/tokens/${token.id}`).type('form').send({ name: '', webhooks: 'ftp://x', _csrf: csrf });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/id="f-name-err">is required/);
    const ok = await agent
      .post(`/tokens/${token.id}`)
      .type('form')
      .send({ name: 'renamed', location: '\\\\fs01\\hr', plantedHost: 'FS01', alertEmails: 'a@corp.example, b@corp.example', ignoreCidrs: '10.1.0.0/16', _csrf: csrf });
    expect(ok.status).toBe(303);
    expect(await getToken(db(), token.id)).toMatchObject({ name: 'renamed', plantedHost: 'FS01', alertEmails: ['a@corp.example', 'b@corp.example'], ignoreCidrs: ['10.1.0.0/16'] });
    await agent.post(`/tokens/${token.id}/state`).type('form').send({ enabled: 'false', _csrf: csrf });
    expect((await getToken(db(), token.id))?.enabled).toBe(false);
    const confirm = await agent.get(`/tokens/${token.id}/delete`);
    expect(confirm.text).toContain('Delete this token?');
    expect(await getToken(db(), token.id)).toBeDefined();
    expect((await agent.post(`/tokens/${token.id}/delete`).type('form').send({ _csrf: csrf })).status).toBe(303);
    expect(await getToken(db(), token.id)).toBeUndefined();
    expect((await agent.get(`/tokens/${token.id}`)).status).toBe(404);
  });

  it('pages through a token with many hits', async () => {
    const { token } = await makeToken(db(), s.config, { kind: 'web-bug', name: 'busy' });
    for (let i = 0; i < 60; i++) await makeHit(db(), token.id, { path: `/hit-${i}` });
    const first = await agent.get(`/tokens/${token.id}`);
    expect(first.text.match(/<tr class="hit">/g)?.length).toBe(50);
    const older = /href="(\/tokens\/[0-9a-z]+\?before(?:=|&#x3D;)\d+)#hits"/.exec(first.text)?.[1]?.replace('&#x3D;', '=');
    expect(older).toBeDefined();
    const second = await agent.get(older ?? '');
    expect(second.text.match(/<tr class="hit">/g)?.length).toBe(10);
    expect(second.text).toContain('/hit-0');
  });
});

describe('incidents', () => {
  it('shows an intrusion the real pipeline built (a share read, then a hop), with its path as a picture, and acknowledges it', async () => {
    const a = await makeToken(db(), s.config, { kind: 'web-bug', name: 'e2e finance bug', location: '\\\\fs07\\finance', plantedHost: 'FS07' });
    const b = await makeToken(db(), s.config, { kind: 'web-bug', name: 'e2e hr bug', location: 'C:\\Users\\hr\\e2e.url', plantedHost: 'WS-HR-08' });
    const { getFrom } = await import('../alerts/support.ts');
    await getFrom(a.url ?? '', '127.0.0.44');
    await getFrom(b.url ?? '', '127.0.0.44');
    const hit = (await listHits(db(), { tokenId: b.token.id, limit: 1 }))[0];
    expect(hit?.incidentId).toBeTruthy();
    const page = await agent.get(`/incidents/${hit?.incidentId}`);
    expect(page.status).toBe(200);
    const trail = page.text.slice(page.text.indexOf('id="trail-h"'));
    expect(trail.indexOf('e2e finance bug')).toBeLessThan(trail.indexOf('e2e hr bug'));
    expect(page.text).toContain('FS07');
    expect(page.text).toContain('WS-HR-08');
    expect(page.text).toContain('<span class="pill pill-alert">lateral movement</span>');
    // The path: text, and a server-rendered SVG with both machines and the hop's arrow.
    expect(page.text).toContain('<code id="path-text">WS-HR-08 → 127.0.0.44</code>');
    const svg = page.text.slice(page.text.indexOf('<svg'), page.text.indexOf('</svg>') + 6);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" class="path-graph" role="img"/);
    expect(svg).toContain('>WS-HR-08</text>');
    expect(svg).toContain('>127.0.0.44</text>');
    expect(svg).toContain('marker-end="url(#arrow)"');
    expect(svg).not.toMatch(/<script|on\w+=/);
    // Why critical: the evidence, and each trail row's source and action in words.
    expect(page.text).toContain('Why critical');
    expect(page.text).toContain('decoy from WS-HR-08&#x27;s own storage (&quot;e2e hr bug&quot;) touched from 127.0.0.44');
    expect(page.text).toContain('a program on Windows fetched the link');
    await agent.post(`/incidents/${hit?.incidentId}/status`).type('form').send({ status: 'acknowledged', _csrf: csrf });
    expect((await getIncident(db(), hit?.incidentId ?? 0))?.status).toBe('acknowledged');
  });

  it('shows the trail, places touched, techniques and alert log; acknowledges and closes', async () => {
    const a = await makeToken(db(), s.config, { kind: 'web-bug', name: 'payroll.xlsx bug', location: '\\\\fs01\\finance', plantedHost: 'FS01' });
    const b = await makeToken(db(), s.config, { kind: 'redirect', name: 'wiki link', location: 'https://wiki/hr', plantedHost: 'WIKI01' });
    const h1 = await makeHit(db(), a.token.id, { at: new Date('2026-11-01T10:00:00Z') });
    const h2 = await makeHit(db(), b.token.id, { at: new Date('2026-11-01T10:05:00Z') });
    await insertAsset(db(), { label: 'WS-ACCT-07', cidr: '10.20.4.0/24', segment: 'Finance VLAN' });
    const inc = await makeIncident(db(), { hits: [h1, h2], severity: 'critical', lateral: true, hostCount: 2, techniques: ['T1552.001'] });
    await makeAlert(db(), inc.id, { status: 'failed', lastError: 'connection refused', attempts: 3, sentAt: null });
    const page = await agent.get(`/incidents/${inc.id}`);
    expect(page.status).toBe(200);
    const text = page.text;
    expect(text.indexOf('payroll.xlsx bug')).toBeLessThan(text.indexOf('wiki link'));
    expect(text).toContain('FS01');
    expect(text).toContain('WIKI01');
    expect(text).toContain('https://attack.mitre.org/techniques/T1552/001/');
    expect(text).toContain('connection refused');
    expect(text).toContain('<span class="pill pill-alert">lateral movement</span>');
    expect(text).toContain('10.20.4.17 (WS-ACCT-07, Finance VLAN)');
    expect(text).toContain('<time datetime="2026-11-01T10:00:00.000Z" title="2026-11-01 10:00:00 UTC">2026-11-01 10:00:00 UTC</time>');

    await agent.post(`/incidents/${inc.id}/status`).type('form').send({ status: 'acknowledged', _csrf: csrf });
    expect((await getIncident(db(), inc.id))?.status).toBe('acknowledged');
    await agent.post(`/incidents/${inc.id}/status`).type('form').send({ status: 'closed', _csrf: csrf });
    expect((await getIncident(db(), inc.id))?.status).toBe('closed');
    expect((await agent.post(`/incidents/${inc.id}/status`).type('form').send({ status: 'bogus', _csrf: csrf })).status).toBe(400);
    expect((await agent.get('/incidents/999999')).status).toBe(404);
  });
});

describe('assets, admins, API keys, settings, audit', () => {
  it('adds, validates, edits, imports and deletes network map entries', async () => {
    const base = (await listAssets(db())).total;
    const bad = await agent.post('/assets').type('form').send({ label: 'X', cidr: '10.0.0.0/99', _csrf: csrf });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('must be an IP address or CIDR');
    expect((await agent.post('/assets').type('form').send({ label: 'WS-ACCT-07', cidr: '10.20.4.17', segment: 'Finance', criticality: 'high', _csrf: csrf })).status).toBe(303);
    const badCsv = await agent.post('/assets/import').type('form').send({ csv: 'label,cidr\nA,10.0.0.1\nB,nope', _csrf: csrf });
    expect(badCsv.status).toBe(400);
    expect(badCsv.text).toContain('line 3');
    expect((await listAssets(db())).total).toBe(base + 1);
    expect((await agent.post('/assets/import').type('form').send({ csv: 'label,cidr,segment\nA,10.0.0.1,Lab\nB,10.0.0.2,Lab', _csrf: csrf })).status).toBe(303);
    expect((await listAssets(db())).total).toBe(base + 3);
    const ws = (await listAssets(db())).items.find((x) => x.label === 'WS-ACCT-07');
    await agent.post(`/assets/${ws?.id}`).type('form').send({ label: 'WS-ACCT-08', cidr: '10.20.4.18', criticality: 'critical', _csrf: csrf });
    expect((await listAssets(db())).items.find((x) => x.id === ws?.id)).toMatchObject({ label: 'WS-ACCT-08', cidr: '10.20.4.18', criticality: 'critical' });
    await agent.post(`/assets/${ws?.id}/delete`).type('form').send({ _csrf: csrf });
    expect((await listAssets(db())).total).toBe(base + 2);
  });

  it('adds and removes admins, but never yourself', async () => {
    expect((await agent.post('/admins').type('form').send({ email: 'two@corp.example', password: 'short', confirm: 'short', _csrf: csrf })).status).toBe(400);
    expect((await agent.post('/admins').type('form').send({ email: 'two@corp.example', password: 'second admin password', confirm: 'second admin password', _csrf: csrf })).status).toBe(303);
    await signIn(app, 'two@corp.example', 'second admin password');
    const users = await listUsers(db());
    const me = users.find((u) => u.email !== 'two@corp.example');
    const two = users.find((u) => u.email === 'two@corp.example');
    expect((await agent.post(`/admins/${me?.id}/delete`).type('form').send({ _csrf: csrf })).status).toBe(409);
    expect((await agent.post(`/admins/${two?.id}/delete`).type('form').send({ _csrf: csrf })).status).toBe(303);
    expect((await listUsers(db())).map((u) => u.email)).not.toContain('two@corp.example');
  });

  it('shows a new API key once and revokes it', async () => {
    // Post/redirect/get (issue 19): the key is shown once on the page the POST redirects to.
    const res = await agent.post('/api-keys').type('form').send({ name: 'SIEM', preset: 'full', expires: 'never', _csrf: csrf });
    expect(res.status).toBe(303);
    const shown = await agent.get(res.headers.location ?? '');
    const key = /id="new-key">(ht_[\w-]+)</.exec(shown.text)?.[1] ?? '';
    expect(await findActiveApiKey(db(), key)).toBeDefined();
    const list = await agent.get('/api-keys');
    expect(list.text).not.toContain(key);
    expect((await request(app).get('/api/v1/kinds').set('Authorization', `Bearer ${key}`)).status).toBe(200);
    const row = (await listApiKeys(db())).find((k) => k.name === 'SIEM');
    await agent.post(`/api-keys/${row?.id}/revoke`).type('form').send({ _csrf: csrf });
    expect((await request(app).get('/api/v1/kinds').set('Authorization', `Bearer ${key}`)).status).toBe(401);
  });

  it('says plainly that tests cannot be sent without the alert module', async () => {
    const bare = await signIn(createAdminApp({ ...s.app.deps, alerts: undefined }));
    const page = await bare.agent.get('/settings');
    expect(page.text).toContain('The alert delivery module is not installed');
    // Post/redirect/get (issue 19): the outcome is on the page the POST redirects to.
    const posted = await bare.agent.post('/settings/test-email').type('form').send({ to: 'soc@corp.example', _csrf: bare.csrf });
    expect(posted.status).toBe(303);
    const res = await bare.agent.get(posted.headers.location ?? '');
    expect(res.text).toContain('nothing was sent');
    expect(res.text).not.toMatch(/delivered/);
  });

  it('sends a test email through the alert pipeline to a real SMTP server', async () => {
    const received: string[] = [];
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, _session, cb) {
        let data = '';
        stream.on('data', (c: Buffer) => (data += c.toString()));
        stream.on('end', () => {
          received.push(data);
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    const port = (smtp.server.address() as { port: number }).port;
    const config = testConfig(s.dir, { SMTP_URL: `smtp://127.0.0.1:${port}` });
    const alerts = createAlertActions({ db: s.app.deps.db, config, log: silentLog });
    try {
      const withAlerts = createAdminApp({ ...s.app.deps, alerts });
      const signed = await signIn(withAlerts);
      const posted = await signed.agent.post('/settings/test-email').type('form').send({ to: 'soc@corp.example', _csrf: signed.csrf });
      expect(posted.status).toBe(303);
      const res = await signed.agent.get(posted.headers.location ?? '');
      expect(res.text).toMatch(/test-email<\/strong> to soc@corp.example: delivered/);
      expect(received).toHaveLength(1);
      const mail = await simpleParser(received[0] ?? '');
      expect(mail.subject).toMatch(/^\[TEST\] Drill: Lateral movement: WS-22 \(10\.20\.4\.22\) → JUMP01 \(10\.30\.0\.10\)/);
      const bad = await signed.agent.post('/settings/test-email').type('form').send({ to: 'nope', _csrf: signed.csrf });
      expect(bad.status).toBe(400);
      expect(bad.text).toContain('must be an email address');
    } finally {
      await new Promise<void>((r) => smtp.close(() => r()));
    }
  });

  it('runs a purple-team scenario from the settings page and shows its report (decoys fired, latencies, incident); refuses an unknown scenario', async () => {
    const signed = await signIn(createAdminApp(s.app.deps));
    const settings = await signed.agent.get('/settings');
    expect(settings.text).toContain('<option value="share-recon">');
    const posted = await signed.agent.post('/settings/scenario').type('form').send({ scenario: 'share-recon', _csrf: signed.csrf });
    expect(posted.status).toBe(303);
    expect(posted.headers.location).toMatch(/^\/settings\/drills\/[0-9a-z]{10}$/);
    const report = await signed.agent.get(posted.headers.location ?? '');
    expect(report.status).toBe(200);
    expect(report.text).toContain('Passed: every decoy fired');
    expect(report.text).toMatch(/Network diagram \(drill\) \(word, \\\\FS-DRILL01\\it\\Docs\)<\/td><td>fired<\/td><td>\d+ ms<\/td><td>\d+ ms<\/td><td><a href="\/incidents\/\d+">/);
    expect(report.text).toContain('No alert channel is configured');
    // The run is listed on the settings page; a reload of the report runs nothing again.
    const again = await signed.agent.get('/settings');
    expect(again.text).toContain(`href="${posted.headers.location}"`);
    const bad = await signed.agent.post('/settings/scenario').type('form').send({ scenario: 'no-such', _csrf: signed.csrf });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('Choose one of the scenarios listed');
    expect((await signed.agent.get('/settings/drills/zzzzzzzzzz')).status).toBe(404);
  });

  it('sends a test webhook and runs a drill from the settings page; refuses a private webhook target', async () => {
    const posts: { path: string; body: string }[] = [];
    const hook = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        posts.push({ path: req.url ?? '', body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hooks/soc`;
    const config = testConfig(s.dir, { WEBHOOK_URLS: url, WEBHOOK_ALLOW_PRIVATE: '127.0.0.1/32' });
    try {
      const signed = await signIn(createAdminApp({ ...s.app.deps, config, alerts: createAlertActions({ db: s.app.deps.db, config, log: silentLog }) }));
      const res = await signed.agent.get((await signed.agent.post('/settings/test-webhook').type('form').send({ url, _csrf: signed.csrf })).headers.location ?? '');
      expect(res.text).toContain(`test-webhook</strong> to ${url}: delivered`);
      expect(posts).toHaveLength(1);
      expect(posts[0]?.path).toBe('/hooks/soc');

      const drill = await signed.agent.get((await signed.agent.post('/settings/drill').type('form').send({ _csrf: signed.csrf })).headers.location ?? '');
      expect(drill.text).toMatch(/drill<\/strong> to all recipients: delivered/);
      expect(posts).toHaveLength(2);
      expect(JSON.parse(posts[1]?.body ?? '{}')).toMatchObject({ schema: 'honeytrail.alert/v1' });

      // Not allow-listed: refused before anything is sent, and the page says why.
      const strict = testConfig(s.dir);
      const guarded = await signIn(createAdminApp({ ...s.app.deps, config: strict, alerts: createAlertActions({ db: s.app.deps.db, config: strict, log: silentLog }) }));
      const refused = await guarded.agent.get((await guarded.agent.post('/settings/test-webhook').type('form').send({ url, _csrf: guarded.csrf })).headers.location ?? '');
      expect(refused.text).toMatch(/private|not allowed/i);
      expect(posts).toHaveLength(2);
      const audit = await agent.get('/audit');
      expect(audit.text).toContain('settings.test-webhook');
      expect(audit.text).toContain('settings.drill');
    } finally {
      await new Promise<void>((r) => hook.close(() => r()));
    }
  });

  it('counts and lists (oldest first, ten at most) the tokens that never fired on the dashboard; one drops out once it fires', async () => {
    const { url } = await makeToken(db(), s.config, { kind: 'web-bug', name: 'never-fired-decoy', location: '\\\\fs09\\quiet' });
    const section = async () => {
      const html = /<section aria-labelledby="never-h">([\s\S]*?)<\/section>/.exec((await agent.get('/')).text)?.[1] ?? '';
      return { total: Number(/Tokens never triggered \((\d+)\)/.exec(html)?.[1]), links: [...html.matchAll(/href="\/tokens\/([0-9a-z]{24})"/g)].map((m) => m[1]) };
    };
    const never = (await listTokens(db(), { limit: 1000, offset: 0 })).items.filter((t) => t.hitCount === 0 && !t.deletedAt);
    const before = await section();
    expect(before.total).toBe(never.length);
    expect(before.links).toHaveLength(Math.min(10, never.length));
    const listed = never.filter((t) => before.links.includes(t.id));
    const unlisted = never.filter((t) => !before.links.includes(t.id));
    expect(listed).toHaveLength(before.links.length);
    const newestListed = Math.max(...listed.map((t) => t.createdAt.getTime()));
    expect(unlisted.every((t) => t.createdAt.getTime() >= newestListed)).toBe(true);
    expect((await fetch(url ?? '')).status).toBe(200);
    expect((await section()).total).toBe(never.length - 1);
  });

  it('shows the SMTP server on the settings page without its password', async () => {
    const config = testConfig(s.dir, { SMTP_URL: 'smtp://mailer:hunter2-secret@mail.corp.example:587' });
    const signed = await signIn(createAdminApp({ ...s.app.deps, config }));
    const page = await signed.agent.get('/settings');
    expect(page.text).toContain('smtp://mailer:***@mail.corp.example:587');
    expect(page.text).not.toContain('hunter2');
  });

  it('offers a QR code in each of its formats on the token page', async () => {
    const { token } = await makeToken(db(), s.config, { kind: 'qr', params: { format: 'png' } });
    const page = await agent.get(`/tokens/${token.id}`);
    // Handlebars escapes the `=` in the link as &#x3D;, which the browser reads back as `=`.
    expect(page.text).toMatch(new RegExp(`href="/tokens/${token.id}/download\\?format(=|&#x3D;)svg" download id="download-svg"`));
    const svg = await agent.get(`/tokens/${token.id}/download?format=svg`);
    expect(svg.status).toBe(200);
    expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect((await agent.get(`/tokens/${token.id}/download?format=gif`)).status).toBe(400);
  });

  it('lists audit entries with pagination', async () => {
    const res = await agent.get('/audit');
    expect(res.status).toBe(200);
    expect(res.text).toContain('token.create');
    expect(res.text).toContain('user.login');
    expect(res.text).toMatch(/Page 1 of \d+/);
  });

  it('serves the stylesheet and script as static files', async () => {
    const css = await agent.get('/static/app.css');
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toMatch(/text\/css/);
    expect((await agent.get('/static/app.js')).headers['content-type']).toMatch(/javascript/);
    expect((await agent.get('/static/nope.js')).status).toBe(404);
    expect(csrfOf((await agent.get('/tokens')).text)).toBe(csrf);
  });

  it('expected activity: adds a rule from the form (lists one per line), shows errors in place, edits it, deletes after confirmation', async () => {
    const bad = await agent.post('/expected-activity').type('form').send({ name: 'AV', users: 'svc-av', decoys: '', evidence_touch: 'on', enabled: 'on', _csrf: csrf });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('There is a problem');
    expect(bad.text).toContain('href="#r-sources"');
    expect(bad.text).toContain('say who: a source address or CIDR, or a host name');
    expect(bad.text).toContain('href="#r-decoys"');
    expect(bad.text).toContain('>svc-av</textarea>');
    const added = await agent
      .post('/expected-activity')
      .type('form')
      .send({ name: 'Nightly backup', sources: '10.1.5.20\n10.1.6.0/24', decoys: '\\\\FS01\\*', schedule: 'daily 01:00-04:00 Europe/Berlin', evidence_touch: 'on', enabled: 'on', tag: 'backup', _csrf: csrf });
    expect([added.status, added.headers.location]).toEqual([303, '/expected-activity?msg=rule_added']);
    const list = (await agent.get('/expected-activity?msg=rule_added')).text;
    expect(list).toContain('Expected-activity rule added');
    expect(list).toContain('10.1.5.20, 10.1.6.0/24');
    expect(list).toContain('daily 01:00-04:00 Europe/Berlin');
    const id = /href="\/expected-activity\/(\d+)"/.exec(list)?.[1];
    const saved = await agent.post(`/expected-activity/${id}`).type('form').send({ name: 'Nightly backup', sources: '10.1.5.20', decoys: '\\\\FS01\\*', evidence_touch: 'on', 'evidence_credential-found': 'on', _csrf: csrf });
    expect(saved.status).toBe(303);
    const page = (await agent.get(`/expected-activity/${id}`)).text;
    expect(page).toMatch(/id="r-ev-found" name="evidence_credential-found" checked/);
    expect(page).not.toMatch(/id="r-enabled" name="enabled" checked/);
    expect((await agent.get(`/expected-activity/${id}/delete`)).text).toContain('Delete the expected-activity rule &quot;Nightly backup&quot;?');
    expect((await agent.post(`/expected-activity/${id}/delete`).type('form').send({ _csrf: csrf })).headers.location).toBe('/expected-activity?msg=deleted');
    expect((await agent.get('/expected-activity')).text).toContain('No rules: every touch pages.');
  });

  it('shows only known flash messages', async () => {
    expect((await agent.get('/tokens?msg=saved')).text).toContain('<p class="flash" role="status">Changes saved.</p>');
    for (const msg of ['constructor', '__proto__', 'toString', '<b>hi</b>']) {
      expect((await agent.get(`/tokens?msg=${encodeURIComponent(msg)}`)).text).not.toContain('class="flash"');
    }
  });
});
