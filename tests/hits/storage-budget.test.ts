import { Agent, request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { getToken } from '../../src/db/queries/tokens.ts';
import type { NewHitRow } from '../../src/db/schema.ts';
import { createStorageBudget, INTRUSION_BYTES, rowBytes } from '../../src/hits/budget.ts';
import { createFloodGate } from '../../src/hits/flood.ts';
import { recentOverflow, startOverflowReporter } from '../../src/hits/overflow-report.ts';
import { createLogger } from '../../src/logger.ts';
import { makeAdmin, signIn } from '../admin/helpers.ts';
import { auth, makeToken, rawQuery, startTestServer, type TestServer } from '../helpers.ts';

/**
 * Storage and rate budgets of the public listener (issue 15): one source varying its query
 * string stored 16,328 rows in 10 s, and nothing bounded what many sources could store. Now a
 * flood becomes a few rows with counts, a source has a row budget, the process a byte budget,
 * and what does not fit is counted and shown, never silently dropped.
 */
let servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});
async function server(env: Record<string, string>): Promise<TestServer> {
  const s = await startTestServer({ TRUST_PROXY: 'loopback', ...env });
  servers.push(s);
  return s;
}

/** GET over a keep-alive agent; resolves with the status and body. */
function get(url: string, agent: Agent, headers: Record<string, string> = {}): Promise<{ status: number; body: string; server: string | undefined }> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, server: String(res.headers.server ?? '') }));
    });
    req.on('error', () => resolve({ status: 0, body: '', server: undefined }));
    req.end();
  });
}

async function burst(n: number, concurrency: number, one: (i: number) => Promise<{ status: number }>): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i += concurrency) {
    statuses.push(...(await Promise.all(Array.from({ length: Math.min(concurrency, n - i) }, (_, k) => one(i + k)))).map((r) => r.status));
  }
  return statuses;
}

const rowsOf = async (s: TestServer, tokenId: string) =>
  (await rawQuery<{ n: number; total: number }>(s.app.deps.db, 'select count(*) as n, coalesce(sum(repeat_count), 0) as total from hits where token_id = ?', tokenId))[0] ?? { n: 0, total: 0 };

const metric = async (s: TestServer, name: string): Promise<string> => {
  const text = await (await fetch(`${s.adminUrl}/metrics`, { headers: auth })).text();
  return text.split('\n').filter((l) => l.startsWith(name)).join('\n');
};

const sep = (url: string) => (url.includes('?') ? '&' : '?');

describe('one source varying its query string', () => {
  it('is stored as FLOOD_ACTION_ROWS rows with every request counted', async () => {
    const s = await server({ FLOOD_ACTION_ROWS: '20' });
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const statuses = await burst(400, 16, (i) => get(`${url}${sep(url ?? '')}v=${i}&_=${Date.now()}`, agent, { 'user-agent': `flood/${i % 7}` }));
    agent.destroy();
    expect(statuses.every((x) => x === 200)).toBe(true);
    expect(await rowsOf(s, token.id)).toEqual({ n: 20, total: 400 });
    expect((await getToken(s.app.deps.db, token.id))?.hitCount).toBe(400);
    expect(await metric(s, 'honeytrail_hits_folded_total{reason="action"}')).toMatch(/ 380$/);
  });

  it('still stores distinct actions (another path, another decoded API action) as rows of their own', async () => {
    const s = await server({ FLOOD_ACTION_ROWS: '3' });
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const agent = new Agent({ keepAlive: true });
    const base = new URL(url ?? '');
    for (let i = 0; i < 10; i++) await get(`${base.origin}/assets/${i}/${token.id}.png?v=${i}`, agent);
    expect(await rowsOf(s, token.id)).toEqual({ n: 10, total: 10 });
    // One path, but each request another AWS API action (what the kind decodes): ten actions, ten rows.
    const aws = await makeToken(s.app.deps.db, s.config, { kind: 'aws-keys' });
    const keyId = String((aws.token.params as { accessKeyId?: string }).accessKeyId);
    const signed = { authorization: `AWS4-HMAC-SHA256 Credential=${keyId}/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00` };
    for (let i = 0; i < 10; i++) await get(`${base.origin}/?Action=ListThing${i}&Version=2010-05-08`, agent, signed);
    for (let i = 0; i < 10; i++) await get(`${base.origin}/?Action=ListUsers&Version=2010-05-08&nonce=${i}`, agent, signed);
    agent.destroy();
    expect(await rowsOf(s, aws.token.id)).toEqual({ n: 13, total: 20 });
  });
});

describe('the storage budget of one source', () => {
  it('past HIT_SOURCE_ROWS a source folds into its last row for the token; another source is unaffected', async () => {
    const s = await server({ HIT_SOURCE_ROWS: '25' });
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const base = new URL(url ?? '');
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    await burst(200, 8, (i) => get(`${base.origin}/p${i}/${token.id}.gif`, agent, { 'x-forwarded-for': '198.51.100.1' }));
    for (let i = 0; i < 5; i++) await get(`${base.origin}/q${i}/${token.id}.gif`, agent, { 'x-forwarded-for': '198.51.100.2' });
    agent.destroy();
    expect(await rowsOf(s, token.id)).toEqual({ n: 30, total: 205 });
    expect(await metric(s, 'honeytrail_hits_folded_total{reason="source"}')).toMatch(/ 175$/);
  });
});

describe('the global storage budget', () => {
  it('bounds rows under a flood from many sources; the rest is counted on the token, in /metrics and on the dashboard', async () => {
    const s = await server({ HIT_STORAGE_BUDGET: '24KB' });
    await makeAdmin(s.app.deps.db);
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const statuses = await burst(300, 8, (i) => get(url ?? '', agent, { 'x-forwarded-for': `10.${Math.floor(i / 250)}.${i % 250}.9`, 'user-agent': 'botnet/1.0' }));
    agent.destroy();
    expect(statuses.every((x) => x === 200)).toBe(true);
    const { n, total } = await rowsOf(s, token.id);
    // One row costs ~1 KB against the budget (text, JSON and 512 bytes of index overhead).
    expect(n).toBeGreaterThan(5);
    expect(n).toBeLessThan(40);
    expect(total).toBe(n);
    expect((await getToken(s.app.deps.db, token.id))?.hitCount).toBe(300);
    expect(await metric(s, 'honeytrail_hits_unstored_total')).toBe(`honeytrail_hits_unstored_total ${300 - n}`);
    expect(await metric(s, 'honeytrail_storage_budget_available_bytes')).toMatch(/^honeytrail_storage_budget_available_bytes \d+$/);

    await s.app.overflow.flush();
    const { agent: admin } = await signIn(createAdminApp(s.app.deps));
    const page = await admin.get('/');
    expect(page.text).toContain('Flood: storage budget reached');
    expect(page.text).toMatch(new RegExp(`<strong>${300 - n}</strong> hits were counted on their tokens but not stored`));
  });
});

describe('the overflow report', () => {
  it('logs one warn line per interval while the budgets turn hits away, and keeps the totals for the dashboard', async () => {
    const s = await server({});
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const budget = createStorageBudget(1024);
    const reporter = startOverflowReporter(s.app.deps.db, createLogger('info', sink), budget);
    budget.counts.folded.identical += 50;
    await reporter.flush();
    expect(lines).toHaveLength(0); // identical repeats alone are everyday flood control
    budget.counts.unstored += 7;
    budget.counts.rateLimited += 3;
    budget.counts.lastAt = Date.now();
    await reporter.flush();
    await reporter.flush();
    await reporter.close();
    expect(lines.filter((l) => l.event === 'storage-budget')).toEqual([expect.objectContaining({ level: 40, unstored: 7, rateLimited: 3, budgetPerMinute: 1024 })]);
    expect(await recentOverflow(s.app.deps.db)).toMatchObject({ unstored: 7, rateLimited: 3, folded: 50 });
  });
});

describe('the per-source rate limit', () => {
  it('answers a source over PUBLIC_RATE_LIMIT like nginx limit_req (503), counts it, and leaves other sources alone', async () => {
    const s = await server({ PUBLIC_RATE_LIMIT: '5' });
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const answers = await Promise.all(Array.from({ length: 40 }, () => get(url ?? '', agent, { 'x-forwarded-for': '203.0.113.5' })));
    const other = await get(url ?? '', agent, { 'x-forwarded-for': '203.0.113.6' });
    agent.destroy();
    const ok = answers.filter((a) => a.status === 200).length;
    const limited = answers.filter((a) => a.status === 503);
    expect(ok).toBeGreaterThanOrEqual(10);
    expect(ok).toBeLessThanOrEqual(12);
    expect(limited.length).toBe(40 - ok);
    expect(limited[0]?.body).toContain('<center><h1>503 Service Temporarily Unavailable</h1></center>');
    expect(limited[0]?.server).toBe('nginx');
    expect(other.status).toBe(200);
    expect((await rowsOf(s, token.id)).total).toBe(ok + 1);
    expect(await metric(s, 'honeytrail_http_rate_limited_total')).toBe(`honeytrail_http_rate_limited_total ${40 - ok}`);
  });
});

describe('flood gate levels', () => {
  const row = (over: Partial<NewHitRow>): NewHitRow => ({ tokenId: 't', channel: 'dns', at: new Date(1_000_000), sourceIp: '10.0.0.1', qname: 'a.t.example', qtype: 'A', ...over });
  const stored = (id: number) => ({ id, repeatCount: 1, lastAt: null }) as never;

  const decideAll = (gate: ReturnType<typeof createFloodGate>, rows: NewHitRow[]) =>
    rows.map((r, i) => {
      const d = gate.decide(r);
      if ('store' in d) gate.stored(r, stored(i + 1));
      return 'store' in d ? 'store' : 'fold' in d ? d.reason : 'drop';
    });

  it('DNS and SMTP keep their keys and no source budget (their sources are relays): another name is another row', () => {
    const gate = createFloodGate({ threshold: 2, windowMs: 60_000, actionRows: 1, sourceRows: 5 });
    const names = Array.from({ length: 8 }, (_, i) => row({ qname: `${i}.t.example` }));
    expect(decideAll(gate, names)).toEqual(Array(8).fill('store'));
    expect(decideAll(gate, [row({ qname: '0.t.example' }), row({ qname: '0.t.example' })])).toEqual(['store', 'identical']);
  });

  it('HTTP: identical, then action, then source levels, then the byte budget with nothing to fold into', () => {
    // Four small rows, two of them from sources new to their token (charged for the intrusion they open).
    const gate = createFloodGate({ threshold: 1, windowMs: 60_000, actionRows: 2, sourceRows: 3, budget: createStorageBudget(2200 + 2 * INTRUSION_BYTES, () => 0) });
    const http = (path: string, query: string | null, sourceIp = '10.0.0.1', tokenId = 't') => row({ channel: 'http', qname: null, qtype: null, method: 'GET', path, query, sourceIp, tokenId });
    expect(decideAll(gate, [http('/a', null), http('/a', null), http('/a', 'v=1'), http('/a', 'v=2'), http('/b', null), http('/c', null), http('/c', null, '10.0.0.2', 'u'), http('/d', null, '10.0.0.3', 'v')])).toEqual([
      'store', 'identical', 'store', 'action', 'store', 'source', 'store', 'drop',
    ]);
  });

  it('a planted secret used is a row of its own over the source and byte budgets (it must page); the same use again still folds', () => {
    const gate = createFloodGate({ threshold: 1, windowMs: 60_000, actionRows: 1, sourceRows: 1, budget: createStorageBudget(600 + INTRUSION_BYTES, () => 0) });
    const http = (path: string, credential: string | null, sourceIp = '10.0.0.1') => row({ channel: 'http', qname: null, qtype: null, method: 'GET', path, query: null, sourceIp, credential });
    expect(decideAll(gate, [http('/a', null), http('/b', null), http('/c', null, '10.0.0.9'), http('/k', 'AKIAEXAMPLE', '10.0.0.9'), http('/k', 'AKIAEXAMPLE', '10.0.0.9'), http('/k2', 'AKIAOTHER', '10.0.0.1')])).toEqual([
      'store', 'source', 'drop', 'store', 'identical', 'store',
    ]);
  });

  const use = (i: number, sourceIp = '10.0.0.1', credential = 'AKIAEXAMPLE') => row({ channel: 'http', qname: null, qtype: null, method: 'GET', path: `/k/${i}`, query: `x=${i}`, sourceIp, credential, details: { action: `A${i}` } });

  it('a planted secret used with ever-varying requests is bounded per source: past sourceRows rows it folds into its last one', () => {
    const gate = createFloodGate({ threshold: 1, windowMs: 60_000, actionRows: 1, sourceRows: 3 });
    expect(decideAll(gate, [use(1), use(2), use(3), use(4), use(5), use(6, '10.0.0.2'), use(7, '10.0.0.1', 'AKIAOTHER')])).toEqual([
      'store', 'store', 'store', 'source', 'source', 'store', 'store',
    ]);
  });

  it('a planted secret used from ever-new sources: past the budget and its reserve each use folds into the last stored use; another secret still gets its first row', () => {
    const one = rowBytes(use(1)) + INTRUSION_BYTES;
    const gate = createFloodGate({ threshold: 1, windowMs: 60_000, actionRows: 1, sourceRows: 3, budget: createStorageBudget(2 * one + 10, () => 0) });
    // Two uses fit the budget and the reserve (a quarter of it) holds no third: later uses from new sources fold into the last stored one.
    const decided = [use(1, '10.0.0.1'), use(2, '10.0.0.2'), use(3, '10.0.0.3'), use(4, '10.0.0.4'), use(5, '10.0.0.5', 'AKIAOTHER')].map((r, i) => {
      const d = gate.decide(r);
      if ('store' in d) gate.stored(r, stored(i + 1));
      return 'store' in d ? 'store' : 'fold' in d ? `${d.reason} into ${(d.fold as { id: number }).id}` : 'drop';
    });
    expect(decided).toEqual(['store', 'store', 'budget into 2', 'budget into 2', 'store']);
    expect(gate.budget.counts.folded.budget).toBe(2);
  });

  it('a planted secret used draws on a reserve once other hits have spent the budget, so a flood of noise cannot keep it from paging', () => {
    const one = rowBytes(use(1)) + INTRUSION_BYTES;
    const budget = createStorageBudget(4 * one, () => 0);
    const gate = createFloodGate({ threshold: 1, windowMs: 60_000, actionRows: 1, sourceRows: 3, budget });
    expect(budget.take(4 * one)).toBe(true); // a flood spent the whole minute
    const noise = row({ channel: 'http', qname: null, qtype: null, method: 'GET', path: '/n', query: null, sourceIp: '10.0.0.8' });
    expect(decideAll(gate, [noise, use(1, '10.0.0.1'), use(2, '10.0.0.2')])).toEqual(['drop', 'store', 'budget']);
  });

  it('the byte budget refills over a minute and a row costs its text, JSON and overhead', () => {
    let t = 0;
    const b = createStorageBudget(60_000, () => t);
    expect(b.take(60_000)).toBe(true);
    expect(b.take(1)).toBe(false);
    t += 1000;
    expect(b.available()).toBe(1000);
    expect(rowBytes({ tokenId: 'x'.repeat(24), channel: 'http', at: new Date(), headers: { a: 'é' } })).toBe(512 + 24 + 4 + Buffer.byteLength('{"a":"é"}'));
  });
});
