import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { HitRow, TokenRow } from '../../src/db/schema.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { svnRealmString, svnToken } from '../../src/tokens/svn.ts';
import { exchange } from '../channels/raw-http.ts';
import { freePort, makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';

/**
 * The svn kind against the real Subversion client (Debian's `subversion`): the planted password
 * cache is read by svn itself, every command ends in svn's ordinary authentication failure, and
 * the hits name the command and the client's version.
 */
let s: TestServer;
const tmp = tempDir('honeytrail-svn-');
beforeAll(async () => {
  s = await startTestServer();
}, 30_000);
afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

const explainHit = (hit: HitRow, token: TokenRow) => svnToken.explain?.(hit, token as never) ?? expect.fail('no explain');
const hitsOf = (id: string): Promise<HitRow[]> => listHits(s.app.deps.db, { tokenId: id, limit: 50, order: 'asc' });

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { PATH: process.env.PATH, LANG: 'C', ...env }, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** A home folder holding the planted zip, unpacked by unzip; returns svn's config folder in it. */
async function plant(token: TokenRow): Promise<string> {
  const home = join(tmp.dir, token.id);
  mkdirSync(home, { recursive: true });
  const zip = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  writeFileSync(join(home, zip.filename), zip.body);
  expect((await run('unzip', ['-q', join(home, zip.filename), '-d', home])).status).toBe(0);
  return join(home, '.subversion');
}

/** `svn --version --quiet` prints the bare version, as the client's user agent carries it. */
const svnVersion = async (): Promise<string> => (await run('svn', ['--version', '--quiet'])).stdout.trim();

describe('svn kind', () => {
  it('plants a README with the checkout URL and a password cache file svn reads as its own', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'svn' });
    const p = token.params as { username: string; password: string; realm: string; project: string };
    expect(url).toBe(`${s.config.PUBLIC_URL}${String(token.urlPath)}/trunk`);
    expect(url).not.toContain(token.id);
    const files = unzipSync((await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' })).body);
    const realm = svnRealmString(url ?? '', p.realm);
    const cacheName = Object.keys(files).find((f) => f.startsWith('.subversion/auth/svn.simple/')) ?? expect.fail('no cache file');
    expect(cacheName).toBe(`.subversion/auth/svn.simple/${(await run('sh', ['-c', `printf '%s' '${realm}' | md5sum`])).stdout.slice(0, 32)}`);
    expect(Buffer.from(files[cacheName] ?? []).toString()).toBe(
      `K 8\npasstype\nV 6\nsimple\nK 8\npassword\nV ${p.password.length}\n${p.password}\nK 15\nsvn:realmstring\nV ${realm.length}\n${realm}\nK 8\nusername\nV ${p.username.length}\n${p.username}\nEND\n`,
    );
    expect(Buffer.from(files[`${p.project}/README.md`] ?? []).toString()).toContain(`svn checkout ${url} ${p.project}`);
    // svn itself lists the planted cache entry as a saved credential for the realm.
    const config = await plant(token);
    const listed = await run('svn', ['auth', '--config-dir', config, '--show-passwords']);
    expect(listed.stdout).toContain(`Authentication realm: ${realm}`);
    expect(listed.stdout).toContain(`Username: ${p.username}`);
    expect(listed.stdout).toContain(`Password: ${p.password}`);
  });

  it('svn checkout and svn info without credentials fail with an authentication error, recorded with the client version', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'svn' });
    const empty = join(tmp.dir, `${token.id}-empty`);
    for (const cmd of [['checkout', url ?? '', join(empty, 'wc')], ['info', url ?? '']]) {
      const res = await run('svn', [...cmd, '--non-interactive', '--config-dir', empty]);
      expect(res.status).toBe(1);
      expect(res.stderr).toContain('svn: E215004: No more credentials or we tried too many times.');
      expect(res.stderr).toContain('Authentication failed');
    }
    const hits = await hitsOf(token.id);
    expect(hits.length).toBeGreaterThanOrEqual(1);
    const version = await svnVersion();
    for (const h of hits) {
      expect(h).toMatchObject({ channel: 'http', method: 'OPTIONS', credential: null, classification: 'alert' });
      expect(h.details).toMatchObject({ operation: 'connect', auth: 'none', svnVersion: version });
    }
  });

  it('with the planted password cache, checkout and info are credential uses naming the command; svn still reports an authentication failure', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'svn' });
    const config = await plant(token);
    const co = await run('svn', ['checkout', url ?? '', join(tmp.dir, `${token.id}-wc`), '--non-interactive', '--config-dir', config]);
    expect(co.status).toBe(1);
    expect(co.stderr).toContain('Authentication failed');
    for (const cmd of ['info', 'ls', 'log']) {
      const res = await run('svn', [cmd, url ?? '', '--non-interactive', '--config-dir', config]);
      expect(res.status, cmd).toBe(1);
      expect(res.stderr, cmd).toContain('Authentication failed');
    }
    const hits = await hitsOf(token.id);
    const used = hits.filter((h) => h.credential !== null);
    expect(used.length).toBeGreaterThan(0);
    for (const h of used) expect(h).toMatchObject({ credential: String(token.params.username), classification: 'alert' });
    const ops = used.map((h) => (h.details as { operation: string }).operation);
    expect(ops).toEqual(expect.arrayContaining(['connect', 'checkout', 'info', 'list', 'log']));
    const checkout = used.find((h) => (h.details as { operation: string }).operation === 'checkout');
    expect(explainHit(checkout ?? expect.fail('no checkout'), token).action).toMatch(new RegExp(`^svn ${(await svnVersion()).replace(/\./g, '\\.')} checked out \\(or exported\\) the \\S+ Subversion repository as ${String(token.params.username)} with the planted password; refused$`));
    expect(JSON.stringify(hits)).not.toContain(String(token.params.password));
  });

  it('the project folder is an svn working copy of trunk: svn info and status work offline, svn update calls the decoy with the cached password', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'svn' });
    const p = token.params as { project: string; uuid: string; youngest: number };
    const config = await plant(token);
    const wc = join(tmp.dir, token.id, p.project);
    const info = await run('svn', ['info', '--non-interactive', '--config-dir', config, wc]);
    expect(info.stderr).toBe('');
    expect(info.stdout).toContain(`URL: ${url}\n`);
    expect(info.stdout).toContain(`Repository Root: ${s.config.PUBLIC_URL}${String(token.urlPath)}\n`);
    expect(info.stdout).toContain(`Repository UUID: ${p.uuid}\n`);
    expect(info.stdout).toContain(`Revision: ${p.youngest}\n`);
    expect(info.stdout).toContain('Node Kind: directory\nSchedule: normal\n');
    // Written as Debian 12's svn writes it: its SQLite's version in the header, svn's fixed index statistics.
    const db = readFileSync(join(wc, '.svn', 'wc.db'));
    expect(db.readUInt32BE(96)).toBe(3_040_001);
    const sqlite = new Database(join(wc, '.svn', 'wc.db'), { readonly: true });
    expect(sqlite.prepare('SELECT count(*) AS n FROM sqlite_stat1').get()).toEqual({ n: 9 });
    expect(sqlite.pragma('user_version', { simple: true })).toBe(31);
    sqlite.close();
    const status = await run('svn', ['status', '--non-interactive', '--config-dir', config, wc]);
    expect(status).toMatchObject({ status: 0, stdout: '', stderr: '' });
    expect((await hitsOf(token.id)).length).toBe(0);
    const update = await run('svn', ['update', '--non-interactive', '--config-dir', config, wc]);
    expect(update.status).toBe(1);
    expect(update.stderr).toContain('Authentication failed');
    const used = (await hitsOf(token.id)).filter((h) => h.credential !== null).map((h) => (h.details as { operation: string }).operation);
    expect(used).toContain('checkout');
  });

  it('another password for the planted user is a masked probe', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'svn' });
    const res = await run('svn', ['info', url ?? '', '--non-interactive', '--no-auth-cache', '--username', String(token.params.username), '--password', 'Winter2024!', '--config-dir', join(tmp.dir, `${token.id}-other`)]);
    expect(res.stderr).toContain('Authentication failed');
    const probes = (await hitsOf(token.id)).filter((h) => h.classification === 'probe');
    expect(probes.length).toBeGreaterThan(0);
    expect(probes[0]?.details).toMatchObject({ auth: 'other', username: String(token.params.username), password: { length: 11 } });
    expect(JSON.stringify(probes)).not.toContain('Winter2024!');
  });
});

// ---- side by side with the genuine article ----

/**
 * What the kind imitates, run for real: Debian's Apache with mod_dav_svn (`DAV svn`, `AuthType
 * Basic`, `Require valid-user`) serving a repository at the token's own path with the token's
 * realm, user, password and UUID, behind Debian's nginx as a plain reverse proxy
 * (`server_tokens off`, `proxy_pass`). Both are started as children on ephemeral ports.
 */
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGTERM');
});

async function listening(port: number, log: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const sock = connect(port, '127.0.0.1', () => (sock.destroy(), r(true)));
      sock.on('error', () => r(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port}: ${readFileSync(log, 'utf8')}`);
}

async function genuine(token: TokenRow): Promise<{ port: number; log: string }> {
  const p = token.params as { username: string; password: string; realm: string; uuid: string };
  const dir = join(tmp.dir, `${token.id}-apache`);
  mkdirSync(dir, { recursive: true });
  const repo = join(dir, 'repo');
  expect((await run('svnadmin', ['create', repo])).status).toBe(0);
  expect((await run('svnadmin', ['setuuid', repo, p.uuid])).status).toBe(0);
  // The standard layout, as the planted README describes it.
  const layout = ['trunk', 'branches', 'tags'].map((d) => `file://${repo}/${d}`);
  expect((await run('svn', ['mkdir', '-m', 'Initial layout', '--config-dir', join(dir, 'svn-config'), ...layout])).status).toBe(0);
  expect((await run('htpasswd', ['-bc', join(dir, 'htpasswd'), p.username, p.password])).status).toBe(0);
  const root = process.getuid?.() === 0;
  if (root) {
    const ids = (await run('id', ['-u', 'www-data'])).stdout.trim();
    const chownAll = async (path: string) => (await run('chown', ['-R', `${ids}:${ids}`, path])).status;
    expect(await chownAll(repo)).toBe(0);
    chownSync(dir, Number(ids), Number(ids));
    // Apache's children run as www-data: they must pass through the (0700) test folder.
    chmodSync(tmp.dir, 0o711);
  }
  const [apachePort, nginxPort] = [(await freePort()).port, (await freePort()).port];
  const mods = '/usr/lib/apache2/modules';
  writeFileSync(join(dir, 'apache.conf'), [
    `ServerRoot ${dir}`, `Listen 127.0.0.1:${apachePort}`, 'ServerName localhost', `PidFile ${dir}/apache.pid`, `ErrorLog ${dir}/apache-error.log`, `DefaultRuntimeDir ${dir}`, `Mutex file:${dir} default`,
    ...(root ? ['User www-data', 'Group www-data'] : []),
    ...['mpm_event', 'authz_core', 'authn_core', 'authn_file', 'authz_user', 'auth_basic', 'dav', 'dav_svn'].map((m) => `LoadModule ${m}_module ${mods}/mod_${m}.so`),
    `<Location ${String(token.urlPath)}>`, '  DAV svn', `  SVNPath ${repo}`, '  AuthType Basic', `  AuthName "${p.realm}"`, `  AuthUserFile ${dir}/htpasswd`, '  Require valid-user', '</Location>', '',
  ].join('\n'));
  writeFileSync(join(dir, 'nginx.conf'), `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 64; }
http {
  server_tokens off;
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  gzip on;
  server {
    listen 127.0.0.1:${nginxPort} default_server;
    server_name _;
    location / {
      proxy_pass http://127.0.0.1:${apachePort};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`);
  writeFileSync(join(dir, 'apache-error.log'), '');
  writeFileSync(join(dir, 'nginx-error.log'), '');
  if (root) chownSync(join(dir, 'apache-error.log'), 0, 0);
  children.push(spawn('apache2', ['-f', join(dir, 'apache.conf'), '-DFOREGROUND'], { stdio: 'ignore' }));
  children.push(spawn('nginx', ['-c', join(dir, 'nginx.conf')], { stdio: 'ignore' }));
  await listening(apachePort, join(dir, 'apache-error.log'));
  await listening(nginxPort, join(dir, 'nginx-error.log'));
  return { port: nginxPort, log: join(dir, 'apache-error.log') };
}

/**
 * A response as comparable text: status line, headers in order with repeated ones merged into
 * the first (nginx passes Apache's several DAV lines; the listener writes one list), the Date and
 * the youngest revision blanked, then the body.
 */
function comparableResponse(raw: string): string {
  const end = raw.indexOf('\r\n\r\n');
  const [status = '', ...lines] = raw.slice(0, end).split('\r\n');
  const merged = new Map<string, [string, string]>();
  for (const line of lines) {
    const at = line.indexOf(': ');
    const name = line.slice(0, at);
    const value = line.slice(at + 2);
    const known = merged.get(name.toLowerCase());
    if (known) known[1] = `${known[1]}, ${value}`;
    else merged.set(name.toLowerCase(), [name, value]);
  }
  const head = [...merged.values()].map(([n, v]) => `${n}: ${/^(date|svn-youngest-rev)$/i.test(n) ? '*' : v.replace(/,\s*/g, ', ')}`);
  return [status, ...head, '', raw.slice(end + 4)].join('\n');
}

function request(method: string, path: string, port: number, opts: { auth?: string; body?: string; depth?: string } = {}): string {
  const body = opts.body ?? '';
  return [
    `${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...(opts.auth ? [`Authorization: Basic ${Buffer.from(opts.auth).toString('base64')}`] : []),
    'User-Agent: SVN/1.14.2 (x86_64-pc-linux-gnu) serf/1.3.9', 'Content-Type: text/xml', 'Accept-Encoding: gzip', ...(opts.depth ? [`Depth: ${opts.depth}`] : []),
    'DAV: http://subversion.tigris.org/xmlns/dav/svn/depth', 'DAV: http://subversion.tigris.org/xmlns/dav/svn/mergeinfo', 'DAV: http://subversion.tigris.org/xmlns/dav/svn/log-revprops',
    `Content-Length: ${Buffer.byteLength(body)}`, '', body,
  ].join('\r\n');
}

describe('svn kind next to Apache mod_dav_svn behind nginx', () => {
  it('answers svn\'s requests as the real pair does: 401 with the realm, and mod_dav_svn\'s OPTIONS for the planted account', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'svn' });
    const p = token.params as { username: string; password: string };
    const { port: realPort, log } = await genuine(token);
    const ourPort = s.app.port('public');
    const base = String(token.urlPath);
    const full = '<?xml version="1.0" encoding="utf-8"?><D:options xmlns:D="DAV:"><D:activity-collection-set></D:activity-collection-set></D:options>';
    const cases: [string, (port: number) => string][] = [
      ['svn\'s first OPTIONS, no credentials', (port) => request('OPTIONS', `${base}/trunk`, port, { body: full })],
      ['OPTIONS with the planted account', (port) => request('OPTIONS', `${base}/trunk`, port, { body: full, auth: `${p.username}:${p.password}` })],
      ['the short OPTIONS with the planted account', (port) => request('OPTIONS', `${base}/trunk`, port, { body: '<?xml version="1.0" encoding="utf-8"?><D:options xmlns:D="DAV:" />', auth: `${p.username}:${p.password}` })],
      ['PROPFIND with a wrong password', (port) => request('PROPFIND', `${base}/!svn/rvr/1/trunk`, port, { depth: '0', body: '<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop><resourcetype xmlns="DAV:"/></prop></propfind>', auth: `${p.username}:wrong` })],
      ['a browser on the repository', (port) => `GET ${base}/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: Mozilla/5.0\r\nAccept: text/html\r\n\r\n`],
    ];
    for (const [what, make] of cases) {
      const real = comparableResponse(await exchange(realPort, [make(realPort)]));
      const ours = comparableResponse(await exchange(ourPort, [make(ourPort)]));
      expect(ours, `${what} (Apache's log: ${readFileSync(log, 'utf8').slice(-2000)})`).toBe(real);
    }
  }, 60_000);
});
