import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { base32Decode, base32Labels, dataHostname, dnsToken } from '../../src/tokens/dns.ts';
import type { Token } from '../../src/tokens/kind.ts';
import { describeArtifact } from '../../src/tokens/service.ts';
import { ask } from '../channels/dns-client.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

const ZONE = 'dns-kind.example.test';
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0' });
});
afterAll(() => s.stop());

describe('base32 data labels', () => {
  it.each([
    ['', ''],
    ['f', 'my'],
    ['fo', 'mzxq'],
    ['foo', 'mzxw6'],
    ['foobar', 'mzxw6ytboi'],
  ])('RFC 4648 vector %j <-> %s', (plain, encoded) => {
    expect(base32Labels(Buffer.from(plain)).join('')).toBe(encoded);
    expect(base32Decode(encoded.toUpperCase())?.toString()).toBe(plain);
  });

  it('splits long data into labels of at most 63 characters and decodes them back', () => {
    const data = Buffer.from('x'.repeat(120));
    const labels = base32Labels(data);
    expect(labels.length).toBeGreaterThan(1);
    for (const l of labels) expect(l.length).toBeLessThanOrEqual(63);
    expect(base32Decode(labels.join(''))?.equals(data)).toBe(true);
  });

  it('rejects text that is not base32', () => {
    expect(base32Decode('not-base32!')).toBeNull();
    expect(base32Decode('abc1')).toBeNull();
  });
});

describe('dns kind', () => {
  it('plants <host label>.<zone> as its host name (the id nowhere)', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'dns' });
    const artifact = describeArtifact({ config: s.config }, token);
    expect(token.hostLabel).toBeTruthy();
    expect(artifact.hostname).toBe(`${token.hostLabel}.${ZONE}`);
    expect(artifact.hostname).not.toContain(token.id);
    expect(artifact.hint).toContain('G42');
  });

  const describeLabels = (raw: string[]) =>
    dnsToken.dns?.describe?.({ qname: '', qtype: 'A', dataLabels: raw.map((l) => l.toLowerCase()), rawDataLabels: raw, resolverIp: '127.0.0.1' }, {} as Token);

  it.each([
    ['no data labels', [], {}],
    ['plain labels without a marker', ['www', 'mail'], { details: { labels: ['www', 'mail'] } }],
    ['base32 after the marker', [...base32Labels(Buffer.from('hello world')), 'G07'], { details: { data: 'hello world' } }],
    ['binary data as hex', [...base32Labels(Buffer.from([0, 1, 2, 250])), 'g99'], { details: { dataHex: '000102fa' } }],
    ['not base32 before the marker', ['hello!', 'g10'], { details: { labels: ['hello!'], dataError: 'not base32' } }],
  ])('describes %s', (_label, labels, facts) => {
    expect(describeLabels(labels)).toEqual(facts);
  });

  it('a real lookup of a data-carrying name records the decoded data', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'dns' });
    const name = dataHostname(`${token.id}.${ZONE}`, Buffer.from('whoami=CORP\\svc_sql'));
    const reply = await ask(s.app.port('dns'), name, 'TXT');
    expect(reply?.rcode).toBe('NOERROR');
    const [hit] = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    expect(hit).toMatchObject({ channel: 'dns', qtype: 'TXT', classification: 'alert' });
    expect(hit?.details).toMatchObject({ data: 'whoami=CORP\\svc_sql' });
  });
});
