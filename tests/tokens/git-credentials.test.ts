import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { HitRow, TokenRow } from '../../src/db/schema.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';

/**
 * The git-credentials kind against real git: the planted ~/.git-credentials (credential.helper
 * store) and the planted .git/config remote both lead git to the public listener, which
 * refuses the token exactly as GitLab does; git reports its ordinary authentication failure.
 */
let s: TestServer;
const tmp = tempDir('honeytrail-git-');
beforeAll(async () => {
  s = await startTestServer();
}, 30_000);
afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

const hitsOf = (id: string): Promise<HitRow[]> => listHits(s.app.deps.db, { tokenId: id, limit: 20, order: 'asc' });

async function plant(): Promise<{ token: TokenRow; home: string; remote: string; url: string }> {
  const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'git-credentials', plantedHost: 'BUILD-02' });
  const home = join(tmp.dir, token.id);
  mkdirSync(join(home, 'checkout', '.git'), { recursive: true });
  const creds = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  writeFileSync(join(home, creds.filename), creds.body, { mode: 0o600 });
  writeFileSync(join(home, '.gitconfig'), '[credential]\n\thelper = store\n');
  const config = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' }, 'git-config');
  writeFileSync(join(home, 'checkout', '.git', 'config'), config.body);
  const remote = /^\s*url = (\S+)$/m.exec(config.body.toString('utf8'))?.[1] ?? '';
  return { token, home, remote, url: url ?? '' };
}

function git(args: string[], home: string, cwd = home): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd, env: { PATH: process.env.PATH, HOME: home, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', LANG: 'C' }, encoding: 'utf8', timeout: 30_000 }, (err, _out, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr });
    });
  });
}

describe('git-credentials kind', () => {
  it('plants a ~/.git-credentials line and a .git/config remote with the same token for the repository on the public listener', async () => {
    const p = await plant();
    const token = String(p.token.params.token);
    expect(token).toMatch(/^glpat-[A-Za-z0-9_-]{20}$/);
    const line = (await renderArtifact(s.app.deps.db, { config: s.config }, p.token, { id: 'test' })).body.toString('utf8');
    expect(line).toBe(`http://${String(p.token.params.username)}:${token}@${new URL(s.config.PUBLIC_URL).host}\n`);
    expect(p.remote).toBe(`http://${String(p.token.params.username)}:${token}@${new URL(s.config.PUBLIC_URL).host}${String(p.token.params.urlPath)}`);
    expect(p.url).toMatch(new RegExp(`${String(p.token.urlPath)}/[a-z0-9-]+\\.git$`));
    expect(p.url).not.toContain(p.token.id);
  });

  it('git clone of the planted remote fails as against GitLab, and the token use is a hit with git\'s version', async () => {
    const p = await plant();
    const res = await git(['clone', p.remote, 'copy'], p.home);
    expect(res.status).toBe(128);
    expect(res.stderr).toContain("remote: HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect or you're required to use a token instead of a password.");
    expect(res.stderr).toMatch(/fatal: Authentication failed for '[^']+'/);
    const hits = await hitsOf(p.token.id);
    const used = hits.find((h) => h.credential) ?? expect.fail(`no credential use among ${hits.length} hits`);
    const version = /git version (\S+)/.exec(await new Promise<string>((r) => execFile('git', ['--version'], (_e, out) => r(out))))?.[1];
    expect(used).toMatchObject({ channel: 'http', method: 'GET', path: `${String(p.token.params.urlPath)}/info/refs`, classification: 'alert' });
    expect(used.details).toMatchObject({ git: 'token-used', service: 'git-upload-pack', gitVersion: version, via: 'basic' });
    expect(used.userAgent).toMatch(/^git\//);
    expect(JSON.stringify(hits)).not.toContain(String(p.token.params.token));
  });

  it('git ls-remote with the stored ~/.git-credentials is a hit too (credential.helper store)', async () => {
    const p = await plant();
    const res = await git(['ls-remote', p.url], p.home);
    expect(res.status).toBe(128);
    expect(res.stderr).toMatch(/Authentication failed/);
    const hits = await hitsOf(p.token.id);
    expect(hits.map((h) => (h.details as { git: string }).git)).toEqual(['no-credentials', 'token-used']);
  });

  it('answers like GitLab: 401, Basic realm="GitLab", its text with the help link; a browser is sent to sign in', async () => {
    const p = await plant();
    const res = await fetch(`${p.url}/info/refs?service=git-upload-pack`, { headers: { authorization: `Basic ${Buffer.from('x:glpat-AAAAAAAAAAAAAAAAAAAA').toString('base64')}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="GitLab"');
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe(
      `HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect or you're required to use a token instead of a password. If a token was provided, it was either incorrect, expired, or improperly scoped. See ${new URL(s.publicUrl).origin}/help/topics/git/troubleshooting_git.md#error-on-git-fetch-http-basic-access-denied`,
    );
    const page = await fetch(p.url, { redirect: 'manual' });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe(`${new URL(s.publicUrl).origin}/users/sign_in`);
    // Another token is a probe, masked.
    const hits = await hitsOf(p.token.id);
    expect(hits[0]).toMatchObject({ classification: 'probe', details: expect.objectContaining({ git: 'other-token', token: expect.objectContaining({ length: 26 }) }) });
  });

  it('the token on the GitLab API is recognised by the token alone', async () => {
    const p = await plant();
    const res = await fetch(`${s.publicUrl}/api/v4/user`, { headers: { 'private-token': String(p.token.params.token) } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ message: '401 Unauthorized' });
    expect((await hitsOf(p.token.id)).map((h) => [h.credential !== null, (h.details as { via: string }).via])).toEqual([[true, 'private-token']]);
  });
});
