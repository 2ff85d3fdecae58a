import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { listAudit } from '../../src/db/queries/audit.ts';
import { allIndicators } from '../../src/db/queries/intel.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import { getFrom, waitFor } from '../alerts/support.ts';
import { silentLog, auth, makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { startFeedScheduler } from '../../src/intel/feeds.ts';
import { makeAdmin, signIn } from '../admin/helpers.ts';

/**
 * Subscribed feeds against a TAXII 2.1 server run here (following the specification's examples:
 * discovery, API root, collections, an objects envelope paged with `more`/`next`, `added_after`
 * and X-TAXII-Date-Added-Last, the taxii+json media type and 406 for any other Accept) and a MISP
 * feed directory served over HTTP.
 */
const TAXII = 'application/taxii+json;version=2.1';

interface StixObject {
  type: string;
  id: string;
  pattern?: string;
  revoked?: boolean;
  valid_until?: string;
  added: string;
}

function taxiiServer(objects: StixObject[], opts: { pageSize: number; useNext: boolean; token: string }) {
  const app = express();
  const seen: { path: string; query: Record<string, unknown>; accept?: string; auth?: string }[] = [];
  app.use((req, res, next) => {
    seen.push({ path: req.path, query: { ...req.query }, accept: req.get('accept'), auth: req.get('authorization') });
    if (req.get('authorization') !== `Bearer ${opts.token}`) return res.status(401).type(TAXII).send(JSON.stringify({ title: 'unauthorized' }));
    if (!(req.get('accept') ?? '').includes('application/taxii+json')) return res.status(406).type(TAXII).send(JSON.stringify({ title: 'not acceptable' }));
    res.type(TAXII);
    next();
  });
  app.get('/taxii2/', (_req, res) => res.send(JSON.stringify({ title: 'Test TAXII', default: '/api1/', api_roots: ['/api1/'] })));
  app.get('/api1/collections/', (_req, res) =>
    res.send(JSON.stringify({ collections: [{ id: '91a7b528-80eb-42ed-a74d-c6fbd5a26116', title: 'High Value Indicator Collection', can_read: true, can_write: false, media_types: [TAXII] }] })),
  );
  app.get('/api1/collections/:id/objects/', (req, res) => {
    if (req.params.id !== '91a7b528-80eb-42ed-a74d-c6fbd5a26116') return res.status(404).send(JSON.stringify({ title: 'no such collection' }));
    const after = typeof req.query.added_after === 'string' ? Date.parse(req.query.added_after) : 0;
    const start = typeof req.query.next === 'string' ? Number(req.query.next) : 0;
    const list = objects.filter((o) => Date.parse(o.added) > after).sort((a, b) => Date.parse(a.added) - Date.parse(b.added));
    const page = list.slice(start, start + opts.pageSize);
    const more = start + opts.pageSize < list.length;
    if (page.length) {
      res.set('X-TAXII-Date-Added-First', page[0]?.added ?? '');
      res.set('X-TAXII-Date-Added-Last', page[page.length - 1]?.added ?? '');
    }
    res.send(JSON.stringify({ more, ...(more && opts.useNext ? { next: String(start + opts.pageSize) } : {}), objects: page.map(({ added: _a, ...o }) => ({ spec_version: '2.1', ...o })) }));
  });
  return { app, seen };
}

function listen(app: express.Express): Promise<{ url: string; server: Server }> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }));
  });
}

let s: TestServer | undefined;
let servers: Server[] = [];
afterEach(async () => {
  await s?.stop();
  s = undefined;
  for (const x of servers) x.close();
  servers = [];
});

const ind = (n: number, pattern: string, extra: Partial<StixObject> = {}): StixObject => ({
  type: 'indicator',
  id: `indicator--${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`,
  pattern,
  added: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
  ...extra,
});

describe('TAXII 2.1 feeds', () => {
  it('pulls a collection page by page from the discovery URL, keeps credentials to itself, follows added_after, and drops what the feed revokes', async () => {
    const objects = [
      ind(1, "[ipv4-addr:value = '198.51.100.7']"),
      ind(2, "[domain-name:value = 'evil.example']"),
      { type: 'malware', id: 'malware--1', added: new Date(Date.UTC(2026, 0, 1, 0, 0, 3)).toISOString() },
      ind(4, "[ipv4-addr:value = '203.0.113.9'] OR [email-addr:value = 'boss@phish.example']"),
      ind(5, "[ipv4-addr:value = '192.0.2.77']", { valid_until: '2020-01-01T00:00:00Z' }),
    ];
    const taxii = taxiiServer(objects, { pageSize: 2, useNext: true, token: 'tx-secret-token' });
    const { url, server } = await listen(taxii.app);
    servers.push(server);
    s = await startTestServer({ INTEL_FEED_ALLOW_PRIVATE: '127.0.0.1', INTEL_FEEDS_CHECK_SECONDS: '0' });
    const api = request(createAdminApp(s.app.deps));

    // Wrong Accept is refused by the server (the client always sends the TAXII media type).
    expect((await fetch(`${url}/taxii2/`, { headers: { authorization: 'Bearer tx-secret-token', accept: 'application/json' } })).status).toBe(406);
    taxii.seen.length = 0;
    expect((await api.post('/api/v1/intel/feeds').set(auth).send({ name: 'x', kind: 'taxii', url: `${url}/taxii2/`, label: 'L' })).body.error.fields).toMatchObject({ collection: expect.stringContaining('needs the collection') });
    expect((await api.post('/api/v1/intel/feeds').set(auth).send({ name: 'x', kind: 'taxii', url: `${url}/taxii2/`, label: 'L', collection: 'c', auth: { type: 'bearer' } })).body.error.fields).toMatchObject({ 'auth.secret': 'needs the token' });

    const created = await api
      .post('/api/v1/intel/feeds')
      .set(auth)
      .send({ name: 'Partner CTI', kind: 'taxii', url: `${url}/taxii2/`, collection: 'High Value Indicator Collection', label: 'PartnerCTI', intervalMinutes: 30, auth: { type: 'bearer', secret: 'tx-secret-token' } });
    expect(created.status).toBe(201);
    expect(JSON.stringify(created.body)).not.toContain('tx-secret-token');
    expect(created.body.auth).toEqual({ type: 'bearer', username: null, secretSet: true });
    const id = created.body.id as number;

    const pulled = await api.post(`/api/v1/intel/feeds/${id}/pull`).set(auth).send({});
    expect(pulled.status, JSON.stringify(pulled.body)).toBe(200);
    expect(pulled.body).toMatchObject({ lastError: null, indicators: 4, lastAdded: 4, lastRemoved: 0 });
    expect(JSON.stringify(pulled.body)).not.toContain('tx-secret-token');
    const values = async () => (await allIndicators(s!.app.deps.db)).filter((i) => i.source === `feed:${id}`).map((i) => `${i.type}:${i.value}:${i.label}`).sort();
    expect(await values()).toEqual(['domain:evil.example:PartnerCTI', 'email:boss@phish.example:PartnerCTI', 'ip:198.51.100.7:PartnerCTI', 'ip:203.0.113.9:PartnerCTI']);
    // Discovery, collections, then three pages chained by `next`; every request with the media type and the token.
    const objectCalls = taxii.seen.filter((r) => r.path.endsWith('/objects/'));
    expect(objectCalls.map((r) => r.query.next ?? null)).toEqual([null, '2', '4']);
    expect(taxii.seen.every((r) => r.accept === TAXII && r.auth === 'Bearer tx-secret-token')).toBe(true);

    // Next pull: only what was added after the last page, by added_after; a revocation removes its indicator.
    objects.push({ ...ind(1, "[ipv4-addr:value = '198.51.100.7']", { revoked: true }), added: new Date(Date.UTC(2026, 0, 1, 0, 0, 6)).toISOString() });
    objects.push(ind(7, "[url:value = 'https://c2.bad.example/x']"));
    taxii.seen.length = 0;
    const again = (await api.post(`/api/v1/intel/feeds/${id}/pull`).set(auth).send({})).body;
    expect(again).toMatchObject({ indicators: 4, lastAdded: 1, lastRemoved: 1 });
    expect(taxii.seen.filter((r) => r.path.endsWith('/objects/')).map((r) => r.query.added_after)).toEqual([new Date(Date.UTC(2026, 0, 1, 0, 0, 5)).toISOString()]);
    expect(await values()).toEqual(['domain:c2.bad.example:PartnerCTI', 'domain:evil.example:PartnerCTI', 'email:boss@phish.example:PartnerCTI', 'ip:203.0.113.9:PartnerCTI']);

    // The list shows last pull, counts and errors; a wrong token is an error on the feed, nothing is removed.
    await api.patch(`/api/v1/intel/feeds/${id}`).set(auth).send({ auth: { type: 'bearer', secret: 'wrong' } });
    const failed = await api.post(`/api/v1/intel/feeds/${id}/pull`).set(auth).send({});
    expect(failed.status).toBe(502);
    expect(failed.body.lastError).toContain('HTTP 401');
    const listed = (await api.get('/api/v1/intel/feeds').set(auth)).body.items;
    expect(listed).toEqual([expect.objectContaining({ id, name: 'Partner CTI', indicators: 4, lastError: expect.stringContaining('HTTP 401') })]);
    expect(Date.parse(listed[0].lastSuccessAt)).toBeLessThanOrEqual(Date.parse(listed[0].lastPullAt));
    expect(await values()).toHaveLength(4);

    // Deleting the feed removes its indicators; audited.
    expect((await api.delete(`/api/v1/intel/feeds/${id}`).set(auth)).status).toBe(204);
    expect(await values()).toEqual([]);
    const actions = (await listAudit(s.app.deps.db, 20, 0)).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['intel.feed.create', 'intel.feed.pull', 'intel.feed.update', 'intel.feed.delete']));
  });

  it('pages by added_after when the server gives no next, and refuses a private server unless allowed', async () => {
    const objects = [1, 2, 3, 4, 5].map((n) => ind(n, `[ipv4-addr:value = '198.51.100.${n}']`));
    const taxii = taxiiServer(objects, { pageSize: 2, useNext: false, token: 't0ken-t0ken' });
    const { url, server } = await listen(taxii.app);
    servers.push(server);
    s = await startTestServer({ INTEL_FEEDS_CHECK_SECONDS: '0' });
    const api = request(createAdminApp(s.app.deps));
    const body = { name: 'api root', kind: 'taxii', url: `${url}/api1/`, collection: '91a7b528-80eb-42ed-a74d-c6fbd5a26116', label: 'Root', auth: { type: 'bearer', secret: 't0ken-t0ken' } };
    const id = (await api.post('/api/v1/intel/feeds').set(auth).send(body)).body.id as number;
    const refused = (await api.post(`/api/v1/intel/feeds/${id}/pull`).set(auth).send({})).body;
    expect(refused.lastError).toMatch(/refused: 127\.0\.0\.1 resolves to non-public address 127\.0\.0\.1 \(list it in INTEL_FEED_ALLOW_PRIVATE/);
    expect(taxii.seen).toEqual([]);
    await s.stop();
    s = await startTestServer({ INTEL_FEED_ALLOW_PRIVATE: '127.0.0.0/8', INTEL_FEEDS_CHECK_SECONDS: '0' });
    const api2 = request(createAdminApp(s.app.deps));
    const id2 = (await api2.post('/api/v1/intel/feeds').set(auth).send(body)).body.id as number;
    expect((await api2.post(`/api/v1/intel/feeds/${id2}/pull`).set(auth).send({})).body).toMatchObject({ indicators: 5, lastError: null });
    expect(taxii.seen.filter((r) => r.path.endsWith('/objects/')).map((r) => r.query.added_after ?? null)).toEqual([null, objects[1]?.added, objects[3]?.added]);
  });
});

describe('MISP feeds and the scheduler', () => {
  it('pulls manifest and changed events, removes events gone from the manifest, and two schedulers pull a due feed once', async () => {
    const events: Record<string, { timestamp: string; attrs: { type: string; value: string }[] }> = {
      '5c0a3b4e-1111-4a5b-8c9d-0123456789ab': { timestamp: '1700000000', attrs: [{ type: 'ip-dst', value: '198.51.100.20' }, { type: 'domain|ip', value: 'drop.bad.example|203.0.113.50' }, { type: 'md5', value: 'd41d8cd98f00b204e9800998ecf8427e' }] },
      '5c0a3b4e-2222-4a5b-8c9d-0123456789ab': { timestamp: '1700000100', attrs: [{ type: 'email-src', value: 'ceo@phish.example' }] },
    };
    const fetched: string[] = [];
    const app = express();
    app.use((req, _res, next) => {
      fetched.push(req.path);
      next();
    });
    app.get('/feed/manifest.json', (_req, res) => res.json(Object.fromEntries(Object.entries(events).map(([uuid, e]) => [uuid, { info: 'event', timestamp: e.timestamp, Orgc: { name: 'CIRCL' } }]))));
    app.get('/feed/:uuid.json', (req, res) => {
      const e = events[req.params.uuid];
      if (!e) return res.status(404).end();
      res.json({ Event: { uuid: req.params.uuid, info: 'event', Attribute: e.attrs.slice(1), Object: [{ name: 'ip-port', Attribute: e.attrs.slice(0, 1) }] } });
    });
    const { url, server } = await listen(app);
    servers.push(server);
    s = await startTestServer({ INTEL_FEED_ALLOW_PRIVATE: '127.0.0.1', INTEL_FEEDS_CHECK_SECONDS: '0', TRUST_PROXY: 'loopback' });
    const db = s.app.deps.db;
    const api = request(createAdminApp(s.app.deps));
    const id = (await api.post('/api/v1/intel/feeds').set(auth).send({ name: 'CIRCL OSINT', kind: 'misp', url: `${url}/feed/`, label: 'CIRCL' })).body.id as number;

    // Two schedulers (two back-office processes) race for the due feed: it is pulled once.
    const config = { INTEL_FEED_ALLOW_PRIVATE: ['127.0.0.1'], INTEL_FEEDS_CHECK_SECONDS: 0 };
    const a = startFeedScheduler({ db, config, log: silentLog });
    const b = startFeedScheduler({ db, config, log: silentLog });
    const [na, nb] = await Promise.all([a.tick(), b.tick()]);
    expect(na + nb).toBe(1);
    expect(fetched.filter((p) => p.endsWith('manifest.json'))).toHaveLength(1);
    // Not due again until its interval has passed.
    expect(await a.tick()).toBe(0);
    await Promise.all([a.stop(), b.stop()]);
    const values = async () => (await allIndicators(db)).filter((i) => i.source === `feed:${id}`).map((i) => `${i.type}:${i.value}`).sort();
    expect(await values()).toEqual(['domain:drop.bad.example', 'email:ceo@phish.example', 'ip:198.51.100.20', 'ip:203.0.113.50']);
    // A hit from a source the feed lists carries its label (the intel context of the alert).
    const { url: bug } = await makeToken(db, s.config, { kind: 'web-bug', name: 'feed check' });
    expect(await getFrom(bug ?? '', '127.0.0.1', { 'X-Forwarded-For': '198.51.100.20' })).toBe(200);
    const hit = await waitFor(async () => (await listHits(db, { limit: 5 }))[0], 5000, 'the hit');
    expect(hit.intel).toEqual(['CIRCL']);

    // An unchanged event is not fetched again; a removed one takes its indicators with it.
    delete events['5c0a3b4e-2222-4a5b-8c9d-0123456789ab'];
    fetched.length = 0;
    const r = (await api.post(`/api/v1/intel/feeds/${id}/pull`).set(auth).send({})).body;
    expect(r).toMatchObject({ indicators: 3, lastRemoved: 1, lastAdded: 0 });
    expect(fetched).toEqual(['/feed/manifest.json']);
    expect(await values()).toEqual(['domain:drop.bad.example', 'ip:198.51.100.20', 'ip:203.0.113.50']);
  });
});

describe('the feeds page', () => {
  it('adds a feed without echoing its secret, pulls it now and shows counts and errors, deletes after confirmation', async () => {
    const taxii = taxiiServer([ind(1, "[ipv4-addr:value = '198.51.100.8']")], { pageSize: 10, useNext: true, token: 'ui-secret-token' });
    const { url, server } = await listen(taxii.app);
    servers.push(server);
    s = await startTestServer({ INTEL_FEED_ALLOW_PRIVATE: '127.0.0.1', INTEL_FEEDS_CHECK_SECONDS: '0' });
    const app = createAdminApp(s.app.deps);
    await makeAdmin(s.app.deps.db);
    const { agent, csrf } = await signIn(app);
    const base = { name: 'UI feed', kind: 'taxii', url: `${url}/taxii2/`, collection: 'High Value Indicator Collection', label: 'UIFeed', intervalMinutes: '30', authType: 'bearer', _csrf: csrf };
    const bad = await agent.post('/intel/feeds').type('form').send({ ...base, authSecret: '' });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('Password or token: needs the token');
    const added = await agent.post('/intel/feeds').type('form').send({ ...base, authSecret: 'ui-secret-token' });
    expect([added.status, added.headers.location]).toEqual([303, '/intel/feeds?msg=saved']);
    const id = (await request(app).get('/api/v1/intel/feeds').set(auth)).body.items[0].id as number;
    const pulled = await agent.post(`/intel/feeds/${id}/pull`).type('form').send({ _csrf: csrf });
    expect(pulled.headers.location).toBe('/intel/feeds?msg=feed_pulled');
    const page = await agent.get('/intel/feeds?msg=feed_pulled');
    expect(page.text).not.toContain('ui-secret-token');
    const row = new RegExp(`<tr class="feed" id="feed-${id}">[\\s\\S]*?</tr>`).exec(page.text)?.[0] ?? '';
    expect(row).toContain('UI feed');
    expect(row).toMatch(/<td class="num">1<\/td>/);
    expect(row).toContain('<span class="muted">none</span>');
    server.close();
    await agent.post(`/intel/feeds/${id}/pull`).type('form').send({ _csrf: csrf });
    const failed = new RegExp(`<tr class="feed" id="feed-${id}">[\\s\\S]*?</tr>`).exec((await agent.get('/intel/feeds')).text)?.[0] ?? '';
    expect(failed).toContain('<span class="pill pill-alert">failed</span>');
    expect((await agent.get(`/intel/feeds/${id}/delete`)).text).toContain('Delete the feed &quot;UI feed&quot;?');
    expect((await agent.post(`/intel/feeds/${id}/delete`).type('form').send({ _csrf: csrf })).headers.location).toBe('/intel/feeds?msg=deleted');
    expect((await request(app).get('/api/v1/intel/feeds').set(auth)).body.items).toEqual([]);
  });
});
