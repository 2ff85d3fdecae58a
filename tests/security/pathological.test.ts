import { request as httpRequest } from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelsBelowZone } from '../../src/channels/dns-zone.ts';
import { tokenLabelIndex } from '../../src/channels/dns.ts';
import { byteRange } from '../../src/channels/nginx.ts';
import { extractLinks, parseMail } from '../../src/channels/smtp-mail.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import { parseSigV4 } from '../../src/tokens/aws-keys.ts';
import { idCandidates } from '../../src/tokens/ids.ts';
import type { DnsQueryInfo, HttpRequestInfo, Token } from '../../src/tokens/kind.ts';
import { KINDS } from '../../src/tokens/registry.ts';
import { ask, queryPacket } from '../channels/dns-client.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

/**
 * Pathological input for every attacker-facing parser (issue 15): each must be handled in
 * linear time. Budgets are loose on purpose (CI shares two cores): every case here cost 5x to
 * 50x its budget before the fix (4,000 slashes on a kubeconfig path: ~15 ms a request; 500 KB of
 * `http://....a` links: ~1.1 s; a 750 KB `To:` list: ~1 s of one synchronous block), and a
 * small fraction of it after. Speed figures belong in `npm run bench` (BENCH_ONLY=hostile).
 */

/** Requests' worth of work per case and the budget for all of them together. */
const REPS = 20;
const BUDGET_MS = 100;

let s: TestServer;
const tokens = new Map<string, TokenRow>();
beforeAll(async () => {
  // Every hostile case runs against every HTTP kind from one address: with a dozen kinds that is more
  // rows than HIT_SOURCE_ROWS allows one source per window, and the source's later hits would fold into
  // earlier rows (tests/hits/flood.test.ts covers that). Here each request must keep its own row.
  s = await startTestServer({ HIT_SOURCE_ROWS: '100000' });
  for (const kind of KINDS) tokens.set(kind.id, (await makeToken(s.app.deps.db, s.config, { kind: kind.id })).token);
});
afterAll(() => s.stop());

/** Milliseconds `reps` runs of `fn` take: the fastest of three tries, so a neighbour's burst on a shared core does not count. */
function elapsed(fn: () => unknown, reps = REPS): number {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

/**
 * The same request with every attacker-chosen character replaced by a plain letter: the cost
 * of an ordinary request of that size on this machine right now. A case may take a few times
 * that (the work is linear in size either way), never the hundred times a quadratic pattern does.
 */
function benign(shape: ReturnType<(typeof HTTP_CASES)[number][1]>, t: TokenRow): ReturnType<(typeof HTTP_CASES)[number][1]> {
  const letters = (n: number) => 'a'.repeat(Math.max(0, n));
  const keep = credentialHeaders(t);
  const prefix = base(t);
  return {
    path: shape.path.startsWith(prefix) ? `${prefix}${letters(shape.path.length - prefix.length)}` : `/${letters(shape.path.length - 1)}`,
    ...(shape.query !== undefined ? { query: `q=${letters(shape.query.length - 2)}` } : {}),
    method: shape.method,
    headers: Object.fromEntries(Object.entries(shape.headers ?? {}).map(([k, v]) => [k, keep[k] === v || k === 'content-type' ? v : letters(v.length)])),
    ...(shape.body !== undefined ? { body: `x=${letters(shape.body.length - 2)}` } : {}),
  };
}

/** The longest synchronous block while parsing, the fastest of three tries. */
async function parseBlock(text: string): Promise<{ block: number; parsed: Awaited<ReturnType<typeof parseMail>> | undefined }> {
  let best = Number.POSITIVE_INFINITY;
  let parsed: Awaited<ReturnType<typeof parseMail>> | undefined;
  for (let round = 0; round < 3; round++) {
    const block = await longestBlock(async () => {
      parsed = await parseMail(mailStream(text), 1024 * 1024);
    });
    best = Math.min(best, block);
  }
  return { block: best, parsed };
}

/** The longest the event loop was held while `run` ran (what other listeners would wait). */
async function longestBlock(run: () => Promise<unknown>): Promise<number> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await run();
  await new Promise((r) => setTimeout(r, 2));
  h.disable();
  return h.max / 1e6;
}

/** The credential a kind's token answers to, so hostile requests reach the code behind the check. */
function credentialHeaders(t: TokenRow): Record<string, string> {
  const p = t.params as Record<string, unknown>;
  if (t.kind === 'kubeconfig' && typeof p.token === 'string') return { authorization: `Bearer ${p.token}` };
  if (t.kind === 'api-key' && typeof p.key === 'string') return { authorization: `Bearer ${p.key}` };
  if (t.kind === 'webdav-share' && typeof p.username === 'string' && typeof p.password === 'string') return { authorization: `Basic ${Buffer.from(`${p.username}:${p.password}`).toString('base64')}` };
  if (t.kind === 'aws-keys' && typeof p.accessKeyId === 'string') {
    return { authorization: `AWS4-HMAC-SHA256 Credential=${p.accessKeyId}/20250101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00` };
  }
  return {};
}

const base = (t: TokenRow) => t.urlPath ?? `/static/${t.id}.png`;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** Hostile request shapes, each at the listener's size limits (URL 4 KiB, headers 16 KiB, body 64 KiB). */
const HTTP_CASES: [string, (t: TokenRow) => { path: string; query?: string; method?: string; headers?: Record<string, string>; body?: string }][] = [
  ['a path ending in 4,000 slashes and a letter', (t) => ({ path: `${base(t)}${'/'.repeat(4000)}a`.slice(0, 4090), headers: credentialHeaders(t) })],
  ['a path of slashes only', () => ({ path: '/'.repeat(4090) })],
  ['a path of escaped slashes', (t) => ({ path: `${base(t)}${'%2F'.repeat(1300)}`, headers: credentialHeaders(t) })],
  ['an API group path that never closes', (t) => ({ path: `${base(t)}/apis/${'a.'.repeat(1900)}`, headers: credentialHeaders(t) })],
  ['repeated API group prefixes', (t) => ({ path: `${base(t)}${'/apis/a_'.repeat(480)}`, headers: credentialHeaders(t) })],
  ['a 4,000-character id-shaped word', () => ({ path: `/${'a'.repeat(4000)}` })],
  ['a query of ampersands', (t) => ({ path: base(t), query: '&'.repeat(4000), headers: credentialHeaders(t) })],
  ['a thousand query parameters', (t) => ({ path: base(t), query: 'a=1&'.repeat(1000), headers: credentialHeaders(t) })],
  ['a watch query of equals signs', (t) => ({ path: base(t), query: `watch=${'='.repeat(4000)}`, headers: credentialHeaders(t) })],
  ['a presigned SigV4 credential of slashes', (t) => ({ path: base(t), query: `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${'AKIA%2F'.repeat(650)}` })],
  ['a SigV4 header of repeated Credential=', (t) => ({ path: base(t), headers: { authorization: `AWS4-HMAC-SHA256 ${'Credential='.repeat(370)}` } })],
  ['a SigV4 credential scope of slashes', (t) => ({ path: base(t), headers: { authorization: `AWS4-HMAC-SHA256 Credential=${'A/'.repeat(2000)}` } })],
  ['SigV4 signed headers that never end', (t) => ({ path: base(t), headers: { authorization: `AWS4-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAAAAAA/20250101/us-east-1/s3/aws4_request, SignedHeaders=${'a;'.repeat(2000)}!` } })],
  ['a bearer token after 4,000 spaces', (t) => ({ path: base(t), headers: { authorization: `Bearer ${' '.repeat(4000)}x y` } })],
  ['a basic credential that does not end', (t) => ({ path: base(t), headers: { authorization: `Basic ${'A'.repeat(4000)} !` } })],
  ['an X-Amz-Target of dots', (t) => ({ path: base(t), headers: { ...credentialHeaders(t), 'x-amz-target': '.'.repeat(15000) } })],
  ['a content type of semicolons', (t) => ({ path: base(t), method: 'POST', headers: { ...credentialHeaders(t), 'content-type': `application/x-amz-json${';'.repeat(15000)}` }, body: '{}' })],
  ['an Accept header of repeated types', (t) => ({ path: base(t), headers: { accept: 'text/plain,'.repeat(1400) } })],
  ['a 15 KB user agent of office names', (t) => ({ path: base(t), headers: { 'user-agent': `Microsoft Office ${'Microsoft Word '.repeat(1000)}` } })],
  ['a portal form with 30 KB fields', (t) => ({ path: base(t), method: 'POST', headers: FORM, body: `username=${'%41'.repeat(10000)}&password=${'a'.repeat(30000)}` })],
  ['a form body of ampersands', (t) => ({ path: base(t), method: 'POST', headers: FORM, body: '&'.repeat(65000) })],
  ['a form body of equals signs', (t) => ({ path: base(t), method: 'POST', headers: FORM, body: `username=${'='.repeat(32000)}&password=${'='.repeat(32000)}` })],
  ['a form Action of dots', (t) => ({ path: base(t), method: 'POST', headers: { ...FORM, ...credentialHeaders(t) }, body: `Action=${'.'.repeat(65000)}` })],
];

/** The request as the listener hands it to kinds; null for a target it refuses before that (400). */
function requestInfo(shape: ReturnType<(typeof HTTP_CASES)[number][1]>): HttpRequestInfo | null {
  const url = shape.query ? `${shape.path}?${shape.query}` : shape.path;
  let parsed: URL;
  try {
    parsed = new URL(url, 'http://localhost');
  } catch {
    return null;
  }
  return {
    method: shape.method ?? 'GET',
    url,
    path: parsed.pathname,
    query: parsed.searchParams,
    headers: shape.headers ?? {},
    body: Buffer.from(shape.body ?? ''),
    sourceIp: '203.0.113.9',
  };
}

describe('HTTP: every kind parses hostile requests in linear time', () => {
  const httpKinds = KINDS.filter((k) => k.http);
  for (const [name, shape] of HTTP_CASES) {
    it(name, () => {
      for (const kind of httpKinds) {
        const token = tokens.get(kind.id) as unknown as Token;
        const row = tokens.get(kind.id) as TokenRow;
        const info = requestInfo(shape(row));
        const plain = requestInfo(benign(shape(row), row));
        if (!info || !plain) continue;
        const handle = (req: HttpRequestInfo) => () => {
          idCandidates(req.url);
          kind.http?.lookupKey?.(req);
          kind.http?.describe?.(req, token);
          kind.http?.respond?.(req, token);
          parseSigV4(req);
        };
        const ordinary = elapsed(handle(plain));
        const ms = elapsed(handle(info));
        expect(ms, `${kind.id}: ${REPS} requests (an ordinary request of that size: ${ordinary.toFixed(1)} ms)`).toBeLessThan(Math.max(BUDGET_MS, 8 * ordinary));
      }
    });
  }
});

describe('HTTP: the static site reads a Range header in linear time', () => {
  it('8,000 spaces around the dash cost what an ordinary header of that length costs, and read as nginx reads them', () => {
    const spaces = ' '.repeat(8000);
    const hostile = [`bytes=${spaces}x`, `bytes=${spaces}-${spaces}x`, `bytes=${spaces}5${spaces}-${spaces}9${spaces}`];
    for (const value of hostile) {
      const ordinary = elapsed(() => byteRange(`bytes=${'1'.repeat(value.length - 8)}-9`, 100));
      const ms = elapsed(() => byteRange(value, 100));
      expect(ms, `${REPS} reads (an ordinary header of that length: ${ordinary.toFixed(1)} ms)`).toBeLessThan(Math.max(BUDGET_MS, 8 * ordinary));
    }
    expect(byteRange(hostile[0] as string, 100)).toBeNull();
    expect(byteRange(hostile[1] as string, 100)).toBeNull();
    expect(byteRange(hostile[2] as string, 100)).toEqual({ start: 5, end: 9 });
    expect(byteRange('BYTES= -5 ', 100)).toEqual({ start: 95, end: 99 });
    expect(byteRange('bytes=0-1-2', 100)).toBeNull();
    expect(byteRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(byteRange('bytes=-', 100)).toBeNull();
  });
});

describe('DNS: hostile names and labels', () => {
  const id = () => tokens.get('dns')?.id ?? '';
  const zone = () => s.config.DNS_ZONE;
  const names: [string, () => string][] = [
    ['base32 data of padding only', () => `${'='.repeat(60)}.${'='.repeat(60)}.${'='.repeat(60)}.g42.${id()}.${zone()}`],
    ['a hundred one-letter labels', () => `${'a.'.repeat(100)}${id()}.${zone()}`],
    ['id-shaped labels all the way', () => `${`${'b'.repeat(24)}.`.repeat(8)}${id()}.${zone()}`],
    ['environment-variable labels', () => `${'%a%.'.repeat(40)}ini.${id()}.${zone()}`],
    ['a marker with no data', () => `g00.${id()}.${zone()}`],
  ];
  for (const [name, qname] of names) {
    it(name, () => {
      const packet = queryPacket(qname(), 'A');
      const ms = elapsed(() => {
        const decoded = dnsPacket.decode(packet);
        const labels = labelsBelowZone(decoded.questions?.[0]?.name ?? '', zone()) ?? [];
        const at = tokenLabelIndex(labels);
        const raw = labels.slice(0, Math.max(0, at));
        const query: DnsQueryInfo = { qname: qname(), qtype: 'A', dataLabels: raw.map((l) => l.toLowerCase()), rawDataLabels: raw, resolverIp: '203.0.113.9' };
        for (const kind of KINDS) kind.dns?.describe?.(query, tokens.get(kind.id) as unknown as Token);
      }, 200);
      expect(ms).toBeLessThan(BUDGET_MS);
    });
  }
});

/** A message as the SMTP listener hands it over: 64 KiB socket-sized chunks. */
function mailStream(text: string): Readable {
  const bytes = Buffer.from(text);
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 65536) parts.push(bytes.subarray(i, i + 65536));
  return Readable.from(parts);
}

const HEAD = 'From: a@b.example\r\nTo: x@y.example\r\nSubject: quarterly numbers\r\n';
const MAILS: [string, string][] = [
  ['500 KB of http://....a links', `${HEAD}\r\n${`http://${'.'.repeat(1990)}a `.repeat(250)}`],
  ['one link repeated to the end of the scan window', `${HEAD}\r\n${'http://x.example/a '.repeat(50000)}`],
  ['an HTML part of dotted links', `${HEAD}Content-Type: text/html\r\n\r\n${`<a href="http://${'.'.repeat(1990)}a">x</a>`.repeat(250)}`],
  ['a 1 MB To: list', `To: ${'a@b, '.repeat(200000)}\r\n\r\nx`],
  ['a 60 KB To: list', `To: ${'a@b, '.repeat(12000)}\r\nSubject: x\r\n\r\nx`],
  ['thousands of To: lines', `${'To: a@b, c@d, e@f, g@h\r\n'.repeat(30000)}\r\nx`],
  ['a subject of 50,000 encoded words', `Subject: ${'=?utf-8?q?a=3D?= '.repeat(50000)}\r\n\r\nbody`],
  ['a From: of angle brackets', `From: ${'<'.repeat(900000)}\r\n\r\nx`],
  ['a From: of quotes', `From: ${'"'.repeat(900000)}\r\n\r\nx`],
  ['a header folded 200,000 times', `Subject: ${' a\r\n'.repeat(200000)}\r\nbody`],
  ['an embedded message with a 30 KB To: list', `${HEAD}Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\nTo: ${'a@b, '.repeat(6000)}\r\n\r\nx\r\n--b--\r\n`],
  ['3,000 nested multiparts', `${HEAD}Content-Type: multipart/mixed; boundary="b0"\r\n\r\n${Array.from({ length: 3000 }, (_, i) => `--b${i}\r\nContent-Type: multipart/mixed; boundary="b${i + 1}"\r\n\r\n`).join('')}`],
  ['30,000 parts', `${HEAD}Content-Type: multipart/mixed; boundary="b"\r\n\r\n${'--b\r\nContent-Type: text/plain\r\n\r\nx\r\n'.repeat(30000)}--b--\r\n`],
  ['quoted-printable soft breaks', `${HEAD}Content-Transfer-Encoding: quoted-printable\r\n\r\n${'=\r\n'.repeat(300000)}`],
  ['HTML nested 300,000 deep', `${HEAD}Content-Type: text/html\r\n\r\n${'<b>'.repeat(300000)}`],
];

/** A plain mail as long as `text`; quoted-printable (with its usual soft breaks every 73 characters) when `text` is. */
function ordinaryMail(text: string): string {
  if (/Content-Transfer-Encoding: quoted-printable/i.test(text)) {
    const head = `${HEAD}Content-Transfer-Encoding: quoted-printable\r\n\r\n`;
    const line = 'quarterly numbers attached, see the sheet for the regional breakdown pl=\r\n';
    return `${head}${line.repeat(Math.ceil(text.length / line.length))}`.slice(0, text.length);
  }
  return `${HEAD}\r\n${'quarterly numbers attached '.repeat(Math.ceil(text.length / 27))}`.slice(0, text.length);
}

describe('SMTP: hostile mail bodies and headers', () => {
  it('extracts links from 500 KB of http://....a in linear time, and stops when one link repeats', () => {
    expect(elapsed(() => extractLinks(`http://${'.'.repeat(1990)}a `.repeat(250)), 1)).toBeLessThan(50);
    expect(extractLinks(`http://${'.'.repeat(1990)}a `.repeat(250))).toEqual([`http://${'.'.repeat(293)}…`]);
    expect(elapsed(() => extractLinks('http://x.example/a '.repeat(20000)), 1)).toBeLessThan(50);
    expect(extractLinks('see http://x.example/a., and https://y.example/b?c=1&amp;d=2!')).toEqual(['http://x.example/a', 'https://y.example/b?c=1&d=2']);
  });

  for (const [name, text] of MAILS) {
    it(`${name}: parsed without holding the event loop`, async () => {
      const t = performance.now();
      const { block, parsed } = await parseBlock(text);
      expect(performance.now() - t).toBeLessThan(6000);
      // An ordinary mail of the same size and transfer encoding, parsed the same way on this machine now.
      const { block: ordinary } = await parseBlock(ordinaryMail(text));
      expect(block, `longest synchronous block (ms); an ordinary mail of that size: ${ordinary.toFixed(1)} ms`).toBeLessThan(Math.max(100, 4 * ordinary));
      expect(parsed?.links.length ?? 0).toBeLessThanOrEqual(20);
    });
  }

  it('keeps what a hit stores from a real-looking header block full of fields it does not store', async () => {
    const noise = Array.from({ length: 300 }, (_, i) => `X-MS-Exchange-Organization-Header-${i}: ${'v'.repeat(60)}\r\n`).join('');
    const mail = `Received: from mx.example by mx2\r\n${noise}From: "Mallory" <m@evil.example>\r\nTo: j.doe@corp.example\r\nSubject: =?utf-8?q?Invoice_=E2=82=AC?=\r\nContent-Type: text/plain\r\n\r\nsee http://evil.example/pay\r\n`;
    const parsed = await parseMail(mailStream(mail), 1024 * 1024);
    expect(parsed).toMatchObject({ subject: 'Invoice €', truncated: false, links: ['http://evil.example/pay'] });
    expect(parsed.headers.from).toBe('"Mallory" <m@evil.example>');
    expect(parsed.text).toBe('see http://evil.example/pay');
  });

  it('clips a kept header that is too long and says the mail was truncated', async () => {
    const parsed = await parseMail(mailStream(`To: ${'a@b, '.repeat(12000)}\r\nSubject: kept\r\n\r\nbody`), 1024 * 1024);
    expect(parsed.subject).toBe('kept');
    expect(parsed.truncated).toBe(true);
    expect(parsed.headers.to?.length).toBeLessThanOrEqual(257);
  });
});

/** One request over a real socket; resolves with the status (0 when the connection failed). */
function send(shape: ReturnType<(typeof HTTP_CASES)[number][1]>): Promise<number> {
  return new Promise((resolve) => {
    const path = shape.query ? `${shape.path}?${shape.query}` : shape.path;
    const req = httpRequest({ host: '127.0.0.1', port: s.app.port('public'), method: shape.method ?? 'GET', path, headers: shape.headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end(shape.body);
  });
}

describe('the listeners, end to end', () => {
  it('answer every hostile HTTP request like a plain server and keep recording', async () => {
    for (const [name, shape] of HTTP_CASES) {
      for (const token of tokens.values()) {
        if (!KINDS.find((k) => k.id === token.kind)?.http) continue;
        const status = await send(shape(token));
        expect([200, 302, 400, 401, 403, 404, 405, 413, 414, 431], `${name} on ${token.kind}`).toContain(status);
      }
    }
    const web = tokens.get('web-bug') as TokenRow;
    expect(await send({ path: base(web), headers: { 'user-agent': 'after-the-storm' } })).toBe(200);
    expect((await listHits(s.app.deps.db, { tokenId: web.id, limit: 500 })).some((h) => h.userAgent === 'after-the-storm')).toBe(true);
  });

  it('answer hostile DNS names and keep answering', async () => {
    const dns = tokens.get('dns') as TokenRow;
    for (const name of [`${'='.repeat(60)}.g42.${dns.id}.${s.config.DNS_ZONE}`, `${'a.'.repeat(100)}${dns.id}.${s.config.DNS_ZONE}`]) {
      expect((await ask(s.app.port('dns'), name, 'A'))?.rcode).toBe('NOERROR');
    }
  });
});
