import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { HitRow, TokenRow } from '../../src/db/schema.ts';
import { findKind } from '../../src/tokens/registry.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { freePort, makeToken, startTestServer, tempDir, TEST_API_KEY, type TestServer } from '../helpers.ts';

/**
 * The ssh-key kind against the genuine article: the artifact is read by OpenSSH's ssh-keygen,
 * and OpenSSH's ssh uses the planted ~/.ssh/config, key and known_hosts (host key checked
 * strictly) against the SSH listener, as an intruder would. Each use is a hit that names the
 * key; ssh itself reports an ordinary "Permission denied".
 */
let s: TestServer;
const tmp = tempDir('honeytrail-sshkey-');
beforeAll(async () => {
  const sshPort = (await freePort()).port;
  s = await startTestServer({ SSH_ENABLED: 'true', SSH_PORT: String(sshPort), SSH_PUBLIC_HOST: '127.0.0.1' });
}, 30_000);
afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

interface Planted {
  token: TokenRow;
  home: string;
  config: string;
  key: string | null;
}

/** Plant the artifact in a fresh home folder. OpenSSH expands ~ from the passwd entry, not $HOME, so ~/.ssh/ is spelled out. */
async function plant(params: Record<string, unknown>, plantedHost = 'WS-OPS-14'): Promise<Planted> {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'ssh-key', params, plantedHost, location: '/home/ops/.ssh' });
  const home = join(tmp.dir, token.id);
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  if (file.contentType === 'application/zip') {
    for (const [name, data] of Object.entries(unzipSync(new Uint8Array(file.body)))) writeFileSync(join(home, name), data, { mode: 0o600 });
  } else {
    for (const format of ['config', 'known-hosts'] as const) {
      const f = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' }, format);
      writeFileSync(join(home, '.ssh', f.filename), f.body, { mode: 0o600 });
    }
    writeFileSync(join(home, file.filename), file.body);
  }
  const config = join(home, '.ssh', 'config');
  writeFileSync(config, readFileSync(config, 'utf8').replaceAll('~/.ssh/', `${home}/.ssh/`));
  const keyName = /IdentityFile \S+\/([^/\s]+)$/m.exec(readFileSync(config, 'utf8'))?.[1];
  const key = keyName ? join(home, '.ssh', keyName) : null;
  if (key) chmodSync(key, 0o600);
  return { token, home, config, key };
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** `ssh -F planted_config alias` with the planted known_hosts checked strictly. */
function ssh(p: Planted, alias: string, extra: string[] = [], env: Record<string, string> = {}) {
  return run('ssh', ['-F', p.config, '-o', `UserKnownHostsFile=${p.home}/.ssh/known_hosts`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes', '-o', 'ConnectTimeout=10', ...extra, alias, 'id'], { HOME: p.home, ...env });
}

/** A fingerprint is base64: `+` and `/` are not regex syntax. */
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const hitsOf = (id: string): Promise<HitRow[]> => listHits(s.app.deps.db, { tokenId: id, limit: 20, order: 'asc' });
const aliasOf = (p: Planted) => /^Host (\S+)$/m.exec(readFileSync(p.config, 'utf8'))?.[1] ?? '';

describe('ssh-key kind: the planted files', () => {
  it('ssh-keygen reads the private key: its fingerprint and comment are the token\'s, its public half is the .pub', async () => {
    const p = await plant({ keyType: 'ed25519', comment: 'jmeyer@ws-ops-14' });
    const key = p.key ?? expect.fail('no IdentityFile in the planted config');
    const listed = execFileSync('ssh-keygen', ['-l', '-f', key], { encoding: 'utf8' });
    expect(listed.trim()).toBe(`256 ${String(p.token.params.fingerprint)} jmeyer@ws-ops-14 (ED25519)`);
    expect(execFileSync('ssh-keygen', ['-y', '-f', key], { encoding: 'utf8' }).trim()).toBe(readFileSync(`${key}.pub`, 'utf8').trim());
    const config = readFileSync(p.config, 'utf8');
    expect(config).toMatch(new RegExp(`^Host \\S+\\n    HostName 127\\.0\\.0\\.1\\n    User ${String(p.token.params.user)}\\n    Port ${s.config.SSH_PORT}\\n    IdentityFile `, 'm'));
    // Hashed like Debian's HashKnownHosts yes, and ssh-keygen finds the listener's name in it.
    const knownHosts = join(p.home, '.ssh', 'known_hosts');
    expect(readFileSync(knownHosts, 'utf8')).toMatch(/^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+ ssh-ed25519 /m);
    expect(execFileSync('ssh-keygen', ['-F', `[127.0.0.1]:${s.config.SSH_PORT}`, '-f', knownHosts], { encoding: 'utf8' })).toContain('ecdsa-sha2-nistp256');
  });
  it('every generated ed25519 key is one OpenSSH reads (ssh2 writes about 1 in 250 a byte short)', async () => {
    const kind = findKind('ssh-key') ?? expect.fail('no ssh-key kind');
    const lines: string[] = [];
    for (let i = 0; i < 1500; i++) {
      const made = await kind.create({ config: s.config }, `k${i}`, kind.params.parse({ keyType: 'ed25519' }));
      lines.push(String((made.params as { publicKey: string }).publicKey).trim());
    }
    const file = join(tmp.dir, 'many.pub');
    writeFileSync(file, `${lines.join('\n')}\n`);
    // ssh-keygen lists every key of an authorized_keys-style file it can read, one line each.
    const listed = execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' }).trim().split('\n');
    expect(listed).toHaveLength(lines.length);
    expect(listed.every((l) => l.endsWith('(ED25519)'))).toBe(true);
  }, 60_000);
});

describe('the SSH listener', () => {
  it('greets like a stock Debian OpenSSH', async () => {
    const line = await new Promise<string>((resolve, reject) => {
      const c = connect(s.app.port('ssh'), '127.0.0.1');
      c.once('data', (d) => (c.destroy(), resolve(String(d))));
      c.once('error', reject);
    });
    expect(line).toBe('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7\r\n');
  });

  it('ssh with the planted config is refused as usual, and the offered key is a credential-use hit with the client\'s fingerprint', async () => {
    const p = await plant({ keyType: 'ed25519' });
    const res = await ssh(p, aliasOf(p), ['-o', 'BatchMode=yes']);
    expect(res.status).toBe(255);
    expect(res.stderr).toMatch(/Permission denied \(publickey,password\)\./);
    expect(res.stderr).not.toMatch(/host key|known_hosts|Host key verification/i);
    const hits = await hitsOf(p.token.id);
    expect(hits).toHaveLength(1);
    const hit = hits[0] ?? expect.fail('no hit');
    expect(hit).toMatchObject({ channel: 'ssh', sourceIp: '127.0.0.1', credential: p.token.params.fingerprint, method: 'publickey', classification: 'alert' });
    expect(hit.userAgent).toMatch(/^SSH-2\.0-OpenSSH_\d/);
    const details = hit.details as Record<string, unknown> & { kex: { kex: string[]; cipher: string[] } };
    expect(details).toMatchObject({ ssh: 'key-offered', username: p.token.params.user, fingerprint: p.token.params.fingerprint, keyAlgo: 'ssh-ed25519' });
    expect(details.hassh).toMatch(/^[0-9a-f]{32}$/);
    expect(details.kex.kex).toContain('curve25519-sha256');
    expect(details.kex.cipher).toContain('chacha20-poly1305@openssh.com');
  });

  it('an RSA key (3072 bits) is recognised the same way', async () => {
    const p = await plant({ keyType: 'rsa' });
    expect(execFileSync('ssh-keygen', ['-l', '-f', p.key ?? ''], { encoding: 'utf8' })).toMatch(new RegExp(`^3072 ${escapeRegExp(String(p.token.params.fingerprint))} \\S+@\\S+ \\(RSA\\)`));
    const res = await ssh(p, aliasOf(p), ['-o', 'BatchMode=yes']);
    expect(res.stderr).toMatch(/Permission denied \(publickey,password\)\./);
    expect((await hitsOf(p.token.id)).map((h) => [h.credential, (h.details as { keyAlgo?: string }).keyAlgo])).toEqual([[p.token.params.fingerprint, 'ssh-rsa']]);
  }, 30_000);

  it('a use away from the planted host opens a critical intrusion with a hop and says what happened', async () => {
    const p = await plant({ keyType: 'ed25519' }, 'JENKINS01');
    await ssh(p, aliasOf(p), ['-o', 'BatchMode=yes']);
    const auth = { headers: { authorization: `Bearer ${TEST_API_KEY}` } };
    type Incident = { severity: string; lateral: boolean; reasons: { code: string; text: string }[]; techniques: { id: string }[] };
    let inc: Incident | undefined;
    for (let i = 0; i < 50 && !inc?.reasons.some((r) => r.code === 'hop'); i++) {
      const hit = (await hitsOf(p.token.id))[0];
      if (hit?.incidentId) inc = (await (await fetch(`${s.adminUrl}/api/v1/incidents/${hit.incidentId}`, auth)).json()) as Incident;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(inc).toMatchObject({ severity: 'critical', lateral: true });
    expect(inc?.reasons.map((r) => r.code)).toContain('hop');
    expect(inc?.techniques.map((t) => t.id)).toEqual(expect.arrayContaining(['T1552.004', 'T1078', 'T1021.004']));
  });

  it('the planted ssh-password is a hit; another password for the planted user is a masked probe', async () => {
    const p = await plant({ mode: 'password' });
    const password = String(p.token.params.password);
    const askpass = (secret: string) => {
      const file = join(p.home, `askpass-${secret.length}`);
      writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' '${secret.replace(/'/g, `'\\''`)}'\n`, { mode: 0o700 });
      return { SSH_ASKPASS: file, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
    };
    const opts = ['-o', 'BatchMode=no', '-o', 'NumberOfPasswordPrompts=1'];
    const used = await ssh(p, aliasOf(p), opts, askpass(password));
    expect(used.stderr).toMatch(/Permission denied \(publickey,password\)\./);
    const wrong = await ssh(p, aliasOf(p), opts, askpass('Summer2026!x'));
    expect(wrong.stderr).toMatch(/Permission denied/);
    const hits = await hitsOf(p.token.id);
    expect(hits.map((h) => [h.method, h.credential, h.classification, (h.details as { ssh: string }).ssh])).toEqual([
      ['password', p.token.params.user, 'alert', 'password-used'],
      ['password', null, 'probe', 'wrong-password'],
    ]);
    const stored = JSON.stringify(hits);
    expect(stored).not.toContain('Summer2026!x');
    expect(stored).not.toContain(password);
    expect(readFileSync(join(p.home, 'hosts.ini'), 'utf8')).toContain(`ansible_user=${String(p.token.params.user)} ansible_password=${password}`);
  });
});
