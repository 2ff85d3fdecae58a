import { parseEnv } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import { maskedPassword } from '../../src/tokens/secrets.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.stop());

const hitsOf = (tokenId: string) => listHits(s.app.deps.db, { tokenId, limit: 100, order: 'asc' });

/** Create a token and read base URL and key out of the planted file, as an intruder would. */
async function planted(params: Record<string, unknown> = {}): Promise<{ token: TokenRow; base: string; key: string }> {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'api-key', params });
  const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  const text = file.body.toString('utf8');
  if (file.filename === 'config.json') {
    const json = JSON.parse(text) as { integrations: Record<string, { baseUrl: string; apiKey: string }> };
    const entry = Object.values(json.integrations)[0];
    return { token, base: entry?.baseUrl ?? '', key: entry?.apiKey ?? '' };
  }
  const env = parseEnv(text);
  const base = Object.entries(env).find(([k]) => k.endsWith('_API_URL'))?.[1] ?? '';
  const key = Object.entries(env).find(([k]) => k.endsWith('_API_KEY'))?.[1] ?? '';
  return { token, base, key };
}

describe('api-key kind', () => {
  it('plants a .env whose variables name the service, with a vendor-shaped key and a base URL on the listener', async () => {
    const { token, base, key } = await planted({ format: 'env', service: 'Billing Gateway', keyPrefix: 'sk' });
    expect(key).toMatch(/^sk_live_[A-Za-z0-9]{32}$/);
    expect(base).toBe(`${s.publicUrl}${token.urlPath}`);
    const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
    expect(file.body.toString()).toContain('BILLING_GATEWAY_API_KEY=');
    // The lookup key is a digest: the key column never holds the secret.
    expect(token.lookupKey).toMatch(/^api:[0-9a-f]{64}$/);
    expect(token.lookupKey).not.toContain(key);
  });

  it('plants valid JSON config too', async () => {
    const { base, key } = await planted({ format: 'json', environment: 'staging' });
    expect(key).toMatch(/^[a-z]{2,6}_test_[A-Za-z0-9]{32}$/);
    expect(base.startsWith(s.publicUrl)).toBe(true);
  });

  it.each([
    ['bearer', (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` }), ''],
    ['x-api-key header', (key: string): Record<string, string> => ({ 'x-api-key': key }), ''],
    ['query', (): Record<string, string> => ({}), 'api_key'],
  ] as const)('a request carrying the key (%s) is a credential-use hit, answered 403 like a restricted key', async (_how, init, queryName) => {
    const { token, base, key } = await planted();
    const url = `${base}/customers?limit=10${queryName ? `&${queryName}=${key}` : ''}`;
    const res = await fetch(url, { headers: { 'user-agent': 'python-requests/2.31.0', ...init(key) } });
    expect(res.status).toBe(403);
    expect(res.headers.get('server')).toBe('nginx');
    const body = (await res.json()) as { error: { code: string } };
    expect(body.error.code).toBe('key_restricted');
    const hit = (await hitsOf(token.id)).at(-1);
    expect(hit).toMatchObject({ classification: 'alert', userAgent: 'python-requests/2.31.0' });
    expect(hit?.credential).toMatch(new RegExp(`^${key.slice(0, 12)}…${key.slice(-4)}$`));
    expect(hit?.details).toMatchObject({ endpoint: '/customers' });
  });

  it('the key is recognised anywhere on the listener through the indexed lookup key (no token id in the URL)', async () => {
    const { token, key } = await planted();
    const res = await fetch(`${s.publicUrl}/v1/charges`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{"amount":100}' });
    expect(res.status).toBe(403);
    expect((await hitsOf(token.id)).map((h) => h.path)).toEqual(['/v1/charges']);
  });

  it('the base URL without a key answers 401 and records a plain touch; another key is probing, stored masked', async () => {
    const { token, base } = await planted();
    const none = await fetch(`${base}/me`);
    expect(none.status).toBe(401);
    const foreign = 'sk_live_ThisIsSomebodyElsesRealKey0000000';
    const other = await fetch(`${base}/me`, { headers: { authorization: `Bearer ${foreign}` } });
    expect(other.status).toBe(401);
    const hits = await hitsOf(token.id);
    expect(hits.map((h) => [h.credential, h.classification])).toEqual([
      [null, 'alert'],
      [null, 'probe'],
    ]);
    expect(JSON.stringify(hits[1])).not.toContain(foreign);
  });

  it('a foreign key in a header or the query is never stored in clear (headers and query are redacted)', async () => {
    const { token, base } = await planted();
    const foreign = 'ak_live_SomebodyElsesKeyInTheHeader00000';
    await fetch(`${base}/me?api_key=${foreign}&page=2`, { headers: { 'x-api-key': foreign, 'x-auth-token': foreign } });
    const hit = (await hitsOf(token.id)).at(-1);
    expect(hit).toMatchObject({ classification: 'probe', credential: null });
    expect(JSON.stringify(hit)).not.toContain(foreign);
    const digest = maskedPassword(foreign, token.id).digest;
    expect(hit?.query).toBe(`api_key=%5Bredacted+${foreign.length}+chars%2C+digest+${digest}%5D&page=2`);
    expect(hit?.headers?.['x-api-key']).toBe(`[redacted ${foreign.length} chars, digest ${digest}]`);
  });

  it('an unknown key sent to the bare listener is not a hit and gets the stock 404', async () => {
    const res = await fetch(`${s.publicUrl}/v1/charges`, { method: 'POST', headers: { authorization: 'Bearer sk_live_00000000000000000000000000000000' } });
    expect(res.status).toBe(404);
  });
});
