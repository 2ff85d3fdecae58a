import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { describeArtifact, renderArtifact } from '../../src/tokens/service.ts';
import { dig, digSection, digStatus } from '../channels/dns-client.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

/**
 * log-injection: each planted string is expanded the way Log4j 2's StrSubstitutor does
 * (innermost `${...}` first; `prefix:key` lookups; `:-` defaults; lower/upper), the JNDI
 * URL's host is what the logger's resolver would ask for, and `dig` asks the DNS listener for
 * exactly that name. The hit must decode the value the lookup expanded.
 */

const ZONE = 'li.example.test';
const HOST = 'app-srv-03.corp.local';
const ENV: Record<string, string> = { HOSTNAME: 'web-7f9c', COMPUTERNAME: 'WS-ACCT-07', USER: 'tomcat', USERNAME: 'm.keller' };
const SYS: Record<string, string> = { 'user.name': 'svc_jira', 'java.version': '17.0.9' };

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0' });
});
afterAll(() => s.stop());

/** Log4j 2 variable expansion for the lookups the strings use; returns the JNDI URLs it would open. */
function expand(text: string): { result: string; jndi: string[] } {
  const jndi: string[] = [];
  const resolve = (key: string): string | null => {
    const at = key.indexOf(':');
    const prefix = at < 0 ? '' : key.slice(0, at).toLowerCase();
    const name = at < 0 ? key : key.slice(at + 1);
    if (at < 0) return name === 'hostName' ? HOST : null;
    if (prefix === 'env') return ENV[name] ?? null;
    if (prefix === 'sys') return SYS[name] ?? null;
    if (prefix === 'lower') return name.toLowerCase();
    if (prefix === 'upper') return name.toUpperCase();
    if (prefix === 'jndi') {
      jndi.push(name);
      return '';
    }
    return null;
  };
  let out = text;
  for (let round = 0; round < 200; round++) {
    const m = /\$\{([^${}]*)\}/.exec(out);
    if (!m) break;
    const body = m[1] ?? '';
    const d = body.indexOf(':-');
    const value = d >= 0 ? (resolve(body.slice(0, d)) ?? body.slice(d + 2)) : resolve(body);
    // An unresolved variable stays as written (and would stop the expansion here).
    if (value === null) break;
    out = out.slice(0, m.index) + value + out.slice(m.index + m[0].length);
  }
  return { result: out, jndi };
}

describe('log-injection kind', () => {
  it('every planted string, expanded as Log4j would, opens a JNDI URL whose host dig resolves and the hit decodes', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'log-injection', params: { obfuscated: true } });
    const info = describeArtifact({ config: s.config }, token);
    expect(info.hostname).toBe(`${token.hostLabel}.${ZONE}`);
    const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
    const lines = file.body.toString().trim().split('\n');
    expect(lines.length).toBe(14);
    expect(lines.filter((l) => /^\$\{jndi:/.test(l)).length).toBe(11);

    const expected: Record<string, [string, string]> = {
      hn: ['host', HOST], eh: ['host', ENV.HOSTNAME ?? ''], ec: ['host', ENV.COMPUTERNAME ?? ''],
      su: ['user', SYS['user.name'] ?? ''], eu: ['user', ENV.USER ?? ''], ew: ['user', ENV.USERNAME ?? ''], jv: ['java', SYS['java.version'] ?? ''],
    };
    const seen = new Set<string>();
    for (const line of lines) {
      const { result, jndi } = expand(line);
      expect(result, line).toBe('');
      expect(jndi, line).toHaveLength(1);
      const url = new URL(jndi[0] ?? '');
      expect(['ldap:', 'ldaps:', 'rmi:', 'dns:']).toContain(url.protocol);
      const name = url.hostname;
      expect(name.endsWith(`.${token.hostLabel}.${ZONE}`) || name === `${token.hostLabel}.${ZONE}`, name).toBe(true);
      const before = (await listHits(s.app.deps.db, { tokenId: token.id, limit: 100 })).length;
      const out = await dig(s.app.port('dns'), name, 'A');
      expect(digStatus(out), name).toBe('NOERROR');
      expect(digSection(out, 'ANSWER')[0]?.[3]).toBe('A');
      const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 100 });
      expect(hits.length, name).toBe(before + 1);
      const hit = hits[0];
      const marker = name.slice(0, -`.${token.hostLabel}.${ZONE}`.length).split('.').pop() ?? '';
      const want = expected[marker];
      if (!want) {
        expect(hit?.details?.lookup ?? null).toBeNull();
        continue;
      }
      seen.add(marker);
      expect(hit?.details).toMatchObject({ lookup: marker, value: want[1] });
      if (want[0] === 'host') expect(hit?.actorHost).toBe(want[1]);
      if (want[0] === 'user') expect(hit?.actorUser).toBe(want[1]);
      if (want[0] === 'java') expect([hit?.actorHost ?? null, hit?.actorUser ?? null]).toEqual([null, null]);
    }
    expect([...seen].sort()).toEqual(Object.keys(expected).sort());
  });

  it('a logger that leaves a lookup unresolved asks for nothing decodable; the bare token name is still a hit', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'log-injection' });
    const out = await dig(s.app.port('dns'), `${token.hostLabel}.${ZONE}`, 'AAAA');
    expect(digStatus(out)).toBe('NOERROR');
    const [hit] = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    expect(hit).toMatchObject({ channel: 'dns', qtype: 'AAAA', actorHost: null, actorUser: null });
  });

  it('keeps the case the resolver sent (Windows computer names are upper case)', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'log-injection' });
    await dig(s.app.port('dns'), `DC01.CONTOSO.ec.${token.hostLabel}.${ZONE}`, 'A');
    const [hit] = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    expect(hit).toMatchObject({ actorHost: 'DC01.CONTOSO', details: { lookup: 'ec', value: 'DC01.CONTOSO' } });
  });
});
