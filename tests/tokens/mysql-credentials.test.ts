import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import { explainHit } from '../../src/hits/meaning.ts';
import { mysqlListener } from '../../src/listeners/mysql.ts';
import type { RunningListener } from '../../src/listeners/registry.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, silentLog, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { hitsOf, runClient } from '../listeners/wire-client.ts';

/**
 * The mysql-credentials kind end to end: the planted .my.cnf is used by the real mysql client
 * (MariaDB's) against the MySQL listener started from its registry entry, and the client's
 * output is compared with what the genuine MariaDB on 127.0.0.1:3306 makes it print.
 */
let s: TestServer;
let my: RunningListener;
const home = tempDir('honeytrail-mysql-home-');
const REAL_MARIADB_PORT = 3306;

beforeAll(async () => {
  s = await startTestServer({ DNS_ENABLED: 'false', SMTP_ENABLED: 'false' });
  my = await mysqlListener.start({ config: s.config, log: silentLog, deps: s.app.deps });
});
afterAll(async () => {
  await my?.close();
  await s.stop();
  home.cleanup();
});

type MyParams = { user: string; password: string; database: string };

/**
 * MariaDB answers an unknown user through one of its own accounts, picked by a hash of the
 * name, so its answers vary by name and server. The planted user stands for an account with a
 * password; for a side-by-side comparison, find names the genuine server also runs through a
 * passworded account (wrong password: 1045 YES; none: 1045 NO). Bounded: 40 candidates.
 */
const comparable: string[] = [];
async function comparableName(): Promise<string> {
  for (let i = 0; comparable.length === 0 && i < 40; i++) {
    const name = `svc_cmp_${process.pid}_${Date.now() % 100000}_${i}`;
    const none = await runClient('mysql', ['--no-defaults', '-h', '127.0.0.1', '-P', String(REAL_MARIADB_PORT), '-u', name, '-e', 'select 1']);
    if (none.stderr === `ERROR 1045 (28000): Access denied for user '${name}'@'127.0.0.1' (using password: NO)\n`) comparable.push(name);
  }
  const name = comparable.pop();
  if (!name) throw new Error('the genuine MariaDB ran no candidate name through a passworded account');
  return name;
}

async function planted(params: Record<string, unknown> = {}): Promise<{ token: TokenRow; p: MyParams; dir: string; files: Record<string, string> }> {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'mysql-credentials', params: { host: '127.0.0.1', port: my.address.port, ...params } });
  const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  const dir = join(home.dir, token.id);
  mkdirSync(join(dir, 'app'), { recursive: true });
  const files: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(unzipSync(new Uint8Array(file.body)))) {
    writeFileSync(join(dir, name), bytes);
    files[name] = Buffer.from(bytes).toString('utf8');
  }
  chmodSync(join(dir, '.my.cnf'), 0o600);
  return { token, p: token.params as MyParams, dir, files };
}

/** The same option file pointed at another port (the genuine server), user and password unchanged. */
function redirected(dir: string, files: Record<string, string>, port: number): string {
  const path = join(dir, 'real.my.cnf');
  writeFileSync(path, (files['.my.cnf'] ?? '').replace(/^port=\d+$/m, `port=${port}`), { mode: 0o600 });
  return path;
}

const mysql = (defaultsFile: string, ...args: string[]) => runClient('mysql', [`--defaults-file=${defaultsFile}`, ...args, '-e', 'select 1'], { HOME: '/nonexistent' });

describe('mysql-credentials kind: the planted files', () => {
  it('.my.cnf and the .env name the same user, password, schema and listener', async () => {
    const { p, files } = await planted();
    const port = my.address.port;
    expect(files['.my.cnf']).toMatch(new RegExp(`^\\[client\\]\\nhost=127\\.0\\.0\\.1\\nport=${port}\\nuser=${p.user}\\npassword=${p.password.replace(/[.*]/g, '\\$&')}$`, 'm'));
    expect(files['.my.cnf']).toContain(`[mysql]\ndatabase=${p.database}\n`);
    const env = files['app/.env'] ?? '';
    expect(env).toContain(`DB_USERNAME=${p.user}\nDB_PASSWORD=${p.password}\n`);
    const url = new URL(/^DATABASE_URL=(.*)$/m.exec(env)?.[1] ?? '');
    expect([url.protocol, decodeURIComponent(url.username), decodeURIComponent(url.password), url.port, url.pathname]).toEqual(['mysql:', p.user, p.password, String(port), `/${p.database}`]);
  });
});

describe('mysql-credentials kind: the mysql client against the listener', () => {
  it('mysql --defaults-file=.my.cnf prints the same Access denied as the genuine MariaDB, and the use is a credential hit', async () => {
    const { token, p, dir, files } = await planted({ user: await comparableName() });
    const ours = await mysql(join(dir, '.my.cnf'));
    const genuine = await mysql(redirected(dir, files, REAL_MARIADB_PORT));
    expect(genuine.stderr).toBe(`ERROR 1045 (28000): Access denied for user '${p.user}'@'127.0.0.1' (using password: YES)\n`);
    expect([ours.code, ours.stderr]).toEqual([genuine.code, genuine.stderr]);
    const [hit] = await hitsOf(s.app.deps.db, token.id);
    expect(hit).toMatchObject({ channel: 'mysql', sourceIp: '127.0.0.1', credential: p.user });
    expect(hit?.userAgent).toMatch(/^mysql \(libmariadb [\d.]+; Linux\)$/);
    expect(hit?.details).toMatchObject({ outcome: 'password-used', user: p.user, database: p.database, method: 'mysql_native_password' });
    expect((hit?.details as { attributes: Record<string, string> }).attributes).toMatchObject({ _client_name: 'libmariadb', _os: 'Linux', program_name: 'mysql' });
    const meaning = explainHit(hit as never, token);
    expect(meaning).toMatchObject({ evidence: 'credential-used', techniques: ['T1552.001', 'T1078'] });
    expect(meaning.action).toContain(`MySQL database ${p.database} as ${p.user} with the planted password (mysql)`);
  });

  it('a wrong password is told apart: no credential, credential-found, same error as the genuine server', async () => {
    const { token, p } = await planted({ user: await comparableName() });
    const args = ['-h', '127.0.0.1', '-u', p.user, '-pnot-the-password', p.database, '-e', 'select 1'];
    const ours = await runClient('mysql', ['--no-defaults', '-P', String(my.address.port), ...args]);
    const genuine = await runClient('mysql', ['--no-defaults', '-P', String(REAL_MARIADB_PORT), ...args]);
    expect(ours.stderr).toBe(genuine.stderr);
    const [hit] = await hitsOf(s.app.deps.db, token.id);
    expect(hit?.credential).toBeNull();
    expect(hit?.details).toMatchObject({ outcome: 'wrong-password', user: p.user });
    expect(explainHit(hit as never, token).evidence).toBe('credential-found');
  });

  it('a client with another default plugin is switched to native password like MariaDB does, and the planted password still proves', async () => {
    const { token, p, dir, files } = await planted({ user: await comparableName() });
    const ours = await mysql(join(dir, '.my.cnf'), '--default-auth=caching_sha2_password');
    const genuine = await mysql(redirected(dir, files, REAL_MARIADB_PORT), '--default-auth=caching_sha2_password');
    expect(ours.stderr).toBe(genuine.stderr);
    const [hit] = await hitsOf(s.app.deps.db, token.id);
    expect(hit).toMatchObject({ credential: p.user });
  });

  it('no password: the same "using password: NO" refusal as MariaDB gives; recorded as no password', async () => {
    const { token, p } = await planted({ user: await comparableName() });
    const args = ['-h', '127.0.0.1', '-u', p.user, '-e', 'select 1'];
    const ours = await runClient('mysql', ['--no-defaults', '-P', String(my.address.port), ...args]);
    const genuine = await runClient('mysql', ['--no-defaults', '-P', String(REAL_MARIADB_PORT), ...args]);
    expect(genuine.stderr).toContain('(using password: NO)');
    expect(ours.stderr).toBe(genuine.stderr);
    const [hit] = await hitsOf(s.app.deps.db, token.id);
    expect(hit?.details).toMatchObject({ outcome: 'no-password' });
  });

  it('an unknown user gets the same answer and stores nothing', async () => {
    const stored = async () => (await listHits(s.app.deps.db, { limit: 1000 })).length;
    const before = await stored();
    const run = await runClient('mysql', ['--no-defaults', '-h', '127.0.0.1', '-P', String(my.address.port), '-u', 'root', '-ptoor', '-e', 'select 1']);
    expect(run.stderr).toBe("ERROR 1045 (28000): Access denied for user 'root'@'127.0.0.1' (using password: YES)\n");
    await new Promise((r) => setTimeout(r, 200));
    expect(await stored()).toBe(before);
  });
});
