import { promises as dnsPromises } from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDnsHandler } from '../../src/channels/dns.ts';
import { zoneSettings } from '../../src/channels/dns-zone.ts';
import { loadConfig, type ConfigError } from '../../src/config.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import { deleteToken, updateToken } from '../../src/db/queries/tokens.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import { createLogger } from '../../src/logger.ts';
import { dataHostname } from '../../src/tokens/dns.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { ask, dig, digSection, digStatus } from './dns-client.ts';

const ZONE = 't.example.test';
const IPV4 = '192.0.2.44';
const IPV6 = '2001:db8::44';

let s: TestServer;
let port: number;
let resolver: dnsPromises.Resolver;
/** The host label of a live DNS token: a name that exists in the zone (any other name below the apex does not). */
let LABEL: string;

beforeAll(async () => {
  s = await startTestServer({ DNS_ZONE: ZONE, DNS_ANSWER_IPV4: IPV4, DNS_ANSWER_IPV6: IPV6, DNS_RATE_LIMIT: '0' });
  port = s.app.port('dns');
  LABEL = (await makeToken(s.app.deps.db, s.config, { kind: 'dns' })).token.hostLabel ?? '';
  resolver = new dnsPromises.Resolver({ timeout: 3000, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
});
afterAll(() => s.stop());

const hitsOf = (tokenId: string) => listHits(s.app.deps.db, { tokenId, limit: 100, order: 'asc' });

describe('authoritative answers over UDP (node resolver)', () => {
  it.each([
    ['A of a token name', () => resolver.resolve4(`${LABEL}.${ZONE}`), [IPV4]],
    ['A with mixed case', () => resolver.resolve4(`${LABEL.toUpperCase()}.T.ExAmple.TEST`), [IPV4]],
    ['A at the apex', () => resolver.resolve4(ZONE), [IPV4]],
    ['A of the name server', () => resolver.resolve4(`ns1.${ZONE}`), [IPV4]],
    ['AAAA', () => resolver.resolve6(`data.${LABEL}.${ZONE}`), [IPV6]],
    ['NS at the apex', () => resolver.resolveNs(ZONE), [`ns1.${ZONE}`]],
  ] as const)('%s', async (_label, query, expected) => {
    expect(await query()).toEqual(expected);
  });

  it('SOA at the apex names our server and hostmaster', async () => {
    const soa = await resolver.resolveSoa(ZONE);
    expect(soa).toMatchObject({ nsname: `ns1.${ZONE}`, hostmaster: `hostmaster.${ZONE}`, minttl: 60 });
    expect(String(soa.serial)).toMatch(/^20\d{6}01$/);
  });

  it.each([
    ['TXT', () => resolver.resolveTxt(`x.${LABEL}.${ZONE}`)],
    ['MX', () => resolver.resolveMx(`${LABEL}.${ZONE}`)],
    ['CNAME', () => resolver.resolveCname(`${LABEL}.${ZONE}`)],
    ['SOA below the apex', () => resolver.resolveSoa(`${LABEL}.${ZONE}`)],
    ['NS below the apex', () => resolver.resolveNs(`${LABEL}.${ZONE}`)],
  ] as const)('%s: no data (NOERROR, empty)', async (_label, query) => {
    await expect(query()).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it.each([['www'], ['mail'], ['x.ns1'], ['zzzzzzzzzzzzzzzzzzzzzzzz'], ['vpn-3f9c1b2a'], ['a.b.c']])('a name no token owns does not exist (NXDOMAIN): %s', async (name) => {
    await expect(resolver.resolve4(`${name}.${ZONE}`)).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolveTxt(`${name}.${ZONE}`)).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it.each([['example.com'], ['t.example.test.evil.com'], ['xt.example.test'], ['test']])('REFUSED outside the zone: %s', async (name) => {
    await expect(resolver.resolve4(name)).rejects.toMatchObject({ code: 'EREFUSED' });
  });
});

describe('answers over UDP and TCP (dig), every type', () => {
  const cases = (): [string, string, string, string[][]][] => {
    const host = `${LABEL}.${ZONE}`;
    const mixed = `${LABEL.toUpperCase()}.T.Example.Test`;
    return [
      [host, 'A', 'NOERROR', [[`${host}.`, '60', 'IN', 'A', IPV4]]],
      [mixed, 'A', 'NOERROR', [[`${mixed}.`, '60', 'IN', 'A', IPV4]]],
      [host, 'AAAA', 'NOERROR', [[`${host}.`, '60', 'IN', 'AAAA', IPV6]]],
      ...['TXT', 'MX', 'CNAME', 'SRV', 'PTR', 'CAA', 'TYPE65'].map((type): [string, string, string, string[][]] => [host, type, 'NOERROR', []]),
      [host, 'ANY', 'NOERROR', [[`${host}.`, '60', 'IN', 'A', IPV4], [`${host}.`, '60', 'IN', 'AAAA', IPV6]]],
      [ZONE, 'NS', 'NOERROR', [[`${ZONE}.`, '3600', 'IN', 'NS', `ns1.${ZONE}.`]]],
      [`a.${ZONE}`, 'A', 'NXDOMAIN', []],
      [`a.${ZONE}`, 'TXT', 'NXDOMAIN', []],
      ['example.org', 'A', 'REFUSED', []],
      ['example.org', 'NS', 'REFUSED', []],
    ];
  };
  for (const transport of ['+notcp', '+tcp']) {
    it(`${transport}: every type of a token name, NXDOMAIN for other names, REFUSED outside the zone`, async () => {
      for (const [name, type, status, answers] of cases()) {
        const out = await dig(port, name, type, transport);
        expect(digStatus(out), `${name} ${type}`).toBe(status);
        expect(digSection(out, 'ANSWER'), `${name} ${type}`).toEqual(answers);
        if (status !== 'REFUSED') expect(out).toMatch(/flags: qr aa/);
        if (status !== 'REFUSED' && answers.length === 0) expect(digSection(out, 'AUTHORITY')[0]?.[3]).toBe('SOA');
      }
    });
  }

  it('refuses zone transfers and other classes', async () => {
    expect((await ask(port, ZONE, 'AXFR' as 'A', { transport: 'tcp' }))?.rcode).toBe('REFUSED');
    expect(digStatus(await dig(port, `version.${ZONE}`, 'TXT', '-c', 'CH'))).toBe('REFUSED');
  });

  it('echoes the question exactly as asked (0x20 case randomisation)', async () => {
    const name = `wWw.ExAmPlE-FiLe.${LABEL.toUpperCase()}.${ZONE.toUpperCase()}`;
    for (const transport of ['udp', 'tcp'] as const) {
      const reply = await ask(port, name, 'A', { transport });
      expect(reply?.questions?.[0]?.name).toBe(name);
      expect(reply?.answers?.[0]?.name).toBe(name);
      expect(reply?.flag_aa).toBe(true);
    }
  });
});

describe('hits', () => {
  const types = ['A', 'AAAA', 'TXT', 'MX', 'NS', 'SOA', 'CNAME', 'ANY', 'SRV'] as const;

  it('every query type for a token name is a hit, over UDP and TCP, whatever the case', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'dns' });
    for (const [i, type] of types.entries()) {
      const name = i % 2 ? `${token.id.toUpperCase()}.${ZONE}` : `${token.id}.${ZONE.toUpperCase()}`;
      const reply = await ask(port, name, type, { transport: i % 3 === 0 ? 'tcp' : 'udp' });
      expect(reply?.rcode).toBe('NOERROR');
    }
    const hits = await hitsOf(token.id);
    expect(hits.map((h) => h.qtype)).toEqual([...types]);
    for (const h of hits) {
      expect(h).toMatchObject({ channel: 'dns', sourceIp: '127.0.0.1', qname: `${token.id}.${ZONE}` });
      expect(h.sourcePort).toBeGreaterThan(0);
      expect(h.details).toMatchObject({ source: 'resolver' });
    }
  });

  it('decodes base32 data labels and records the EDNS client subnet', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'dns' });
    const name = dataHostname(`${token.id}.${ZONE}`, Buffer.from('svc_backup on FS01 (pass: Winter2025!)'));
    const ecs = { type: 'OPT' as const, name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [{ code: 8 as const, family: 1, sourcePrefixLength: 24, scopePrefixLength: 0, ip: '198.51.100.0' }] };
    const reply = await ask(port, name.toUpperCase(), 'A', { additionals: [ecs] });
    expect(reply?.answers?.[0]).toMatchObject({ type: 'A', data: IPV4 });
    const [hit] = await hitsOf(token.id);
    expect(hit?.details).toMatchObject({ data: 'svc_backup on FS01 (pass: Winter2025!)', clientSubnet: '198.51.100.0/24', transport: 'udp' });
  });

  it('the right-most id-shaped label is the token; labels to its left are data', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'dns' });
    const decoy = 'abcdefghijklmnopqrstuvwx';
    await resolver.resolve4(`${decoy}.mail.${token.id}.${ZONE}`);
    const [hit] = await hitsOf(token.id);
    expect(hit?.details).toMatchObject({ labels: [decoy, 'mail'] });
  });

  it('unknown names and labels, disabled and retired tokens and non-DNS kinds all get NXDOMAIN and no hit', async () => {
    const live = await makeToken(s.app.deps.db, s.config, { kind: 'dns' });
    const disabled = await makeToken(s.app.deps.db, s.config, { kind: 'dns' });
    await updateToken(s.app.deps.db, disabled.token.id, { enabled: false });
    const retired = await makeToken(s.app.deps.db, s.config, { kind: 'dns' });
    await deleteToken(s.app.deps.db, retired.token.id);
    const webBug = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const label = (t: TokenRow) => t.hostLabel ?? '';
    const missing = [];
    for (const name of ['zzzzzzzzzzzzzzzzzzzzzzzz', 'vpn-eu3-k2j9x1', label(disabled.token), disabled.token.id, label(retired.token), retired.token.id, webBug.token.id]) {
      const reply = await ask(port, `${name}.${ZONE}`, 'A');
      missing.push({ rcode: reply?.rcode, flags: reply?.flags, answers: reply?.answers, authorities: reply?.authorities?.map((a) => a.type) });
    }
    expect(new Set(missing.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(missing[0]).toMatchObject({ rcode: 'NXDOMAIN', answers: [], authorities: ['SOA'] });
    for (const name of [label(live.token), live.token.id]) expect((await ask(port, `${name}.${ZONE}`, 'A'))?.rcode).toBe('NOERROR');
    expect(await hitsOf(live.token.id)).toHaveLength(2);
    expect(await hitsOf(disabled.token.id)).toHaveLength(0);
    expect(await hitsOf(retired.token.id)).toHaveLength(0);
    expect(await hitsOf(webBug.token.id)).toHaveLength(0);
  });

  it('host labels vary in length and alphabet, carry no id, and all fire', async () => {
    const labels: string[] = [];
    for (let i = 0; i < 12; i++) {
      const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'dns' });
      const label = token.hostLabel ?? '';
      expect(label).not.toContain(token.id);
      expect(label).toMatch(/^[a-z0-9][a-z0-9-]{4,30}[a-z0-9]$/);
      expect((await ask(port, `${label}.${ZONE}`, 'A'))?.rcode).toBe('NOERROR');
      expect(await hitsOf(token.id)).toHaveLength(1);
      labels.push(label);
    }
    expect(new Set(labels.map((l) => l.length)).size).toBeGreaterThan(2);
    expect(labels.some((l) => l.includes('-'))).toBe(true);
    expect(labels.some((l) => /^[0-9a-f]+$/.test(l) || /[g-z]/.test(l))).toBe(true);
  });

  it('out-of-zone names that contain a token id are refused and not recorded', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'dns' });
    expect((await ask(port, `${token.id}.example.com`, 'A'))?.rcode).toBe('REFUSED');
    expect(await hitsOf(token.id)).toHaveLength(0);
  });
});

describe('zone settings from the config', () => {
  const base = { DNS_ZONE: 'T.Corp.Example' };
  it.each([
    ['explicit answers win', { DNS_ANSWER_IPV4: '203.0.113.7', DNS_ANSWER_IPV6: '2001:db8::7', PUBLIC_URL: 'http://198.51.100.1:8080' }, '203.0.113.7', '2001:db8::7', false],
    ['PUBLIC_URL host when it is an IP', { PUBLIC_URL: 'https://198.51.100.1' }, '198.51.100.1', null, false],
    ['PUBLIC_URL IPv6 literal', { PUBLIC_URL: 'http://[2001:db8::9]:8080', PUBLIC_HOST: '0.0.0.0' }, '127.0.0.1', '2001:db8::9', true],
    ['a specific PUBLIC_HOST', { PUBLIC_URL: 'https://cdn.corp.example', PUBLIC_HOST: '10.1.2.3' }, '10.1.2.3', null, false],
    ['wildcard host and a named URL: loopback until configured', { PUBLIC_URL: 'https://cdn.corp.example', PUBLIC_HOST: '0.0.0.0' }, '127.0.0.1', null, true],
    ['the quick start: the loopback URL is the listener', {}, '127.0.0.1', null, false],
  ])('%s', (_label, env, ipv4, ipv6, ipv4Fallback) => {
    const z = zoneSettings(loadConfig({ ...base, ...env }));
    expect(z).toMatchObject({ zone: 't.corp.example', ipv4, ipv6, ipv4Fallback, nameServers: ['ns1.t.corp.example'], hostmaster: 'hostmaster.t.corp.example' });
  });

  it('warns at start when token host names would resolve to the loopback fallback', () => {
    const warnings: string[] = [];
    const log = createLogger('warn', { write: (line: string) => void warnings.push(String((JSON.parse(line) as { msg: string }).msg)) });
    const deps = (env: Record<string, string>) => ({ ...s.app.deps, log, config: loadConfig({ ...base, ...env }) });
    createDnsHandler(deps({ PUBLIC_URL: 'https://cdn.corp.example', PUBLIC_HOST: '0.0.0.0' }));
    expect(warnings).toEqual([expect.stringContaining('set DNS_ANSWER_IPV4')]);
    createDnsHandler(deps({ PUBLIC_URL: 'https://cdn.corp.example', DNS_ANSWER_IPV4: '203.0.113.10' }));
    createDnsHandler(deps({}));
    expect(warnings).toHaveLength(1);
  });

  it('takes name servers and the SOA contact from the config (dots in the mailbox escaped)', () => {
    const z = zoneSettings(loadConfig({ ...base, DNS_NS: 'ns-a.corp.example, NS-B.corp.example', DNS_HOSTMASTER: 'dns.admin@corp.example' }));
    expect(z.nameServers).toEqual(['ns-a.corp.example', 'ns-b.corp.example']);
    expect(z.hostmaster).toBe('dns\\.admin.corp.example');
  });

  it('rejects bad DNS settings, naming every bad variable at once', () => {
    let problems = '';
    try {
      loadConfig({ DNS_ANSWER_IPV4: '::1', DNS_ANSWER_IPV6: '10.0.0.1', DNS_NS: 'not a host', DNS_PORT: '70000', DNS_RATE_LIMIT: '-1', DNS_HOSTMASTER: 'nobody' });
    } catch (err) {
      problems = (err as ConfigError).problems.join('\n');
    }
    for (const name of ['DNS_ANSWER_IPV4', 'DNS_ANSWER_IPV6', 'DNS_NS', 'DNS_PORT', 'DNS_RATE_LIMIT', 'DNS_HOSTMASTER']) expect(problems).toMatch(new RegExp(`^${name}(\\.\\d+)?: `, 'm'));
  });
});
