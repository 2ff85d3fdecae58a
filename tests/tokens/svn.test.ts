import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { HitRow, TokenRow } from '../../src/db/schema.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { svnRealmString } from '../../src/tokens/svn.ts';
import { makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';

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

const hitsOf = (id: string): Promise<HitRow[]> => listHits(s.app.deps.db, { tokenId: id, limit: 50, order: 'asc' });

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { PATH: process.env.PATH, LANG: 'C', ...env }, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** A home folder holding the planted zip, unpacked; returns svn's config folder in it. */
async function plant(token: TokenRow): Promise<string> {
  const home = join(tmp.dir, token.id);
  const zip = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  for (const [path, data] of Object.entries(unzipSync(zip.body))) {
    mkdirSync(join(home, path, '..'), { recursive: true });
    writeFileSync(join(home, path), data);
  }
  return join(home, '.subversion');
}

const svnVersion = async (): Promise<string> => /version (\S+)/.exec((await run('svn', ['--version', '--quiet'])).stdout)?.[0]?.slice(8) ?? (await run('svn', ['--version', '--quiet'])).stdout.trim();

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
    const info = await run('svn', ['info', url ?? '', '--non-interactive', '--config-dir', config]);
    expect(info.status).toBe(1);
    expect(info.stderr).toContain('Authentication failed');
    const hits = await hitsOf(token.id);
    const used = hits.filter((h) => h.credential !== null);
    expect(used.length).toBeGreaterThan(0);
    for (const h of used) expect(h).toMatchObject({ credential: String(token.params.username), classification: 'alert' });
    const ops = used.map((h) => (h.details as { operation: string }).operation);
    expect(ops).toContain('checkout');
    expect(ops).toContain('info');
    expect(JSON.stringify(hits)).not.toContain(String(token.params.password));
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
