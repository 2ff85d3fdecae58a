import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import { clonedSite } from '../../src/tokens/cloned-site.ts';
import type { Token } from '../../src/tokens/kind.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { auth, makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { launchChromium } from '../chromium.ts';

/**
 * cloned-site in Debian's Chromium. One login page is served by a small node server under two
 * host names mapped to 127.0.0.1 (--host-resolver-rules) and on two ports: `login.corp.test`
 * is the real site, `evil.test` (or the second port) the clone. Only the clone fires, for the
 * script and, with JavaScript off, for the style; hand-made requests with a missing or
 * own-looking Referer are recorded and alerted, never taken as harmless.
 */

let s: TestServer;
let browser: Browser;
let servers: Server[] = [];
let port = 0;
let port2 = 0;
/** What the page server puts in the login page's head, and whether it sends the real site's CSP header. */
let snippet = '';

function loginPage(): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Sign in - Corp</title>${snippet}</head>
<body><main><h1>Sign in</h1><form method="post" action="/login"><label>User <input name="user"></label><label>Password <input type="password" name="password"></label><button>Sign in</button></form></main></body></html>`;
}

async function listen(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' };
    // The real site's header: images only from itself. A clone keeps the HTML, not the headers.
    if (url.searchParams.get('csp') === '1') headers['content-security-policy'] = "default-src 'self'; img-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'";
    res.writeHead(200, headers);
    res.end(loginPage());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { server, port: (server.address() as AddressInfo).port };
}

beforeAll(async () => {
  s = await startTestServer();
  port = (await listen()).port;
  port2 = (await listen()).port;
  browser = await launchChromium(['--host-resolver-rules=MAP login.corp.test 127.0.0.1, MAP evil.test 127.0.0.1']);
});
afterAll(async () => {
  await browser?.close();
  for (const server of servers) server.close();
  servers = [];
  await s?.stop();
});

async function snippetOf(token: TokenRow, format?: 'css'): Promise<string> {
  return (await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' }, format)).body.toString('utf8');
}

const hitsOf = (id: string) => listHits(s.app.deps.db, { tokenId: id, limit: 20 });

/** Open `url` in `context` and return how many requests to the token URL's path were answered (one blocked by CSP is not). */
async function visit(context: BrowserContext, url: string, tokenPath: string): Promise<number> {
  const page = await context.newPage();
  let requests = 0;
  page.on('requestfinished', (r) => {
    if (new URL(r.url()).pathname === tokenPath) requests++;
  });
  await page.goto(url, { waitUntil: 'load' });
  expect(await page.locator('h1').textContent()).toBe('Sign in');
  // Image loads started by the page delay its load event; a moment more for anything late.
  await page.waitForTimeout(500);
  await page.close();
  return requests;
}

describe('cloned-site kind', () => {
  const forms: [string, () => { origins: string[]; real: string; clone: string; cloneOrigin: string }][] = [
    ['a host name', () => ({ origins: ['login.corp.test'], real: `http://login.corp.test:${port}/login`, clone: `http://evil.test:${port}/login`, cloneOrigin: `http://evil.test:${port}` })],
    ['an origin (another port is another origin)', () => ({ origins: [`http://login.corp.test:${port}`], real: `http://login.corp.test:${port}/login`, clone: `http://login.corp.test:${port2}/login`, cloneOrigin: `http://login.corp.test:${port2}` })],
  ];

  it.each(forms)('the script, expecting %s: silent on the real origin, reports the clone\'s origin and page', async (_form, setup) => {
    const f = setup();
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'cloned-site', params: { origins: f.origins } });
    snippet = await snippetOf(token);
    expect(snippet).toContain('<script>');
    const path = new URL(url ?? '').pathname;
    const context = await browser.newContext();
    expect(await visit(context, f.real, path)).toBe(0);
    expect(await hitsOf(token.id)).toHaveLength(0);

    expect(await visit(context, f.clone, path)).toBe(1);
    await expect.poll(async () => (await hitsOf(token.id)).length, { timeout: 10_000 }).toBe(1);
    const [hit] = await hitsOf(token.id);
    expect(hit?.classification).toBe('alert');
    expect(hit?.userAgent).toMatch(/Chrome\//);
    expect(hit?.details).toMatchObject({ via: 'script', verdict: 'foreign', origin: f.cloneOrigin, page: '/login', refererOrigin: f.cloneOrigin });
    const meaning = clonedSite.explain?.(hit as never, token as unknown as Token);
    expect(meaning?.action).toMatch(new RegExp(`^Your login page was served from ${f.cloneOrigin.replace(/[.]/g, '\\.')}/login \\(a clone\\) to Chrome \\d+ on Linux at 127\\.0\\.0\\.1`));
    await context.close();
  });

  it('the style fires without JavaScript: blocked by the real page\'s CSP header, loaded by the clone, origin from the Referer', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'cloned-site', params: { origins: ['login.corp.test'] } });
    snippet = await snippetOf(token, 'css');
    expect(snippet).toMatch(/^<style>/);
    expect(snippet).not.toContain('<script');
    const path = new URL(url ?? '').pathname;
    const context = await browser.newContext({ javaScriptEnabled: false });
    // The real site sends its CSP header; the clone serves the same HTML without it.
    expect(await visit(context, `http://login.corp.test:${port}/login?csp=1`, path)).toBe(0);
    expect(await hitsOf(token.id)).toHaveLength(0);
    expect(await visit(context, `http://evil.test:${port}/login`, path)).toBe(1);
    await expect.poll(async () => (await hitsOf(token.id)).length, { timeout: 10_000 }).toBe(1);
    const [hit] = await hitsOf(token.id);
    expect(hit?.classification).toBe('alert');
    expect(hit?.details).toMatchObject({ via: 'style', verdict: 'foreign', origin: `http://evil.test:${port}`, refererOrigin: `http://evil.test:${port}` });
    expect(clonedSite.explain?.(hit as never, token as unknown as Token)?.action).toMatch(/^Your login page was served from http:\/\/evil\.test:\d+ \(a clone\) to Chrome/);

    // The real page without its CSP header loads the image too: recorded and alerted, saying why.
    expect(await visit(context, `http://login.corp.test:${port}/login`, path)).toBe(1);
    await expect.poll(async () => (await hitsOf(token.id)).length, { timeout: 10_000 }).toBe(2);
    const own = (await hitsOf(token.id)).find((h) => h.details?.verdict === 'own-origin');
    expect(own?.classification).toBe('alert');
    expect(clonedSite.explain?.(own as never, token as unknown as Token)?.action).toMatch(/your own http:\/\/login\.corp\.test:\d+.*Content-Security-Policy.*not taken as harmless/);
    await context.close();
  });

  it('a missing, own-looking or unreadable Referer is recorded and alerted, never taken as harmless', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'cloned-site', params: { origins: ['https://login.corp.example'] } });
    const q = (token.params as { _q: string })._q;
    const sends: [Record<string, string>, string, string][] = [
      [{}, '', 'no-referer'],
      [{ referer: 'https://login.corp.example/' }, '', 'own-origin'],
      [{ referer: 'not a url at all' }, '', 'unreadable'],
      [{}, `${url?.includes('?') ? '&' : '?'}${q}=${encodeURIComponent('https://login.corp.example/login')}`, 'own-origin'],
      [{ referer: 'https://login.corp.example/' }, `${url?.includes('?') ? '&' : '?'}${q}=${encodeURIComponent('https://phish.example/corp/login')}`, 'foreign'],
    ];
    for (const [headers, query, verdict] of sends) {
      const res = await fetch(`${url}${query}`, { headers: { 'user-agent': `probe-${verdict}`, ...headers } });
      expect(res.status).toBe(200);
      expect(res.headers.get('server')).toBe('nginx');
    }
    const hits = await hitsOf(token.id);
    expect(hits.map((h) => h.details?.verdict).sort()).toEqual(sends.map((x) => x[2]).sort());
    for (const h of hits) expect(h.classification, String(h.details?.verdict)).toBe('alert');
    const foreign = hits.find((h) => h.details?.verdict === 'foreign');
    // The script's report wins over a Referer claiming the real site; both are kept.
    expect(foreign?.details).toMatchObject({ via: 'script', origin: 'https://phish.example', page: '/corp/login', refererOrigin: 'https://login.corp.example' });
    for (const h of hits.filter((x) => x.details?.verdict !== 'foreign')) {
      expect(clonedSite.explain?.(h as never, token as unknown as Token)?.action).toMatch(/not taken as harmless/);
    }
  });

  it('the snippets carry the origins and an ordinary asset URL, with no id-shaped segment', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'cloned-site', params: { origins: ['https://login.corp.example', 'SSO.corp.example.'] } });
    expect(token.params).toMatchObject({ origins: ['https://login.corp.example', 'sso.corp.example'] });
    const script = await snippetOf(token);
    expect(script).toContain('["https://login.corp.example","sso.corp.example"]');
    expect(url).not.toContain(token.id);
    for (const text of [script, await snippetOf(token, 'css')]) {
      expect(text).not.toContain(token.id);
      // No label of the token id's shape (24 of [0-9a-z]), as a hunting rule splits the text.
      expect(text.split(/[^0-9A-Za-z]+/).filter((l) => /^[0-9a-z]{24}$/.test(l))).toEqual([]);
    }
  });

  it('refuses origins that are not an origin or a host name with a 400 naming params.origins', async () => {
    for (const origins of [[], ['https://login.corp.example/login'], ['*.corp.example'], ['ftp://files.corp.example'], ['https://user:pw@login.corp.example'], ['login corp'], 'login.corp.example']) {
      const res = await fetch(`${s.adminUrl}/api/v1/tokens`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'cloned-site', name: 'login', params: { origins } }) });
      const body = (await res.json()) as { error?: { fields?: Record<string, string> } };
      expect(res.status, JSON.stringify(origins)).toBe(400);
      expect(Object.keys(body.error?.fields ?? {}).some((k) => k.startsWith('params.origins')), JSON.stringify(body)).toBe(true);
    }
  });
});
