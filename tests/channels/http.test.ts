import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { deleteToken, updateToken } from '../../src/db/queries/tokens.ts';
import { newTokenPath } from '../../src/tokens/urls.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ TRUST_PROXY: 'loopback' });
});
afterAll(() => s.stop());

const hitsOf = (tokenId: string) => listHits(s.app.deps.db, { tokenId, limit: 100 });

/** Raw HTTP over a socket, for requests fetch refuses to send. */
function rawRequest(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.end(payload));
    let out = '';
    sock.on('data', (d) => (out += d.toString('latin1')));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
    sock.setTimeout(5000, () => sock.destroy(new Error('timeout')));
  });
}

describe('public listener: recording', () => {
  it('records a hit with IP, user agent, path, and answers the image only after the commit', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', location: '\\\\fs01\\finance' });
    const res = await fetch(url!, { headers: { 'user-agent': 'Mozilla/5.0 (attacker)', accept: 'image/*' } });
    expect(res.status).toBe(200);
    // The image type follows the file name in the URL (a .png URL gets a PNG), GIF otherwise.
    const ext = /\.(png|jpg|gif)$/.exec(new URL(url!).pathname)?.[1] ?? 'gif';
    const magic = { png: '89504e47', jpg: 'ffd8ffe0', gif: '47494638' }[ext];
    expect(res.headers.get('content-type')).toBe(`image/${ext === 'jpg' ? 'jpeg' : ext}`);
    expect(Buffer.from(await res.arrayBuffer()).subarray(0, 4).toString('hex')).toBe(magic);
    // The response came back, so the hit must already be committed.
    const hits = await hitsOf(token.id);
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ channel: 'http', sourceIp: '127.0.0.1', userAgent: 'Mozilla/5.0 (attacker)', method: 'GET', classification: 'alert' });
    expect(hits[0]?.path).toBe(new URL(url!).pathname);
  });

  it('finds a token by its stored path, with a query pair, or under its base path; old tokens by an id in the URL', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    expect(url).not.toContain(token.id);
    await fetch(`${url!}${url!.includes('?') ? '&' : '?'}utm_source=mail`);
    // Tokens made before stored paths carried no id keep firing by the id in their URL.
    await fetch(`${s.publicUrl}/static/img/logo.png?utm=1&v=${token.id}`);
    await fetch(`${s.publicUrl}/assets/${token.id}.png`);
    expect(await hitsOf(token.id)).toHaveLength(3);
    const portal = await makeToken(s.app.deps.db, s.config, { kind: 'api-key' });
    const base = new URL(portal.url!).pathname;
    expect((await fetch(`${s.publicUrl}${base}/users/me?page=2`)).status).not.toBe(404);
    expect(await hitsOf(portal.token.id)).toHaveLength(1);
  });

  it('answers a browser navigation with an HTML page, an <img> fetch with a GIF', async () => {
    const { url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const page = await fetch(url!, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(page.headers.get('content-type')).toBe('text/html');
    expect(await page.text()).toContain('<html');
  });

  it('redirect tokens record the hit and 302 to the configured target', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'redirect', params: { target: 'https://wiki.corp.example/x' } });
    const res = await fetch(url!, { redirect: 'manual', headers: { referer: 'https://intranet/' } });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://wiki.corp.example/x');
    expect((await hitsOf(token.id))[0]?.referer).toBe('https://intranet/');
  });

  it('records every hit from many concurrent requests', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const results = await Promise.all(Array.from({ length: 60 }, () => fetch(url!).then((r) => r.status)));
    expect(results.every((st) => st === 200)).toBe(true);
    // Identical requests past the flood threshold are counted on one row (repeatCount), not dropped.
    expect((await hitsOf(token.id)).reduce((n, h) => n + h.repeatCount, 0)).toBe(60);
  });

  it('masks Authorization values in stored headers and keeps other headers bounded', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    await fetch(url!, { headers: { authorization: 'Basic dXNlcjpzZWNyZXQ=', 'x-long': 'a'.repeat(5000) } });
    const h = (await hitsOf(token.id))[0]?.headers ?? {};
    expect(h.authorization).toMatch(/^Basic \[redacted \d+ chars, digest [0-9a-f]{12}\]$/);
    expect(JSON.stringify(h)).not.toContain('dXNlcjpzZWNyZXQ=');
    expect((h['x-long'] ?? '').length).toBeLessThanOrEqual(513);
  });
});

describe('public listener: fail quiet', () => {
  it('answers unknown, disabled and deleted tokens exactly like any missing file and records nothing; an expired one still answers and fires', async () => {
    const { url: liveUrl } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', params: { response: 'gif' } });
    const { token: off, url: offUrl } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const { token: old, url: oldUrl } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', params: { response: 'gif' } });
    const { token: gone, url: goneUrl } = await makeToken(s.app.deps.db, s.config, { kind: 'word' });
    await updateToken(s.app.deps.db, off.id, { enabled: false });
    await updateToken(s.app.deps.db, old.id, { expiresAt: new Date(Date.now() - 1000) });
    await deleteToken(s.app.deps.db, gone.id);
    const answer = async (u: string) => {
      const r = await fetch(u);
      return { status: r.status, headers: [...r.headers.keys()].filter((k) => k !== 'date'), body: Buffer.from(await r.arrayBuffer()).toString('hex') };
    };
    const missing = await answer(`${s.publicUrl}${newTokenPath(s.config, 'image')}`);
    expect(missing.status).toBe(404);
    for (const u of [offUrl!, goneUrl!, `${s.publicUrl}/static/${'a'.repeat(24)}.gif`, `${s.publicUrl}/k8s/clusters/c-${'b'.repeat(24)}/version`]) {
      expect(await answer(u), u).toEqual(missing);
    }
    const live = await answer(liveUrl!);
    expect(live.status).toBe(200);
    // Past its expiry a decoy is due for rotation, not dead: it answers as a live one and an intruder who found it is still caught.
    const expired = await answer(oldUrl!);
    expect(expired.status).toBe(200);
    expect(expired.headers).toEqual(live.headers);
    expect(await hitsOf(off.id)).toHaveLength(0);
    expect(await hitsOf(old.id)).toHaveLength(1);
    expect(await hitsOf(gone.id)).toHaveLength(0);
  });

  it('answers a document image URL like a static image, and the same path with one character changed like a missing file', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'word' });
    const path = new URL(url!).pathname;
    const dot = path.lastIndexOf('.');
    const changed = `${s.publicUrl}${path.slice(0, dot - 1)}${path[dot - 1] === 'q' ? 'r' : 'q'}${path.slice(dot)}`;
    const [a, b] = await Promise.all(
      [url!, changed].map(async (u) => {
        const r = await fetch(u);
        return { status: r.status, type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()).toString('hex') };
      }),
    );
    expect(a).toMatchObject({ status: 200, type: expect.stringMatching(/^image\/(png|gif|jpeg)$/) });
    expect(b).toMatchObject({ status: 404, type: 'text/html' });
    expect(await hitsOf(token.id)).toHaveLength(1);
  });

  it('looks like nginx: Server header, no X-Powered-By, stock 404 and index pages', async () => {
    const res = await fetch(`${s.publicUrl}/wp-login.php`);
    expect(res.status).toBe(404);
    expect(res.headers.get('server')).toBe('nginx');
    expect(res.headers.get('x-powered-by')).toBeNull();
    const body = await res.text();
    expect(body).toContain('<center>nginx</center>');
    expect(body.toLowerCase()).not.toMatch(/honey|token|express|trap/);
    const index = await fetch(`${s.publicUrl}/`);
    expect(await index.text()).toContain('Welcome to nginx!');
  });

  it('serves no admin or API route', async () => {
    for (const path of ['/api/v1/kinds', '/api/v1/tokens', '/healthz', '/admin']) {
      const res = await fetch(`${s.publicUrl}${path}`, { headers: { authorization: 'Bearer whatever' } });
      expect(res.status, path).toBe(404);
    }
  });

  it('bounds the URL, headers and body as nginx does (414, 400 for a long header line, 413 past 1m), answering within bounds', async () => {
    expect((await fetch(`${s.publicUrl}/${'a'.repeat(10_000)}`)).status).toBe(414);
    expect((await fetch(`${s.publicUrl}/${'a'.repeat(5000)}`)).status).toBe(404);
    const big = await fetch(`${s.publicUrl}/upload`, { method: 'POST', body: 'x'.repeat(70 * 1024) });
    expect(big.status).toBe(404);
    const port = s.app.port('public');
    const tooBig = await rawRequest(port, `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n`);
    expect(tooBig).toMatch(/^HTTP\/1\.1 413 Request Entity Too Large\r\n/);
    const hugeHeaders = await rawRequest(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
    expect(hugeHeaders).toMatch(/^HTTP\/1\.1 400 Bad Request\r\nServer: nginx\r\nDate: /);
    expect(hugeHeaders).toContain('Request Header Or Cookie Too Large');
    const overflow = await rawRequest(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(40_000)}\r\n\r\n`);
    expect(overflow).toMatch(/^HTTP\/1\.1 400 Bad Request\r\nServer: nginx\r\nDate: /);
  });

  it('answers garbage with a bland 400 and keeps serving', async () => {
    const port = s.app.port('public');
    const garbage = await rawRequest(port, '\x16\x03\x01\x02\x00GARBAGE\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbage).not.toMatch(/node|express|error:/i);
    expect((await fetch(`${s.publicUrl}/`)).status).toBe(200);
  });
});

describe('public listener: proxies', () => {
  it('believes X-Forwarded-For only from trusted proxies and keeps the raw chain', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    await fetch(url!, { headers: { 'x-forwarded-for': '203.0.113.9, 10.1.2.3' } });
    const hit = (await hitsOf(token.id))[0];
    // 127.0.0.1 (loopback) is trusted; 10.1.2.3 is not, so it is the client.
    expect(hit?.sourceIp).toBe('10.1.2.3');
    expect(hit?.forwardedFor).toBe('203.0.113.9, 10.1.2.3');
  });

  it('ignores X-Forwarded-For when no proxy is trusted', async () => {
    const other = await startTestServer({ TRUST_PROXY: 'false' });
    try {
      const { token, url } = await makeToken(other.app.deps.db, other.config, { kind: 'web-bug' });
      const u = new URL(url!);
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port: other.app.port('public'), path: u.pathname + u.search, headers: { 'x-forwarded-for': '198.51.100.7' } },
          (res) => {
            res.resume();
            res.on('end', resolve);
          },
        );
        req.on('error', reject);
        req.end();
      });
      const hit = (await listHits(other.app.deps.db, { tokenId: token.id, limit: 1 }))[0];
      expect(hit?.sourceIp).toBe('127.0.0.1');
      expect(hit?.forwardedFor).toBe('198.51.100.7');
    } finally {
      await other.stop();
    }
  });
});

describe('public listener: slow clients', () => {
  it('cuts a slow-loris connection at the 15 s header timeout while other requests are answered', async () => {
    const { url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const started = Date.now();
    const sock = connect(s.app.port('public'), '127.0.0.1');
    let reply = '';
    sock.on('data', (d) => (reply += d.toString('latin1')));
    sock.on('error', () => {});
    // Headers trickle in and never finish: one header line every two seconds.
    sock.write('GET / HTTP/1.1\r\nHost: cdn.corp.example\r\n');
    const drip = setInterval(() => sock.writable && sock.write(`X-Pad-${Date.now()}: a\r\n`), 2000);
    const closed = new Promise<number>((resolve) => sock.on('close', () => resolve(Date.now() - started)));
    const bound = new Promise<number>((resolve) => setTimeout(() => resolve(-1), 25_000));
    try {
      expect((await fetch(url!)).status).toBe(200);
      const after = await Promise.race([closed, bound]);
      expect(after).toBeGreaterThanOrEqual(14_000);
      expect(after).toBeLessThan(20_000);
      // The same bland answer as any malformed request (nginx-like), nothing else.
      expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\nServer: nginx/);
      expect(reply).not.toMatch(/node|express|honeytrail/i);
    } finally {
      clearInterval(drip);
      sock.destroy();
    }
  }, 30_000);
});
