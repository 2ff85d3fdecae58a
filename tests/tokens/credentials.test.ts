import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { launchChromium } from '../chromium.ts';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.stop());

const hitsOf = (tokenId: string) => listHits(s.app.deps.db, { tokenId, limit: 100, order: 'asc' });

/** What an intruder reads out of the planted file, per format. */
function readPlanted(format: string, text: string): { url: string; username: string; password: string } {
  if (format === 'csv') {
    const [header, row] = text.trim().split('\n');
    const cols = (header ?? '').split(',');
    const vals = (row ?? '').split(',');
    const get = (n: string) => vals[cols.indexOf(n)] ?? '';
    return { url: get('url'), username: get('username'), password: get('password') };
  }
  if (format === 'rdp') {
    const get = (k: string) => /^(.*?):s:(.*)$/m.exec(text.split('\r\n').find((l) => l.startsWith(`${k}:s:`)) ?? '')?.[2] ?? '';
    return { url: get('rdweb url'), username: get('username'), password: get('password') };
  }
  const pick = (re: RegExp) => re.exec(text)?.[1]?.trim() ?? '';
  if (format === 'ini') return { url: pick(/^url = (.*)$/m), username: pick(/^username = (.*)$/m), password: pick(/^password = (.*)$/m) };
  return { url: pick(/^Portal:\s+(.*)$/m), username: pick(/^User:\s+(.*)$/m), password: pick(/^Password:\s+(.*)$/m) };
}

async function planted(format: string, params: Record<string, unknown> = {}): Promise<{ token: TokenRow; url: string; username: string; password: string }> {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'credentials', params: { format, brand: 'Northwind IT', ...params } });
  const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  return { token, ...readPlanted(format, file.body.toString('utf8')) };
}

/** Field names and action of the login form, read from the page as a browser would. */
function formOf(html: string): { action: string; user: string; pass: string } {
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1] ?? '';
  const user = /<input type="text" id="[^"]*" name="([^"]*)"/.exec(html)?.[1] ?? '';
  const pass = /<input type="password" id="[^"]*" name="([^"]*)"/.exec(html)?.[1] ?? '';
  return { action: action.replace(/&#x3D;/g, '='), user, pass };
}

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('credentials kind: the planted file', () => {
  it.each(['note', 'ini', 'csv'])('%s format holds a portal URL, user name and password an intruder can read', async (format) => {
    const p = await planted(format);
    expect(p.url).toBe(`${s.publicUrl}${p.token.urlPath}`);
    expect(p.username).toBe((p.token.params as { username: string }).username);
    expect(p.password).toBe((p.token.params as { password: string }).password);
    expect(p.password.length).toBeGreaterThanOrEqual(8);
  });

  it('rdp format holds the portal URL and user name, and no plaintext password (mstsc never writes one)', async () => {
    const p = await planted('rdp');
    expect(p.url).toBe(`${s.publicUrl}${p.token.urlPath}`);
    expect(p.username).toBe((p.token.params as { username: string }).username);
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'credentials', params: { format: 'rdp' } });
    const text = (await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' })).body.toString('utf8');
    expect(text).not.toMatch(/^password/m);
    expect(text).not.toContain((token.params as { password: string }).password);
    // PUBLIC_URL is an IP address here: the session host is that address, not a name built on it.
    expect(new URL(s.publicUrl).hostname).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(text).toMatch(new RegExp(`^full address:s:${new URL(s.publicUrl).hostname.replace(/\./g, '\\.')}\r?$`, 'm'));
  });

  it('generates a different user/password pair per token and keeps defender-chosen ones', async () => {
    const a = await planted('note');
    const b = await planted('note');
    expect(`${a.username}:${a.password}`).not.toBe(`${b.username}:${b.password}`);
    const c = await planted('ini', { username: 'svc_backup', password: 'Harbor#maple42ZX' });
    expect([c.username, c.password]).toEqual(['svc_backup', 'Harbor#maple42ZX']);
  });

  it('refuses params that would break the file or the page', async () => {
    for (const params of [{ username: 'a\nb' }, { password: 'short' }, { password: '=cmd|calc' }, { title: 'x<script>' }, { accent: 'red' }, { look: 'citrix' }]) {
      await expect(makeToken(s.app.deps.db, s.config, { kind: 'credentials', params })).rejects.toMatchObject({ status: 400 });
    }
  });
});

describe('credentials kind: the login portal', () => {
  it('GET shows a login page in the configured look and records a visit without a credential', async () => {
    const p = await planted('note', { look: 'git', title: 'Sign in · Engineering', accent: '#aa3300' });
    const res = await fetch(p.url, { headers: { accept: 'text/html', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64)' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('server')).toBe('nginx');
    const html = await res.text();
    expect(html).toContain('<title>Sign in · Engineering</title>');
    expect(html).toContain('Northwind IT');
    expect(html).toContain('#aa3300');
    expect(html).not.toMatch(/honey|trap|decoy|token/i);
    const hits = await hitsOf(p.token.id);
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ credential: null, classification: 'alert', method: 'GET' });
  });

  it.each(['vpn', 'ci', 'git', 'sso'])('%s look: a form POST with the planted pair is a credential-use hit answered with an MFA prompt', async (look) => {
    const p = await planted('note', { look });
    const form = formOf(await (await fetch(p.url)).text());
    expect(form.user && form.pass).toBeTruthy();
    const body = new URLSearchParams({ [form.user]: p.username, [form.pass]: p.password });
    const res = await fetch(new URL(form.action, p.url), { method: 'POST', body, headers: { 'user-agent': 'python-requests/2.31.0' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('Verify it');
    expect(html).toContain(p.username);
    const hits = await hitsOf(p.token.id);
    expect(hits.at(-1)).toMatchObject({ credential: p.username, classification: 'alert', method: 'POST', userAgent: 'python-requests/2.31.0' });
    expect(hits.at(-1)?.details).toMatchObject({ portal: 'credential-use', via: 'form', outcome: 'mfa-pending' });
  });

  it('onSuccess=fail answers the planted pair with "login failed", still a credential-use hit', async () => {
    const p = await planted('ini', { onSuccess: 'fail' });
    const res = await fetch(p.url, { method: 'POST', body: new URLSearchParams({ username: p.username, password: p.password }) });
    expect(await res.text()).toContain('Invalid user name or password.');
    expect((await hitsOf(p.token.id)).at(-1)).toMatchObject({ credential: p.username, classification: 'alert' });
  });

  it('HTTP basic auth with the planted pair is a credential-use hit answered 401 like a real realm', async () => {
    const p = await planted('csv', { look: 'ci' });
    const res = await fetch(p.url, { headers: { authorization: basic(p.username, p.password), 'user-agent': 'curl/8.5.0' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="/);
    const hit = (await hitsOf(p.token.id)).at(-1);
    expect(hit).toMatchObject({ credential: p.username, classification: 'alert', userAgent: 'curl/8.5.0' });
    expect(hit?.details).toMatchObject({ via: 'basic' });
    // The Authorization header is stored redacted.
    expect(JSON.stringify(hit?.headers)).not.toContain(Buffer.from(`${p.username}:${p.password}`).toString('base64'));
  });

  it('the planted pair is recognised anywhere on the listener (no token id in the URL) through the indexed lookup key', async () => {
    const p = await planted('ini');
    const res = await fetch(`${s.publicUrl}/`, { headers: { authorization: basic(p.username.toUpperCase(), p.password) } });
    expect(res.status).toBe(401);
    const form = await fetch(`${s.publicUrl}/login`, { method: 'POST', body: new URLSearchParams({ user: p.username, pass: p.password }) });
    expect(form.status).toBe(200);
    const hits = await hitsOf(p.token.id);
    expect(hits.map((h) => h.credential)).toEqual([p.username, p.username]);
    expect(hits.map((h) => h.path)).toEqual(['/', '/login']);
  });

  it('wrong credentials are probing: classified probe, no credential, the foreign password never stored', async () => {
    const p = await planted('note');
    const wrong = 'MyRealPassw0rd!Secret';
    const res = await fetch(p.url, { method: 'POST', body: new URLSearchParams({ username: p.username, credential: wrong }) });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Invalid user name or password.');
    const basicRes = await fetch(p.url, { headers: { authorization: basic('administrator', wrong) } });
    expect(basicRes.status).toBe(401);
    const hits = await hitsOf(p.token.id);
    expect(hits).toHaveLength(2);
    for (const h of hits) {
      expect(h).toMatchObject({ classification: 'probe', credential: null });
      expect(JSON.stringify(h)).not.toContain(wrong);
      expect(JSON.stringify(h)).not.toContain(Buffer.from(`administrator:${wrong}`).toString('base64'));
    }
    expect(hits[0]?.details).toMatchObject({ usernameMatched: true, password: { length: wrong.length } });
    expect(hits[1]?.details).toMatchObject({ username: 'administrator', usernameMatched: false });
    // The same wrong password gives the same digest, so repeated guesses can be correlated.
    const digests = hits.map((h) => (h.details as { password: { digest: string } }).password.digest);
    expect(digests[0]).toBe(digests[1]);
    expect(digests[0]).toMatch(/^[0-9a-f]{12}$/);
  });

  it('the planted password with another user name (spraying a found password) is a full alert, but not use of the planted account', async () => {
    const p = await planted('note');
    await fetch(p.url, { method: 'POST', body: new URLSearchParams({ username: 'administrator', password: p.password }) });
    const hit = (await hitsOf(p.token.id)).at(-1);
    expect(hit).toMatchObject({ classification: 'alert', credential: null });
    expect(hit?.details).toMatchObject({ portal: 'planted-password-other-user', usernameMatched: false, passwordMatched: true });
  });

  it('escapes what the intruder typed when echoing it back', async () => {
    const p = await planted('note');
    const res = await fetch(p.url, { method: 'POST', body: new URLSearchParams({ username: '<script>alert(1)</script>"x', credential: 'nope' }) });
    const html = await res.text();
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;x');
  });

  it('a POST without credentials re-shows the form, recorded as a plain visit', async () => {
    const p = await planted('note');
    const res = await fetch(p.url, { method: 'POST', body: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Please enter your user name and password.');
    expect((await hitsOf(p.token.id))[0]).toMatchObject({ credential: null, classification: 'alert' });
  });
});

describe('credentials kind: a real browser signs in', () => {
  it('Chromium fills in the planted pair and submits the form: credential-use hit, MFA page shown', async () => {
    const browser = await launchChromium();
    try {
      const p = await planted('note', { look: 'sso' });
      const page = await browser.newPage();
      await page.goto(p.url);
      await page.fill('input[type=text]', p.username);
      await page.fill('input[type=password]', p.password);
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      expect(await page.textContent('h1')).toContain('Verify it');
      const hits = await hitsOf(p.token.id);
      expect(hits.map((h) => h.method)).toEqual(['GET', 'POST']);
      expect(hits[1]).toMatchObject({ credential: p.username });
      expect(hits[1]?.userAgent).toMatch(/Chrome\//);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
