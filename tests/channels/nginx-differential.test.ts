import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { deleteToken, updateToken } from '../../src/db/queries/tokens.ts';
import { newTokenPath } from '../../src/tokens/urls.ts';
import { freePort, makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { comparable, exchange } from './raw-http.ts';

/**
 * The public listener against a real nginx (Debian's package, Debian's default site with
 * `server_tokens off`), started here as a child process on its own prefix and port. Both serve
 * the same site: the welcome page, and the live tokens' files at their paths. Every request of
 * the corpus goes to both over a raw socket; status lines, header names, case and order, and
 * bodies must be equal (Date, Last-Modified and ETag values blanked). What remains different
 * is listed in docs/stealth.md.
 */

const SITE = resolve(dirname(new URL(import.meta.url).pathname), '../../templates/site');
let s: TestServer;
let nginx: ChildProcess;
let nginxPort: number;
const tmp = tempDir('honeytrail-nginx-');
/** Paths of live tokens (served as files by nginx) and of retired, disabled and unknown ones. */
const paths = { gif: '', image: '', upload: '', disabled: '', deleted: '', unknown: '' };
/** The custom-image token's file: a PNG made by netpbm, uploaded as a defender would. */
const UPLOAD = execFileSync('pnmtopng', [], { input: execFileSync('ppmmake', ['rgb:1d/3c/78', '40', '12']), stdio: ['pipe', 'pipe', 'ignore'] });
let liveIds: string[] = [];
let retiredIds: string[] = [];

function nginxConf(root: string, port: number): string {
  const p = tmp.dir;
  return `daemon off;
master_process off;
worker_processes 1;
pid ${p}/nginx.pid;
error_log ${p}/error.log;
events { worker_connections 64; }
http {
  sendfile on;
  tcp_nopush on;
  types_hash_max_size 2048;
  server_tokens off;
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  client_body_temp_path ${p}/body; proxy_temp_path ${p}/proxy; fastcgi_temp_path ${p}/fastcgi; uwsgi_temp_path ${p}/uwsgi; scgi_temp_path ${p}/scgi;
  gzip on;
  server {
    listen 127.0.0.1:${port} default_server;
    root ${root};
    index index.html index.htm index.nginx-debian.html;
    server_name _;
    location / {
      try_files $uri $uri/ =404;
    }
  }
}
`;
}

async function listening(port: number): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const up = await new Promise<boolean>((r) => {
      const sock = connect(port, '127.0.0.1', () => {
        sock.destroy();
        r(true);
      });
      sock.on('error', () => r(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nginx did not listen on ${port}: ${readFileSync(join(tmp.dir, 'error.log'), 'utf8')}`);
}

beforeAll(async () => {
  s = await startTestServer();
  const gif = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', params: { response: 'gif' } });
  const image = await makeToken(s.app.deps.db, s.config, { kind: 'word' });
  const disabled = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
  const deleted = await makeToken(s.app.deps.db, s.config, { kind: 'word' });
  const upload = await makeToken(s.app.deps.db, s.config, { kind: 'custom-image', params: { image: UPLOAD.toString('base64') } });
  await updateToken(s.app.deps.db, disabled.token.id, { enabled: false });
  await deleteToken(s.app.deps.db, deleted.token.id);
  const pathOf = (u?: string) => {
    const url = new URL(u ?? '/');
    return `${url.pathname}${url.search}`;
  };
  Object.assign(paths, { gif: pathOf(gif.url), image: pathOf(image.url), upload: pathOf(upload.url), disabled: pathOf(disabled.url), deleted: pathOf(deleted.url), unknown: newTokenPath(s.config, 'image').split('?')[0] });
  liveIds = [gif.token.id, image.token.id, upload.token.id];
  retiredIds = [disabled.token.id, deleted.token.id];

  const root = join(tmp.dir, 'html');
  mkdirSync(root, { recursive: true });
  copyFileSync(join(SITE, 'index.html'), join(root, 'index.html'));
  // The live tokens' files, with the bytes our listener answers them with.
  for (const path of [paths.gif, paths.image]) {
    const res = await fetch(`${s.publicUrl}${path}`);
    expect(res.status).toBe(200);
    const file = join(root, path.split('?')[0] ?? '');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  }
  // The uploaded image as a file of its own, dated as the token (the listener's Last-Modified and
  // ETag come from the token's creation time), so even the validators' values can be compared.
  const uploaded = join(root, paths.upload.split('?')[0] ?? '');
  mkdirSync(dirname(uploaded), { recursive: true });
  writeFileSync(uploaded, UPLOAD);
  utimesSync(uploaded, upload.token.createdAt, upload.token.createdAt);
  nginxPort = (await freePort()).port;
  writeFileSync(join(tmp.dir, 'nginx.conf'), nginxConf(root, nginxPort));
  nginx = spawn('/usr/sbin/nginx', ['-p', tmp.dir, '-c', join(tmp.dir, 'nginx.conf')], { stdio: 'ignore' });
  await listening(nginxPort);
}, 30_000);

afterAll(async () => {
  nginx?.kill('SIGTERM');
  await s?.stop();
  tmp.cleanup();
});

interface Case {
  name: string;
  /** The bytes to send (in pieces), given what the server said to a plain GET of the page and the file. */
  send: (v: Validators) => string[];
  methods?: string[];
  /** A difference docs/stealth.md lists: the test checks it is still there, so the list stays true. */
  known?: string;
}

interface Validators {
  indexEtag: string;
  indexModified: string;
  fileEtag: string;
  uploadEtag: string;
  uploadModified: string;
}

const H = 'Host: www.corp.example\r\n';
const get = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\n${H}${extra}\r\n`;

const corpus: Case[] = [
  { name: 'GET /', send: () => [get('/')] },
  { name: 'GET /index.html', send: () => [get('/index.html')] },
  { name: 'HEAD /', send: () => [`HEAD / HTTP/1.1\r\n${H}\r\n`], methods: ['HEAD'] },
  { name: 'GET / with Connection: close', send: () => [get('/', 'Connection: close\r\n')] },
  { name: 'GET / from a browser (gzip)', send: () => [get('/', 'User-Agent: Mozilla/5.0\r\nAccept: text/html,*/*;q=0.8\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US\r\n')] },
  { name: 'GET a missing file from a browser (gzip)', send: () => [get('/wp-login.php', 'Accept-Encoding: gzip\r\n')] },
  { name: 'GET a missing file', send: () => [get('/wp-login.php')] },
  { name: 'GET a missing directory', send: () => [get('/admin/')] },
  { name: 'GET //index.html (merged slashes)', send: () => [get('//index.html')] },
  { name: 'GET /./a/../index.html', send: () => [get('/./a/../index.html')] },
  { name: 'GET /index.html?x=1', send: () => [get('/index.html?x=1')] },
  { name: 'GET /%69ndex.html (escaped)', send: () => [get('/%69ndex.html')] },
  { name: 'GET /%zz (bad escape)', send: () => [get('/%zz')] },
  { name: 'GET /a%2 (truncated escape)', send: () => [get('/a%2')] },
  { name: 'GET /%00 (NUL)', send: () => [get('/%00')] },
  { name: 'GET /../etc/passwd', send: () => [get('/../etc/passwd')] },
  { name: 'GET absolute-form', send: () => [`GET http://www.corp.example/ HTTP/1.1\r\n${H}\r\n`] },
  { name: 'POST /', send: () => [`POST / HTTP/1.1\r\n${H}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2`] },
  { name: 'POST a missing file', send: () => [`POST /login.php HTTP/1.1\r\n${H}Content-Length: 7\r\n\r\na=1&b=2`] },
  { name: 'PUT /', send: () => [`PUT / HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\nx`] },
  { name: 'DELETE a missing file', send: () => [`DELETE /x HTTP/1.1\r\n${H}\r\n`] },
  { name: 'OPTIONS /', send: () => [`OPTIONS / HTTP/1.1\r\n${H}\r\n`] },
  { name: 'OPTIONS *', send: () => [`OPTIONS * HTTP/1.1\r\n${H}\r\n`] },
  { name: 'TRACE /', send: () => [`TRACE / HTTP/1.1\r\n${H}\r\n`] },
  { name: 'PROPFIND / (WebDAV)', send: () => [`PROPFIND / HTTP/1.1\r\n${H}\r\n`] },
  { name: 'unknown method on /', send: () => [`FOO / HTTP/1.1\r\n${H}\r\n`] },
  { name: 'unknown method on a missing file', send: () => [`BREW /pot HTTP/1.1\r\n${H}\r\n`] },
  { name: 'lower-case method', send: () => [`get / HTTP/1.1\r\n${H}\r\n`] },
  { name: 'HTTP/1.0 without Host', send: () => ['GET / HTTP/1.0\r\n\r\n'] },
  { name: 'HTTP/1.0 keep-alive', send: () => ['GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'] },
  { name: 'HTTP/1.0 missing file', send: () => ['GET /nope HTTP/1.0\r\n\r\n'] },
  { name: 'HTTP/0.9 GET /', send: () => ['GET /\r\n'], known: 'node cannot parse HTTP/0.9; the request waits for the header timeout' },
  { name: 'HTTP/0.9 GET missing', send: () => ['GET /nope\r\n'], known: 'node cannot parse HTTP/0.9' },
  { name: 'HTTP/1.1 without Host', send: () => ['GET / HTTP/1.1\r\n\r\n'] },
  { name: 'two Host headers', send: () => [`GET / HTTP/1.1\r\n${H}${H}\r\n`] },
  { name: 'Host with a slash', send: () => ['GET / HTTP/1.1\r\nHost: a/b\r\n\r\n'] },
  { name: 'header without a colon', send: () => [`GET / HTTP/1.1\r\n${H}Broken header\r\n\r\n`] },
  { name: 'one 10k header', send: () => [get('/', `X-Big: ${'b'.repeat(10_000)}\r\n`)] },
  { name: 'twenty 1k headers', send: () => [get('/', Array.from({ length: 20 }, (_, i) => `X-H${i}: ${'h'.repeat(1000)}\r\n`).join(''))] },
  { name: '5k URI', send: () => [get(`/${'a'.repeat(5000)}`)] },
  { name: '10k URI', send: () => [get(`/${'a'.repeat(10_000)}`)] },
  { name: '40k URI', send: () => [get(`/${'a'.repeat(40_000)}`)] },
  { name: 'body over client_max_body_size', send: () => [`POST /upload HTTP/1.1\r\n${H}Content-Length: 2000000\r\n\r\n`] },
  { name: '100k body to a missing file', send: () => [`POST /upload HTTP/1.1\r\n${H}Content-Length: 100000\r\n\r\n${'x'.repeat(100_000)}`] },
  { name: 'Expect: 100-continue to a missing file', send: () => [`POST /upload HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 3\r\n\r\n`, 'abc'] },
  { name: 'Expect: 100-continue to /', send: () => [`POST / HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 3\r\n\r\n`, 'abc'] },
  { name: 'Range bytes=0-9', send: () => [get('/', 'Range: bytes=0-9\r\n')] },
  { name: 'Range bytes=-5', send: () => [get('/', 'Range: bytes=-5\r\n')] },
  { name: 'Range bytes=600-', send: () => [get('/', 'Range: bytes=600-\r\n')] },
  { name: 'Range past the end', send: () => [get('/', 'Range: bytes=9999-\r\n')] },
  { name: 'Range on a missing file', send: () => [get('/nope', 'Range: bytes=0-9\r\n')] },
  { name: 'If-None-Match matching', send: (v) => [get('/', `If-None-Match: ${v.indexEtag}\r\n`)] },
  { name: 'If-None-Match other', send: () => [get('/', 'If-None-Match: "abc-1"\r\n')] },
  { name: 'If-Modified-Since matching', send: (v) => [get('/', `If-Modified-Since: ${v.indexModified}\r\n`)] },
  { name: 'If-Modified-Since in the past', send: () => [get('/', 'If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT\r\n')] },
  { name: 'keep-alive: two requests on one connection', send: () => [get('/'), get('/nope')], methods: ['GET', 'GET'] },
  { name: 'pipelined requests', send: () => [get('/nope') + get('/') + `HEAD / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`], methods: ['GET', 'GET', 'HEAD'] },
  { name: 'live token file', send: () => [get(paths.gif)] },
  { name: 'live token file, HEAD', send: () => [`HEAD ${paths.gif} HTTP/1.1\r\n${H}\r\n`], methods: ['HEAD'] },
  { name: 'live token file, conditional', send: (v) => [get(paths.gif, `If-None-Match: ${v.fileEtag}\r\n`)] },
  { name: 'live token file, range', send: () => [get(paths.gif, 'Range: bytes=0-5\r\n')] },
  { name: 'live token file, POST', send: () => [`POST ${paths.gif} HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`] },
  { name: 'uploaded image', send: () => [get(paths.upload, 'User-Agent: Mozilla/5.0\r\nAccept: image/avif,image/webp,*/*\r\nAccept-Encoding: gzip, deflate\r\n')] },
  { name: 'uploaded image, HEAD', send: () => [`HEAD ${paths.upload} HTTP/1.1\r\n${H}\r\n`], methods: ['HEAD'] },
  { name: 'uploaded image, If-None-Match matching', send: (v) => [get(paths.upload, `If-None-Match: ${v.uploadEtag}\r\n`)] },
  { name: 'uploaded image, weak If-None-Match matching', send: (v) => [get(paths.upload, `If-None-Match: W/${v.uploadEtag}\r\n`)] },
  { name: 'uploaded image, If-None-Match other', send: () => [get(paths.upload, 'If-None-Match: "5f00-1"\r\n')] },
  { name: 'uploaded image, If-Modified-Since matching', send: (v) => [get(paths.upload, `If-Modified-Since: ${v.uploadModified}\r\n`)] },
  { name: 'uploaded image, If-Modified-Since in the past', send: () => [get(paths.upload, 'If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT\r\n')] },
  { name: 'uploaded image, range', send: () => [get(paths.upload, 'Range: bytes=8-23\r\n')] },
  { name: 'uploaded image, open range', send: () => [get(paths.upload, 'Range: bytes=40-\r\n')] },
  { name: 'uploaded image, suffix range', send: () => [get(paths.upload, 'Range: bytes=-10\r\n')] },
  { name: 'uploaded image, range past the end', send: () => [get(paths.upload, 'Range: bytes=99999-\r\n')] },
  { name: 'uploaded image, range with a matching If-None-Match', send: (v) => [get(paths.upload, `Range: bytes=0-3\r\nIf-None-Match: ${v.uploadEtag}\r\n`)] },
  { name: 'uploaded image, POST', send: () => [`POST ${paths.upload} HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`] },
  { name: 'uploaded image, PUT', send: () => [`PUT ${paths.upload} HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\nx`] },
  { name: 'uploaded image, HTTP/1.0', send: () => [`GET ${paths.upload} HTTP/1.0\r\n\r\n`] },
  { name: 'live document image', send: () => [get(paths.image, 'User-Agent: Microsoft Office/16.0\r\nAccept: */*\r\n')] },
  { name: 'disabled token', send: () => [get(paths.disabled)] },
  { name: 'deleted token', send: () => [get(paths.deleted)] },
  { name: 'unknown token-shaped path', send: () => [get(paths.unknown)] },
  { name: 'old id-shaped path of no token', send: () => [get(`/static/${'z'.repeat(24)}/logo.png`)] },
  { name: 'kube cluster path of no token', send: () => [get(`/k8s/clusters/c-${'q'.repeat(24)}/version`)] },
];

async function validators(port: number): Promise<Validators> {
  const head = (raw: string, name: string) => new RegExp(`^${name}: (.*)$`, 'im').exec(raw)?.[1] ?? '';
  const index = await exchange(port, [get('/', 'Connection: close\r\n')]);
  const file = await exchange(port, [get(paths.gif, 'Connection: close\r\n')]);
  const upload = await exchange(port, [get(paths.upload, 'Connection: close\r\n')]);
  return { indexEtag: head(index, 'ETag'), indexModified: head(index, 'Last-Modified'), fileEtag: head(file, 'ETag'), uploadEtag: head(upload, 'ETag'), uploadModified: head(upload, 'Last-Modified') };
}

describe('the public listener against a real nginx', () => {
  it('answers every request of the corpus as nginx does: status line, header names, case and order, body', async () => {
    const ours = await validators(s.app.port('public'));
    const theirs = await validators(nginxPort);
    expect(theirs.indexEtag).toMatch(/^"[0-9a-f]+-267"$/);
    // The uploaded image is dated as its token: its validators are nginx's to the byte.
    expect(ours.uploadEtag).toBe(theirs.uploadEtag);
    expect(ours.uploadModified).toBe(theirs.uploadModified);
    expect(theirs.uploadEtag).toBe(`"${Math.floor(new Date(theirs.uploadModified).getTime() / 1000).toString(16)}-${UPLOAD.length.toString(16)}"`);
    const differences: string[] = [];
    for (const c of corpus) {
      const methods = c.methods ?? [c.send(ours)[0]?.split(' ')[0] ?? 'GET'];
      const [a, b] = await Promise.all([exchange(s.app.port('public'), c.send(ours)), exchange(nginxPort, c.send(theirs))]);
      const mine = comparable(a, methods);
      const real = comparable(b, methods);
      expect(real.length, `nginx answered "${c.name}"`).toBeGreaterThan(0);
      if (c.known) {
        expect(JSON.stringify(mine), `"${c.name}" now matches nginx: remove it from docs/stealth.md`).not.toBe(JSON.stringify(real));
        continue;
      }
      if (JSON.stringify(mine) !== JSON.stringify(real)) differences.push(`${c.name}\n--- ours\n${mine.join('\n')}\n--- nginx\n${real.join('\n')}`);
    }
    expect(differences, differences.join('\n\n').slice(0, 6000)).toEqual([]);
  }, 60_000);

  it('the live tokens fired on every request for them; the disabled and deleted ones did not', async () => {
    const count = async (id: string) => (await listHits(s.app.deps.db, { tokenId: id, limit: 50 })).reduce((n, h) => n + h.repeatCount, 0);
    const [gif, image, upload] = liveIds;
    // The gif: one fetch to plant it in nginx's root, one for its validators, five in the corpus.
    expect(await count(gif ?? '')).toBe(7);
    expect(await count(image ?? '')).toBe(2);
    // The uploaded image: one for its validators, fifteen in the corpus (POST and PUT included).
    expect(await count(upload ?? '')).toBe(16);
    for (const id of retiredIds) expect(await count(id)).toBe(0);
  });
});
