import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import type { Token } from '../../src/tokens/kind.ts';
import { findKind } from '../../src/tokens/registry.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, rawQuery, startTestServer, tempDir, type TestServer } from '../helpers.ts';

/**
 * The webdav-share kind against real WebDAV clients: the litmus compliance suite (results
 * recorded in docs/webdav.md), rclone listing and copying, and the ransomware canary.
 */
let s: TestServer;
const tmp = tempDir('honeytrail-dav-');
beforeAll(async () => {
  s = await startTestServer({ PUBLIC_RATE_LIMIT: '100000', TRUST_PROXY: '127.0.0.1', HIT_SOURCE_ROWS: '60', ALERT_TO: 'soc@example.test', ALERT_WORKER_ENABLED: 'false' });
});
afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

const hitsOf = (tokenId: string) => listHits(s.app.deps.db, { tokenId, limit: 1000, order: 'asc' });

interface Planted {
  token: TokenRow;
  url: string;
  user: string;
  password: string;
  auth: Record<string, string>;
}

async function planted(params: Record<string, unknown> = {}): Promise<Planted> {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'webdav-share', params: { theme: 'finance', ...params } });
  const text = (await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' }, 'txt')).body.toString('utf8');
  const url = /^Address: (\S+)$/m.exec(text)?.[1] ?? '';
  const user = /^User: (\S+)$/m.exec(text)?.[1] ?? '';
  const password = /^Password: (\S+)$/m.exec(text)?.[1] ?? '';
  return { token, url, user, password, auth: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } };
}

function run(cmd: string, args: string[], env: Record<string, string> = {}, timeout = 60_000): Promise<{ code: number; out: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: tmp.dir, env: { PATH: process.env.PATH, HOME: tmp.dir, ...env }, encoding: 'utf8', timeout, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}`, stdout });
    });
  });
}

const dav = (url: string, method: string, headers: Record<string, string>, body?: string) => fetch(url, { method, headers, body });

describe('webdav-share kind: the planted artifacts', () => {
  it('.bat, .ps1 and .url map the share the Windows way; the text names address and credentials', async () => {
    const p = await planted();
    const host = new URL(s.config.PUBLIC_URL);
    const bat = (await renderArtifact(s.app.deps.db, { config: s.config }, p.token, { id: 'test' }, 'bat')).body.toString('utf8');
    expect(bat).toContain(`net use S: "\\\\${host.hostname}@${host.port}\\DavWWWRoot${p.token.urlPath?.replace(/\//g, '\\')}" /user:${p.user} ${p.password} /persistent:yes\r\n`);
    const ps1 = (await renderArtifact(s.app.deps.db, { config: s.config }, p.token, { id: 'test' }, 'ps1')).body.toString('utf8');
    expect(ps1).toContain('New-PSDrive -Name S -PSProvider FileSystem -Root');
    const url = (await renderArtifact(s.app.deps.db, { config: s.config }, p.token, { id: 'test' }, 'url')).body.toString('utf8');
    expect(url).toContain(`URL=${p.url}`);
    expect(p.url).toBe(`${s.config.PUBLIC_URL}${p.token.urlPath}/`);
  });
});

describe('webdav-share kind: litmus', () => {
  it('passes litmus basic, copymove, props, locks and http', async () => {
    const p = await planted({ burstWrites: 10_000 });
    const r = await run('litmus', ['-k', p.url, p.user, p.password], { TESTS: 'basic copymove props locks http' }, 120_000);
    const summaries = [...r.out.matchAll(/<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed/g)].map((m) => ({ suite: m[1], run: Number(m[2]), passed: Number(m[3]), failed: Number(m[4]) }));
    expect(summaries.map((x) => x.suite)).toEqual(['basic', 'copymove', 'props', 'locks', 'http']);
    for (const x of summaries) expect(x.failed, `${x.suite}: ${r.out}`).toBe(0);
  }, 120_000);
});

/** rclone's webdav remote from the planted address and credentials, through the environment. */
async function rcloneEnv(p: Planted, source: string): Promise<Record<string, string>> {
  const obscured = (await run('rclone', ['obscure', p.password])).stdout.trim();
  // RCLONE_HEADER: each test speaks from its own address (TRUST_PROXY), so the flood gate's per-source bound is its own.
  return { RCLONE_CONFIG_HT_TYPE: 'webdav', RCLONE_CONFIG_HT_URL: p.url, RCLONE_CONFIG_HT_VENDOR: 'other', RCLONE_CONFIG_HT_USER: p.user, RCLONE_CONFIG_HT_PASS: obscured, RCLONE_HEADER: `X-Forwarded-For: ${source}` };
}

describe('webdav-share kind: rclone', () => {
  it('lists the tree and copies a folder; the copied documents are decoys whose beacon names the file', async () => {
    const p = await planted();
    const env = await rcloneEnv(p, '10.30.0.1');
    const ls = await run('rclone', ['lsjson', 'ht:', '--recursive', '--max-depth', '2'], env);
    expect(ls.code, ls.out).toBe(0);
    const entries = JSON.parse(ls.stdout) as { Path: string; Size: number; IsDir: boolean; ModTime: string }[];
    const dirs = entries.filter((e) => e.IsDir && !e.Path.includes('/'));
    expect(dirs.length).toBeGreaterThanOrEqual(4);
    // Deterministic: the same listing again, and every folder has something in it.
    const again = await run('rclone', ['lsjson', 'ht:', '--recursive', '--max-depth', '2'], env);
    const byPath = (l: { Path: string }[]) => [...l].sort((x, y) => x.Path.localeCompare(y.Path));
    expect(byPath(JSON.parse(again.stdout) as typeof entries)).toEqual(byPath(entries));
    for (const d of dirs) expect(entries.some((e) => e.Path.startsWith(`${d.Path}/`)), d.Path).toBe(true);
    // Copy the folder holding an office document, and check sizes against the listing.
    const office = entries.find((e) => !e.IsDir && /\.(docx|xlsx)$/.test(e.Path) && e.Path.includes('/'));
    expect(office, 'a generated office document within two levels').toBeDefined();
    const folder = office?.Path.slice(0, office.Path.lastIndexOf('/')) ?? '';
    const local = join(tmp.dir, 'copy');
    const cp = await run('rclone', ['copy', `ht:${folder}`, local, '--max-depth', '1'], env);
    expect(cp.code, cp.out).toBe(0);
    const copied = readdirSync(local);
    const listed = entries.filter((e) => !e.IsDir && e.Path.startsWith(`${folder}/`) && !e.Path.slice(folder.length + 1).includes('/'));
    expect(copied.sort()).toEqual(listed.map((e) => e.Path.slice(folder.length + 1)).sort());
    for (const e of listed) expect(statSync(join(local, e.Path.slice(folder.length + 1))).size).toBe(e.Size);
    const doc = readFileSync(join(local, office?.Path.slice(folder.length + 1) ?? ''));
    expect(doc.subarray(0, 2).toString()).toBe('PK');
    const unzip = await run('unzip', ['-p', join(local, office?.Path.slice(folder.length + 1) ?? '')]);
    const beacon = new RegExp(`${s.config.PUBLIC_URL}${p.token.urlPath}/_thumbs/[A-Za-z0-9_-]+\\.png`).exec(unzip.stdout)?.[0];
    expect(beacon, 'the document links its image on the share').toBeDefined();
    // Opening the document elsewhere (no credentials) fetches the beacon: a hit naming the file.
    const open = await fetch(beacon ?? '', { headers: { 'user-agent': 'LibreOffice', 'x-forwarded-for': '10.9.8.7' } });
    expect(open.status).toBe(200);
    const hits = await hitsOf(p.token.id);
    expect(hits.at(-1)?.details).toMatchObject({ op: 'open', file: `\\\\finance\\Finance\\${office?.Path.replace(/\//g, '\\')}` });
    expect(hits.some((h) => h.method === 'PROPFIND' && h.credential === p.user)).toBe(true);
    expect(hits.some((h) => h.details?.op === 'GET' && String(h.details?.path).endsWith(office?.Path.split('/').pop() ?? '?'))).toBe(true);
  }, 60_000);

  it('uploads go to the source’s quarantine: read back by it, never served to another source', async () => {
    const p = await planted();
    const env = await rcloneEnv(p, '10.30.0.2');
    const file = join(tmp.dir, 'note.txt');
    writeFileSync(file, 'planted by the intruder\n');
    const up = await run('rclone', ['copyto', file, 'ht:Budget/readme-now.txt'], env);
    // The theme's generated folder names vary; rclone makes missing parents with MKCOL.
    expect(up.code, up.out).toBe(0);
    const mine = await fetch(`${p.url}Budget/readme-now.txt`, { headers: { ...p.auth, 'x-forwarded-for': '10.30.0.2' } });
    expect(await mine.text()).toBe('planted by the intruder\n');
    const theirs = await fetch(`${p.url}Budget/readme-now.txt`, { headers: { ...p.auth, 'x-forwarded-for': '10.1.2.3' } });
    expect(theirs.status).toBe(404);
    const put = (await hitsOf(p.token.id)).find((h) => h.method === 'PUT');
    expect(put?.details).toMatchObject({ op: 'PUT', bytes: 24, path: '\\\\finance\\Finance\\Budget\\readme-now.txt' });
  }, 60_000);
});

describe('webdav-share kind: hits and the ransomware canary', () => {
  it('without credentials the share asks for them (401, a hit); another account is a probe', async () => {
    const p = await planted();
    // Each test speaks from its own address (TRUST_PROXY): the flood gate bounds rows per source.
    const from = { 'x-forwarded-for': '10.20.0.1' };
    const anon = await dav(p.url, 'PROPFIND', { ...from, depth: '1' });
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toBe('Basic realm="Finance"');
    const wrong = await dav(p.url, 'PROPFIND', { ...from, depth: '1', authorization: `Basic ${Buffer.from(`${p.user}:guess`).toString('base64')}` });
    expect(wrong.status).toBe(401);
    const hits = await hitsOf(p.token.id);
    expect(hits.map((h) => [h.details?.auth, h.classification, h.credential])).toEqual([
      ['none', 'alert', null],
      ['other', 'probe', null],
    ]);
    expect(JSON.stringify(hits)).not.toContain('guess');
  });

  it('a burst of overwrites and renames is one critical hit that pages at once', async () => {
    const p = await planted({ burstWrites: 20 });
    p.auth['x-forwarded-for'] = '10.20.0.2';
    const first = await dav(p.url, 'PROPFIND', { ...p.auth, depth: '1' });
    expect(first.status).toBe(207);
    for (let i = 0; i < 12; i++) expect((await dav(`${p.url}doc${i}.txt`, 'PUT', p.auth, 'encrypted')).status).toBe(201);
    for (let i = 0; i < 12; i++) expect((await dav(`${p.url}doc${i}.txt`, 'MOVE', { ...p.auth, destination: `${p.url}doc${i}.txt.locked` })).status).toBe(201);
    const hits = await hitsOf(p.token.id);
    const burst = hits.filter((h) => h.details?.burst);
    expect(burst).toHaveLength(1);
    expect(burst[0]?.details?.burst).toEqual({ writes: 20, seconds: 60 });
    expect(burst[0]?.credential).toBe(p.user);
    const [incident] = await rawQuery<{ severity: string }>(s.app.deps.db, 'select severity from incidents where id = ?', burst[0]?.incidentId);
    expect(incident?.severity).toBe('critical');
    const alerts = await rawQuery<{ payload: string | Record<string, unknown> }>(s.app.deps.db, 'select payload from alerts where incident_id = ? order by id', burst[0]?.incidentId);
    const payloads = alerts.map((a) => (typeof a.payload === 'string' ? JSON.parse(a.payload) : a.payload) as { urgent?: string[]; lastHitId: number });
    expect(payloads.some((x) => x.urgent?.includes('severity') && x.lastHitId >= (burst[0]?.id ?? Infinity))).toBe(true);
  });

  it('a mount walking many paths is bounded by the flood gate, and every request is still answered', async () => {
    const p = await planted();
    p.auth['x-forwarded-for'] = '10.20.0.3';
    const statuses: number[] = [];
    for (let i = 0; i < 150; i++) statuses.push((await dav(`${p.url}missing-${i}.txt`, 'PROPFIND', { ...p.auth, depth: '0' })).status);
    expect(statuses.every((x) => x === 404)).toBe(true);
    const rows = await hitsOf(p.token.id);
    expect(rows.length).toBeLessThanOrEqual(62);
    expect(rows.reduce((n, h) => n + h.repeatCount, 0)).toBe(150);
  });
});

describe('webdav-share kind: what the Windows client asks, and what hits say', () => {
  it('the folders above the share answer as collections to the share’s credentials (found by them, no id in the path)', async () => {
    const p = await planted();
    p.auth['x-forwarded-for'] = '10.20.0.4';
    const segs = (p.token.urlPath ?? '').split('/');
    const parent = `/${segs[1]}/`;
    expect((await dav(`${s.publicUrl}/`, 'OPTIONS', p.auth)).headers.get('dav')).toBe('1, 2');
    const res = await dav(`${s.publicUrl}${parent}`, 'PROPFIND', { ...p.auth, depth: '1' });
    expect(res.status).toBe(207);
    const xml = await res.text();
    expect(xml).toContain(`<D:href>${parent}</D:href>`);
    // Depth 1 lists the next folder on the way to the share (the share itself for /webdav/<id>).
    expect(xml).toContain(`<D:href>${parent}${segs[2]}/</D:href>`);
    expect((await dav(`${s.publicUrl}/elsewhere/`, 'PROPFIND', { ...p.auth, depth: '1' })).status).toBe(404);
    // Without the credentials the root is the plain site's.
    expect((await dav(`${s.publicUrl}${parent}`, 'PROPFIND', { depth: '1' })).status).toBe(404);
  });

  it('hits read as sentences: listing, reading, moving, a document opened elsewhere', async () => {
    const p = await planted();
    p.auth['x-forwarded-for'] = '10.20.0.5';
    p.auth['user-agent'] = 'Microsoft-WebDAV-MiniRedir/10.0.19045';
    await dav(p.url, 'PROPFIND', { ...p.auth, depth: '1' });
    await dav(`${p.url}notes.txt`, 'PUT', p.auth, 'x');
    await dav(`${p.url}notes.txt`, 'MOVE', { ...p.auth, destination: `${p.url}notes.txt.locked` });
    await dav(`${p.url}_thumbs/${Buffer.from('Budget/Forecast Q3 2026.xlsx').toString('base64url')}.png`, 'GET', { 'user-agent': 'LibreOffice', 'x-forwarded-for': '10.20.0.6' });
    const kind = findKind('webdav-share');
    const said = (await hitsOf(p.token.id)).map((h) => kind?.explain?.(h, p.token as Token));
    expect(said.map((m) => m?.action)).toEqual([
      `the Windows WebDAV client 10.0.19045 listed \\\\finance\\Finance as ${p.user}`,
      `the Windows WebDAV client 10.0.19045 wrote \\\\finance\\Finance\\notes.txt (1 bytes, quarantined) as ${p.user}`,
      `the Windows WebDAV client 10.0.19045 moved \\\\finance\\Finance\\notes.txt to \\\\finance\\Finance\\notes.txt.locked as ${p.user}`,
      'LibreOffice opened \\\\finance\\Finance\\Budget\\Forecast Q3 2026.xlsx from the decoy share',
    ]);
    expect(said[0]).toMatchObject({ evidence: 'credential-used', techniques: ['T1078', 'T1135', 'T1083'] });
  });
});

describe('webdav-share kind: hostile input', () => {
  it('Depth: infinity, malformed XML and DTDs get refusals; paths outside the tree 404', async () => {
    const p = await planted();
    const inf = await dav(p.url, 'PROPFIND', { ...p.auth, depth: 'infinity' });
    expect(inf.status).toBe(403);
    expect(await inf.text()).toContain('propfind-finite-depth');
    const bad = await dav(p.url, 'PROPFIND', { ...p.auth, depth: '0' }, '<D:propfind xmlns:D="DAV:"><D:prop>');
    expect(bad.status).toBe(400);
    const bomb = `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><D:propfind xmlns:D="DAV:"><D:prop><x xmlns="y">&b;</x></D:prop></D:propfind>`;
    expect((await dav(p.url, 'PROPFIND', { ...p.auth, depth: '0' }, bomb)).status).toBe(400);
    const deep = `${'<a>'.repeat(5_000)}${'</a>'.repeat(5_000)}`;
    expect((await dav(p.url, 'PROPPATCH', p.auth, deep)).status).toBe(400);
    expect((await dav(`${p.url}${'x/'.repeat(40)}f.txt`, 'GET', p.auth)).status).toBe(404);
    expect((await dav(`${p.url}nope/f.txt`, 'PUT', p.auth, 'x')).status).toBe(409);
    const big = await dav(`${p.url}big.bin`, 'PUT', p.auth, 'x'.repeat(1_100_000));
    expect(big.status).toBe(413);
    expect(big.headers.get('server')).toBe('nginx');
  });

  it('lock storms and write floods hit the session bounds (503/507), not the process', async () => {
    const p = await planted({ burstWrites: 10_000 });
    const locks: number[] = [];
    const body = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
    for (let i = 0; i < 260; i++) locks.push((await dav(`${p.url}lock-${i}.txt`, 'LOCK', { ...p.auth, depth: '0' }, body)).status);
    expect(locks.filter((x) => x === 201)).toHaveLength(256);
    expect(locks.slice(256).every((x) => x === 503)).toBe(true);
    const puts: number[] = [];
    for (let i = 0; i < 150; i++) puts.push((await dav(`${p.url}fill-${i}.bin`, 'PUT', p.auth, 'y'.repeat(60_000))).status);
    // 8 MiB of quarantine per source: 139 of these fit (with the 260 empty lock-null files).
    expect(puts.filter((x) => x === 201).length).toBe(139);
    expect(puts.at(-1)).toBe(507);
    // Still serving the generated tree.
    expect((await dav(p.url, 'PROPFIND', { ...p.auth, depth: '1' })).status).toBe(207);
  }, 60_000);
});
