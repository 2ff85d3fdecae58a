import { request as httpRequest } from 'node:http';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import { intelMatcher } from '../../src/intel/matcher.ts';
import { indicatorType } from '../../src/intel/parse.ts';
import { auth, makeToken, startTestServer, type TestServer } from '../helpers.ts';

let s: TestServer;
let app: ReturnType<typeof createAdminApp>;
beforeAll(async () => {
  s = await startTestServer();
  app = createAdminApp(s.app.deps);
});
afterAll(() => s.stop());

/** GET from a chosen loopback source address. */
function getFrom(localAddress: string, url: string): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname + u.search, localAddress }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('threat-intel indicators', () => {
  it.each([
    ['198.51.100.7', 'ip', '198.51.100.7'],
    ['10.66.0.0/16', 'cidr', '10.66.0.0/16'],
    ['Evil[.]Example.COM', 'domain', 'evil.example.com'],
    ['ops@evil.example', 'email', 'ops@evil.example'],
    ['2001:db8::1', 'ip', '2001:db8::1'],
    ['not an indicator', null, null],
  ])('%s is %s', (raw, type, value) => {
    const t = indicatorType(raw);
    expect(t ? [t.type, t.value] : [null, null]).toEqual([type, value]);
  });

  it('imports a plain list, a CSV and a STIX bundle; bad entries reject the whole import', async () => {
    const list = await request(app).post('/api/v1/intel/import?label=APT-Test&source=feed1').set(auth).set('content-type', 'text/plain').send('# known C2\n127.0.0.2\n10.99.0.0/16\n\nbad.example\n');
    expect(list.status).toBe(201);
    expect(list.body).toMatchObject({ label: 'APT-Test', received: 3, added: 3 });
    const again = await request(app).post('/api/v1/intel/import?label=APT-Test').set(auth).set('content-type', 'text/plain').send('127.0.0.2\n');
    expect(again.body.added).toBe(0);

    const csv = await request(app).post('/api/v1/intel/import?label=FIN-X').set(auth).set('content-type', 'text/csv').send('indicator,label\n203.0.113.5,FIN7\n203.0.113.6,\n');
    expect(csv.body.added).toBe(2);

    const stix = {
      type: 'bundle',
      id: 'bundle--6d8a9f3e-1111-4a2b-8c3d-123456789abc',
      objects: [
        { type: 'indicator', id: 'indicator--6d8a9f3e-2222-4a2b-8c3d-123456789abc', pattern: "[ipv4-addr:value = '192.0.2.44'] OR [domain-name:value = 'c2.evil.example']", pattern_type: 'stix' },
        { type: 'malware', id: 'malware--6d8a9f3e-3333-4a2b-8c3d-123456789abc', name: 'x' },
      ],
    };
    const st = await request(app).post('/api/v1/intel/import?label=APT29').set(auth).send(stix);
    expect(st.status).toBe(201);
    expect(st.body.added).toBe(2);

    const bad = await request(app).post('/api/v1/intel/import?label=Bad').set(auth).set('content-type', 'text/plain').send('1.2.3.4\nnonsense value\n');
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields['line 2']).toMatch(/not an IP/);
    const noLabel = await request(app).post('/api/v1/intel/import').set(auth).set('content-type', 'text/plain').send('1.2.3.4');
    expect(noLabel.body.error.fields.label).toBeDefined();

    const summary = await request(app).get('/api/v1/intel').set(auth);
    const labels = summary.body.items.map((i: { label: string }) => i.label);
    expect(labels).toEqual(expect.arrayContaining(['APT-Test', 'FIN7', 'FIN-X', 'APT29']));
    expect(labels).not.toContain('Bad');
  });

  it('stamps the label on hits from matching sources only', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    await getFrom('127.0.0.2', url!);
    await getFrom('127.0.0.3', url!);
    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5, order: 'asc' });
    expect(hits.map((h) => [h.sourceIp, h.intel])).toEqual([
      ['127.0.0.2', ['APT-Test']],
      ['127.0.0.3', null],
    ]);
    const api = await request(app).get(`/api/v1/tokens/${token.id}/hits?order=asc`).set(auth);
    expect(api.body.items[0].intel).toEqual(['APT-Test']);
  });

  it('matches every indicator type: CIDR ranges (IPv4 and IPv6), forwarded chains, exact senders and sender domains with their subdomains', async () => {
    const res = await request(app)
      .post('/api/v1/intel/import?label=Range-Test')
      .set(auth)
      .set('content-type', 'text/plain')
      .send('127.0.0.64/26\n2001:db8:66::/48\nops@evil.example\nphish.example\n');
    expect(res.body.added).toBe(4);
    const m = intelMatcher(s.app.deps.db, 0);
    await m.refresh();
    const labels = (hit: { sourceIp?: string; forwardedFor?: string; mailFrom?: string }) =>
      m.labelsFor({ sourceIp: hit.sourceIp ?? null, forwardedFor: hit.forwardedFor ?? null, mailFrom: hit.mailFrom ?? null }).filter((l) => l === 'Range-Test');
    expect(labels({ sourceIp: '127.0.0.64' })).toEqual(['Range-Test']);
    expect(labels({ sourceIp: '127.0.0.127' })).toEqual(['Range-Test']);
    expect(labels({ sourceIp: '127.0.0.128' })).toEqual([]);
    expect(labels({ sourceIp: '::ffff:127.0.0.70' })).toEqual(['Range-Test']);
    expect(labels({ sourceIp: '2001:db8:66:1::5' })).toEqual(['Range-Test']);
    expect(labels({ sourceIp: '2001:db8:67::5' })).toEqual([]);
    expect(labels({ sourceIp: '10.0.0.1', forwardedFor: '192.0.2.1, 127.0.0.99' })).toEqual(['Range-Test']);
    expect(labels({ sourceIp: '10.0.0.1', mailFrom: 'OPS@Evil.Example' })).toEqual(['Range-Test']);
    expect(labels({ sourceIp: '10.0.0.1', mailFrom: 'other@evil.example' })).toEqual([]);
    expect(labels({ sourceIp: '10.0.0.1', mailFrom: 'hr@phish.example' })).toEqual(['Range-Test']);
    expect(labels({ sourceIp: '10.0.0.1', mailFrom: 'hr@mail.phish.example' })).toEqual(['Range-Test']);
    expect(labels({ sourceIp: '10.0.0.1', mailFrom: 'hr@notphish.example' })).toEqual([]);

    // End to end: a hit from inside the imported range is stamped as it is stored, at once (an
    // import in this process renews its index; another process's within a second).
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    await getFrom('127.0.0.70', url!);
    const [hit] = await listHits(s.app.deps.db, { tokenId: token.id, limit: 1 });
    expect(hit?.intel).toContain('Range-Test');
  });

  it('deletes a label', async () => {
    const res = await request(app).delete('/api/v1/intel?label=FIN7').set(auth);
    expect(res.body.removed).toBe(1);
  });
});

describe('threat intel in alerts', () => {
  it('a hit from an APT-listed source raises the incident a step and names the group in the mail', async () => {
    const { smtpSink, waitFor, getFrom: getFromAddr } = await import('../alerts/support.ts');
    const sink = await smtpSink();
    const srv = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${sink.port}`, ALERT_TO: 'soc@corp.example', ALERT_POLL_MS: '50' });
    try {
      const api = createAdminApp(srv.app.deps);
      await request(api).post('/api/v1/intel/import?label=APT29').set(auth).set('content-type', 'text/plain').send('127.0.0.9\n');
      const { url } = await makeToken(srv.app.deps.db, srv.config, { kind: 'web-bug', name: 'Board minutes', location: '\\\\fs01\\board' });
      await getFromAddr(url!, '127.0.0.9');
      const mail = await waitFor(() => sink.mails[0], 15_000, 'the alert mail');
      // A touch (medium) from a first-seen machine (high) that threat intel names: critical.
      expect(mail.mail.subject).toMatch(/^\[Honeytrail #\d+\] \[CRITICAL\] .*\(known APT29 source\)/);
      expect(mail.mail.text).toContain('source matches APT29');
      const incidents = await request(api).get('/api/v1/incidents').set(auth);
      expect(incidents.body.items[0]).toMatchObject({ severity: 'critical' });
      expect(incidents.body.items[0].reasons.map((r: { code: string }) => r.code)).toEqual(['touch', 'intel', 'first-seen']);
    } finally {
      await srv.stop();
      await sink.close();
    }
  });
});

describe('scanner ranges imported like intel (--purpose scanner)', () => {
  it('a link checker\'s published range, imported by the operator, classifies its fetches as scanner; it is no threat intel; a planted secret from it still alerts', async () => {
    const srv = await startTestServer({ ALERT_TO: 'soc@corp.example', ALERT_WORKER_ENABLED: 'false' });
    try {
      const api = createAdminApp(srv.app.deps);
      const bad = await request(api).post('/api/v1/intel/import?label=X&purpose=friendly').set(auth).set('content-type', 'text/plain').send('127.0.0.66\n');
      expect(bad.status).toBe(400);
      const imported = await request(api).post('/api/v1/intel/import?label=CorpLinkCheck&purpose=scanner').set(auth).set('content-type', 'text/plain').send('127.0.0.64/30\n');
      expect(imported.body).toMatchObject({ label: 'CorpLinkCheck', purpose: 'scanner', added: 1 });
      expect((await request(api).get('/api/v1/intel').set(auth)).body.items).toContainEqual({ label: 'CorpLinkCheck', type: 'cidr', purpose: 'scanner', count: 1 });
      const { token, url } = await makeToken(srv.app.deps.db, srv.config, { kind: 'web-bug', name: 'shared link' });
      expect(await getFrom('127.0.0.65', url!)).toBe(200);
      const [hit] = await listHits(srv.app.deps.db, { tokenId: token.id, limit: 1 });
      expect(hit).toMatchObject({ classification: 'scanner', intel: null, details: expect.objectContaining({ classifiedBy: 'CorpLinkCheck' }) });
      // The same range using a planted API key: an alert, whatever the range says.
      const keys = await makeToken(srv.app.deps.db, srv.config, { kind: 'api-key' });
      const key = (keys.token.params as { key: string }).key;
      const res = await new Promise<number>((resolve, reject) => {
        const u = new URL(keys.url!);
        const req = httpRequest({ host: u.hostname, port: u.port, path: `${u.pathname}v1/charges`, localAddress: '127.0.0.66', headers: { authorization: `Bearer ${key}` } }, (r) => {
          r.resume();
          r.on('end', () => resolve(r.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
      expect(res).toBe(403);
      const [used] = await listHits(srv.app.deps.db, { tokenId: keys.token.id, limit: 1 });
      expect(used).toMatchObject({ classification: 'alert', sourceIp: '127.0.0.66' });
      expect(used?.credential).toBeTruthy();
    } finally {
      await srv.stop();
    }
  });
});
