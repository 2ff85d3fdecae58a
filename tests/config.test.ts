import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SETTING_NAMES } from '../src/config.ts';

const ENV_EXAMPLE = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('config', () => {
  it('has working defaults with no environment at all', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      DATABASE_URL: 'file:./data/honeytrail.db',
      PUBLIC_HOST: '0.0.0.0',
      PUBLIC_PORT: 8080,
      ADMIN_HOST: '127.0.0.1',
      ADMIN_PORT: 3000,
      PUBLIC_URL: 'http://127.0.0.1:8080',
      ADMIN_URL: 'http://127.0.0.1:3000',
      TRUST_PROXY: 'false',
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reports every bad variable at once', () => {
    let error: unknown;
    try {
      loadConfig({ PUBLIC_PORT: '99999', ADMIN_PORT: 'abc', PUBLIC_URL: 'ftp://x', DNS_ZONE: 'not a zone', HONEYTRAIL_API_KEY: 'short', TRAIL_WINDOW: 'forever' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['PUBLIC_PORT', 'ADMIN_PORT', 'PUBLIC_URL', 'DNS_ZONE', 'HONEYTRAIL_API_KEY', 'TRAIL_WINDOW']) {
      expect(problems).toContain(`${name}:`);
    }
  });

  it('accepts port 0 (ephemeral) and strips a trailing slash from PUBLIC_URL', () => {
    const c = loadConfig({ PUBLIC_PORT: '0', PUBLIC_URL: 'https://cdn.corp.example/' });
    expect(c.PUBLIC_PORT).toBe(0);
    expect(c.PUBLIC_URL).toBe('https://cdn.corp.example');
  });

  it('refuses a TRUST_PROXY it cannot compile', () => {
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/99' })).toThrow(/TRUST_PROXY/);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).TRUST_PROXY).toBe('loopback, 10.0.0.0/8');
  });

  it('refuses more than one DNS process on SQLite (they would queue on its one writer), and takes them on PostgreSQL', () => {
    expect(() => loadConfig({ DNS_PROCESSES: '2' })).toThrow(/DNS_PROCESSES: more than one DNS process needs PostgreSQL/);
    expect(loadConfig({ DNS_PROCESSES: '2', DATABASE_URL: 'postgres://honeytrail@db.corp.example/honeytrail' }).DNS_PROCESSES).toBe(2);
    expect(() => loadConfig({ DNS_PROCESSES: '0' })).toThrow(/DNS_PROCESSES/);
  });

  it('.env.example and the README table document every variable the config reads', () => {
    const source = readFileSync(new URL('../src/config.ts', import.meta.url), 'utf8');
    const schemaBlock = source.slice(source.indexOf('const schema = z.object({'), source.indexOf('});', source.indexOf('const schema = z.object({')));
    const names = [...schemaBlock.matchAll(/^\s{2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(15);
    // Every key of the schema itself, as well as those the source scan finds.
    for (const name of new Set([...names, ...SETTING_NAMES])) {
      expect(ENV_EXAMPLE, `.env.example lacks ${name}`).toMatch(new RegExp(`^#?\\s?${name}=`, 'm'));
      expect(README, `README table lacks ${name}`).toContain(`\`${name}\``);
    }
  });

  it('the server exits non-zero and lists the problems when the environment is invalid', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env.PATH, PUBLIC_PORT: '70000', ADMIN_HOST: '' , SMTP_URL: 'http://mail' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('PUBLIC_PORT');
    expect(res.stderr).toContain('SMTP_URL');
  });
});
