import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, SETTING_NAMES } from '../../src/config.ts';
import { enableKey, LISTENERS, type ListenerEntry, type RunningListener } from '../../src/listeners/registry.ts';
import { activeRoles, ROLES, roleNames, roleSwitches } from '../../src/roles.ts';
import { startHoneytrail, type Honeytrail } from '../../src/server.ts';
import { silentLog, startTestServer, tempDir, testConfig, type TestServer } from '../helpers.ts';

/**
 * The listener registry is the one list the server starts, `serve --only` switches, the
 * banner prints, /healthz reports and shutdown closes. A listener defined only here (a line
 * protocol that answers "pong") is started, reported and stopped like the built-in ones,
 * which is what "a new protocol is one module and one line" needs.
 */
type Health = { listeners: { name: string; host: string; port: number }[] };
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

/** A real TCP listener on 127.0.0.1 that answers every line with `pong`. */
function pongEntry(name: string, port = 0): ListenerEntry & { closed: number } {
  const entry = {
    name,
    configKeys: ['PUBLIC_ENABLED'],
    role: 'edge' as const,
    closed: 0,
    enabled: () => true,
    start: () =>
      new Promise<RunningListener>((resolve, reject) => {
        const server = createServer((socket) => socket.on('data', () => socket.write('pong\n')).on('error', () => socket.destroy()));
        server.once('error', (err) => reject(new Error(`${name} listener could not bind: ${err.message}`, { cause: err })));
        server.listen(port, '127.0.0.1', () => {
          const a = server.address() as AddressInfo;
          resolve({
            name,
            address: { host: a.address, port: a.port },
            close: () => new Promise<void>((done) => server.close(() => ((entry.closed += 1), done()))),
          });
        });
      }),
  };
  return entry;
}

function ping(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write('ping\n'));
    s.setTimeout(3000, () => (s.destroy(), reject(new Error('timeout'))));
    s.once('data', (d) => (s.end(), resolve(String(d).trim())));
    s.once('error', reject);
  });
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });

describe('LISTENERS', () => {
  it('names every listener once, each with one *_ENABLED switch among its settings, all of them real settings', () => {
    const names = LISTENERS.map((l) => l.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.slice(0, 4)).toEqual(['public', 'dns', 'smtp', 'admin']);
    for (const l of LISTENERS) {
      expect(l.configKeys.filter((k) => k.endsWith('_ENABLED')), l.name).toHaveLength(1);
      for (const key of l.configKeys) expect(SETTING_NAMES, `${l.name}: ${key}`).toContain(key);
      expect(['edge', 'admin']).toContain(l.role);
    }
  });

  it('the README listener table has a row per listener, named by its --only role', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const l of LISTENERS) expect(readme, `README lacks a listener row for ${l.name}`).toMatch(new RegExp(`^\\| [^|]+ \\| \`${l.name}\` \\| `, 'm'));
  });

  it('each listener follows its switch and only its switch', () => {
    for (const l of LISTENERS) {
      const off = loadConfig({ [enableKey(l)]: 'false' });
      expect(l.enabled(off), l.name).toBe(false);
      expect(l.enabled(loadConfig({ [enableKey(l)]: 'true' })), l.name).toBe(true);
      for (const other of LISTENERS.filter((o) => o !== l)) expect(other.enabled(off), `${other.name} with ${l.name} off`).toBe(true);
    }
  });

  it('serve --only roles come from the registry: a name per listener, the worker, and edge for every attacker-facing one', () => {
    expect(Object.keys(ROLES)).toEqual([...LISTENERS.map((l) => l.name), 'worker']);
    expect(roleNames()).toEqual([...Object.keys(ROLES), 'edge']);
    const edge = roleSwitches('edge');
    for (const l of LISTENERS) expect(edge[enableKey(l)], l.name).toBe(String(l.role === 'edge'));
    expect(edge.ALERT_WORKER_ENABLED).toBe('false');
    const some = roleSwitches('admin, worker');
    expect(activeRoles(loadConfig(some))).toEqual(['admin', 'worker']);
    expect(() => roleSwitches('public,bogus')).toThrow(`unknown role "bogus" (roles: ${roleNames().join(', ')})`);
  });
});

describe('startHoneytrail runs what the registry lists', () => {
  it('starts, reports and closes a listener that exists only as an entry', async () => {
    const t = tempDir();
    stops.push(async () => t.cleanup());
    const entry = pongEntry('pong');
    const app: Honeytrail = await startHoneytrail({ config: testConfig(t.dir, { DNS_ENABLED: 'false', SMTP_ENABLED: 'false' }), log: silentLog, alerts: false, registry: [...LISTENERS, entry] });
    let open = true;
    stops.push(async () => void (open && (await app.close())));
    expect(app.listeners.map((l) => l.name)).toEqual([...LISTENERS.filter((l) => l.enabled(app.deps.config)).map((l) => l.name), 'pong']);
    expect(await ping(app.port('pong'))).toBe('pong');
    const health = (await (await fetch(`http://127.0.0.1:${app.port('admin')}/healthz`)).json()) as Health;
    expect(health.listeners).toContainEqual({ name: 'pong', host: '127.0.0.1', port: app.port('pong') });
    expect(health.listeners.map((l) => l.name)).toEqual(app.listeners.map((l) => l.name));
    const port = app.port('pong');
    await app.close();
    open = false;
    expect(entry.closed).toBe(1);
    expect(await refused(port)).toBe(true);
  });

  it('a listener that cannot bind stops the start and closes the ones already running', async () => {
    const t = tempDir();
    stops.push(async () => t.cleanup());
    const first = pongEntry('first');
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise<void>((r) => blocker.close(() => r())));
    const taken = (blocker.address() as AddressInfo).port;
    const config = testConfig(t.dir, { PUBLIC_ENABLED: 'false', ADMIN_ENABLED: 'false', DNS_ENABLED: 'false', SMTP_ENABLED: 'false', SSH_ENABLED: 'false' });
    await expect(startHoneytrail({ config, log: silentLog, alerts: false, registry: [...LISTENERS, first, pongEntry('second', taken)] })).rejects.toThrow(/second listener could not bind.*EADDRINUSE/);
    expect(first.closed).toBe(1);
  });
});

describe('/healthz', () => {
  let s: TestServer;
  afterEach(async () => s?.stop());
  it('lists every running listener of the registry with its bound address', async () => {
    s = await startTestServer();
    const body = (await (await fetch(`${s.adminUrl}/healthz`)).json()) as Health;
    expect(body.listeners).toEqual(s.app.listeners.map((l) => ({ name: l.name, host: '127.0.0.1', port: l.address.port })));
    expect(body.listeners.map((l) => l.name)).toEqual(LISTENERS.filter((l) => l.enabled(s.config)).map((l) => l.name));
    expect(body.listeners.map((l) => l.name)).toEqual(expect.arrayContaining(['public', 'dns', 'smtp', 'admin']));
  });
});
