import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { explainHit } from '../../src/hits/meaning.ts';
import { pgwireListener } from '../../src/listeners/pgwire.ts';
import type { RunningListener } from '../../src/listeners/registry.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, silentLog, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { hitsOf, runClient } from '../listeners/wire-client.ts';

/**
 * The postgres-credentials kind end to end: the planted files are used by the real psql (libpq)
 * as an intruder would, against the PostgreSQL listener started from its registry entry.
 */
let s: TestServer;
let pg: RunningListener;
const home = tempDir('honeytrail-pg-home-');

beforeAll(async () => {
  s = await startTestServer({ DNS_ENABLED: 'false', SMTP_ENABLED: 'false' });
  pg = await pgwireListener.start({ config: s.config, log: silentLog, deps: s.app.deps });
});
afterAll(async () => {
  await pg?.close();
  await s.stop();
  home.cleanup();
});

type PgParams = { user: string; password: string; database: string; service: string };

/** Create a token pointing at the listener and unzip its bundle into a fresh home folder. */
async function planted(params: Record<string, unknown> = {}): Promise<{ token: TokenRow; p: PgParams; dir: string; files: Record<string, string> }> {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'postgres-credentials', params: { host: '127.0.0.1', port: pg.address.port, ...params } });
  const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  const dir = join(home.dir, token.id);
  mkdirSync(join(dir, 'app'), { recursive: true });
  const files: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(unzipSync(new Uint8Array(file.body)))) {
    writeFileSync(join(dir, name), bytes);
    files[name] = Buffer.from(bytes).toString('utf8');
  }
  chmodSync(join(dir, '.pgpass'), 0o600);
  return { token, p: token.params as PgParams, dir, files };
}

/** libpq's environment for a user whose home is `dir` (no Kerberos cache, so no GSSENCRequest is expected either way). */
const libpqEnv = (dir: string, extra: Record<string, string> = {}) => ({ HOME: dir, PGSERVICEFILE: join(dir, '.pg_service.conf'), PGPASSFILE: join(dir, '.pgpass'), KRB5CCNAME: join(dir, 'none'), PGCONNECT_TIMEOUT: '5', ...extra });

describe('postgres-credentials kind: the planted files', () => {
  it('.pgpass, pg_service.conf and the DATABASE_URL name the same role, password, database and listener', async () => {
    const { p, files } = await planted();
    const port = pg.address.port;
    expect(files['.pgpass']).toContain(`127.0.0.1:${port}:${p.database}:${p.user}:${p.password}\n`);
    expect(files['.pg_service.conf']).toMatch(new RegExp(`^\\[${p.service}\\]\\nhost=127\\.0\\.0\\.1\\nport=${port}\\ndbname=${p.database}\\nuser=${p.user}$`, 'm'));
    const url = /^DATABASE_URL=(.*)$/m.exec(files['app/.env'] ?? '')?.[1] ?? '';
    const parsed = new URL(url);
    expect([parsed.protocol, decodeURIComponent(parsed.username), decodeURIComponent(parsed.password), parsed.port, parsed.pathname]).toEqual(['postgresql:', p.user, p.password, String(port), `/${p.database}`]);
  });

  it('generates a different role and password per token and keeps chosen ones', async () => {
    const a = await planted();
    const b = await planted();
    expect(a.p.password).not.toBe(b.p.password);
    expect(a.p.password.length).toBeGreaterThanOrEqual(16);
    const chosen = await planted({ user: 'etl_chosen_role', password: 'Chosen.Pass-2024' });
    expect([chosen.p.user, chosen.p.password]).toEqual(['etl_chosen_role', 'Chosen.Pass-2024']);
  });
});

describe('postgres-credentials kind: psql against the listener', () => {
  it('psql "service=…" with the planted .pgpass gets the ordinary auth failure and a credential-use hit', async () => {
    const { token, p, dir } = await planted();
    const run = await runClient('psql', [`service=${p.service}`, '-c', 'select 1'], libpqEnv(dir));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`FATAL:  password authentication failed for user "${p.user}"`);
    const [hit] = await hitsOf(s.app.deps.db, token.id);
    expect(hit).toMatchObject({ channel: 'pgwire', sourceIp: '127.0.0.1', credential: p.user, userAgent: p.service });
    expect(hit?.details).toMatchObject({ outcome: 'password-used', user: p.user, database: p.database, method: 'SCRAM-SHA-256', attributes: { application_name: p.service } });
    const meaning = explainHit(hit as never, token);
    expect(meaning).toMatchObject({ evidence: 'credential-used', techniques: ['T1552.001', 'T1078'] });
    expect(meaning.action).toContain(`PostgreSQL database ${p.database} as ${p.user} with the planted password`);
  });

  it('the DATABASE_URL works the same; a wrong password is told apart (no credential, credential-found)', async () => {
    const { token, p, files } = await planted();
    const url = /^DATABASE_URL=(.*)$/m.exec(files['app/.env'] ?? '')?.[1] ?? '';
    const right = await runClient('psql', [url, '-c', 'select 1'], { KRB5CCNAME: '/nonexistent', PGCLIENTENCODING: 'LATIN1' });
    expect(right.stderr).toContain(`password authentication failed for user "${p.user}"`);
    const wrongUrl = url.replace(encodeURIComponent(p.password), 'not-the-password');
    const wrong = await runClient('psql', [wrongUrl, '-c', 'select 1'], { KRB5CCNAME: '/nonexistent' });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`FATAL:  password authentication failed for user "${p.user}"`);
    const hits = await hitsOf(s.app.deps.db, token.id, 2);
    expect(hits.map((h) => [h.credential, (h.details as { outcome?: string }).outcome])).toEqual([
      [p.user, 'password-used'],
      [null, 'wrong-password'],
    ]);
    expect((hits[0]?.details as { attributes?: Record<string, string> }).attributes).toMatchObject({ application_name: 'psql', client_encoding: 'LATIN1' });
    expect(explainHit(hits[1] as never, token).evidence).toBe('credential-found');
  });

  it('a client with no password gives up at the SCRAM request: still a hit naming the role, nothing proved', async () => {
    const { token, p } = await planted();
    const run = await runClient('psql', ['-w', '-h', '127.0.0.1', '-p', String(pg.address.port), '-U', p.user, '-d', p.database, '-c', 'select 1'], { KRB5CCNAME: '/nonexistent', PGPASSFILE: '/nonexistent' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('fe_sendauth: no password supplied');
    const [hit] = await hitsOf(s.app.deps.db, token.id);
    expect(hit?.credential).toBeNull();
    expect(hit?.details).toMatchObject({ outcome: 'no-password', user: p.user });
  });

  it('an unknown role gets the very same failure and stores nothing', async () => {
    const stored = async () => (await listHits(s.app.deps.db, { limit: 1000 })).length;
    const before = await stored();
    const run = await runClient('psql', ['-h', '127.0.0.1', '-p', String(pg.address.port), '-U', 'postgres', '-d', 'postgres', '-c', 'select 1'], { KRB5CCNAME: '/nonexistent', PGPASSWORD: 'postgres' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('FATAL:  password authentication failed for user "postgres"');
    await new Promise((r) => setTimeout(r, 200));
    expect(await stored()).toBe(before);
  });

  it('a disabled token answers the same and is not recorded', async () => {
    const { token, p, dir } = await planted();
    const { updateToken } = await import('../../src/db/queries/tokens.ts');
    await updateToken(s.app.deps.db, token.id, { enabled: false });
    // No wait: the change was made in this process, whose lookup cache empties at once.
    const run = await runClient('psql', [`service=${p.service}`, '-c', 'select 1'], libpqEnv(dir));
    expect(run.stderr).toContain(`password authentication failed for user "${p.user}"`);
    expect(await hitsOf(s.app.deps.db, token.id, 1, 300)).toHaveLength(0);
  });
});
