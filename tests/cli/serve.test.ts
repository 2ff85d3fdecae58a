import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase } from '../../src/db/client.ts';
import { LISTENERS } from '../../src/listeners/registry.ts';
import { ask } from '../channels/dns-client.ts';
import { makeToken, tempDir, testConfig, TEST_API_KEY } from '../helpers.ts';
import { children, portIn, serve, stopped } from './serve-process.ts';

/**
 * `honeytrail serve --only ROLES` splits one deployment's roles across processes. Two real
 * processes on one SQLite file: an edge node (public, dns) records hits and a back-office
 * node (admin) serves them through the API.
 */
const BIN = join(import.meta.dirname, '../../bin/honeytrail.js');
const ZONE = 'roles.example.test';
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function env(dir: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    DATABASE_URL: `file:${join(dir, 'honeytrail.db')}`,
    DATA_DIR: dir,
    PUBLIC_HOST: '127.0.0.1',
    PUBLIC_PORT: '0',
    ADMIN_PORT: '0',
    DNS_HOST: '127.0.0.1',
    DNS_PORT: '0',
    DNS_ZONE: ZONE,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: '0',
    HONEYTRAIL_API_KEY: TEST_API_KEY,
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
}

describe('honeytrail serve --only', () => {
  it('an edge node (public,dns) records hits that a back-office node (admin) on the same database serves', async () => {
    const t = tempDir();
    try {
      const seed = openDatabase({ path: join(t.dir, 'honeytrail.db') });
      const config = testConfig(t.dir, { DNS_ZONE: ZONE });
      const web = await makeToken(seed, config, { kind: 'web-bug', name: 'edge web' });
      const dns = await makeToken(seed, config, { kind: 'dns', name: 'edge dns' });
      closeDatabase(seed);

      // A port nothing else listens on (a released ephemeral one could be taken by a parallel test):
      // were the edge node to start its admin listener anyway, it would bind it (or fail to start).
      const adminPort = 1;
      const edge = await serve(['--only', 'public,dns'], env(t.dir, { ADMIN_PORT: String(adminPort) }), 20_000);
      expect(edge.banner).toContain('Honeytrail is running (public, dns)');
      expect(edge.banner).not.toContain('Admin API');
      expect(edge.banner).toContain('queued for a separate worker');
      expect(await refused(adminPort)).toBe(true);

      const url = new URL(web.url ?? '');
      url.port = String(portIn(edge.banner, 'Public'));
      url.hostname = '127.0.0.1';
      expect((await fetch(url)).status).toBe(200);
      const reply = await ask(portIn(edge.banner, 'DNS'), `${dns.token.id}.${ZONE}`, 'A');
      expect(reply?.rcode).toBe('NOERROR');

      const office = await serve(['--only', 'admin'], env(t.dir, {}), 20_000);
      expect(office.banner).toContain('Honeytrail is running (admin)');
      expect(office.banner).not.toMatch(/Public\s*:|DNS\s*:/);
      const api = `http://127.0.0.1:${portIn(office.banner, 'Admin API')}/api/v1`;
      const auth = { headers: { authorization: `Bearer ${TEST_API_KEY}` } };
      const hitsOf = async (id: string) => ((await (await fetch(`${api}/tokens/${id}/hits`, auth)).json()) as { items: { channel: string }[] }).items;
      expect((await hitsOf(web.token.id)).map((h) => h.channel)).toEqual(['http']);
      expect((await hitsOf(dns.token.id)).map((h) => h.channel)).toEqual(['dns']);
      expect((await fetch(`http://127.0.0.1:${portIn(office.banner, 'Admin API')}/healthz`)).status).toBe(200);

      expect(await stopped(edge.child)).toBe(0);
      expect(await stopped(office.child)).toBe(0);
    } finally {
      t.cleanup();
    }
  }, 60_000);

  it('an unknown role is a usage error (exit 2) that lists the roles', () => {
    const res = spawnSync(process.execPath, [BIN, 'serve', '--only', 'public,bogus'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(res.status).toBe(2);
    // The roles are the registry's listeners (the original four first), the worker and the edge group.
    expect(res.stderr).toContain(`unknown role "bogus" (roles: ${[...LISTENERS.map((l) => l.name), 'worker', 'edge'].join(', ')})`);
    expect(res.stderr).toContain('(roles: public, dns, smtp, admin, ');
  });
});
