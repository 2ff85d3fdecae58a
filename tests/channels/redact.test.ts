import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSecretHeader, isSecretParam, redactHeader, redactQuery, SECRET_HEADERS, SECRET_PARAMS } from '../../src/channels/redact.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import { maskedPassword } from '../../src/tokens/secrets.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

/**
 * Redact by default (issue 15): secret-bearing headers and query parameters are stored only as
 * length + salted digest. The lists are the documented contract (docs/security.md); these
 * tables pin them, and a real request through the public listener proves nothing is kept in clear.
 */
const SECRET_HEADER_NAMES = [
  ...SECRET_HEADERS, 'Cookie', 'X-Vault-Token', 'Private-Token', 'X-Auth', 'X-Auth-Token', 'X-Auth-Key', 'X-Auth-User', 'X-Authorization',
  'X-Custom-Authorization', 'Authorization-Token', 'X-Goog-Api-Key', 'X-Functions-Key', 'X-Hub-Secret', 'X-Password', 'X-Refresh-Token', 'Auth', 'X-Shopify-Access-Token',
];
const PLAIN_HEADER_NAMES = ['user-agent', 'accept', 'host', 'x-forwarded-for', 'content-type', 'x-amz-date', 'x-amz-content-sha256', 'x-amz-target', 'kubectl-command', 'kubectl-session', 'x-request-id', 'author', 'keep-alive'];
const SECRET_PARAM_NAMES = [
  ...SECRET_PARAMS, 'client_secret', 'client-secret', 'access-token', 'access_token', 'id_token', 'refresh_token', 'sig', 'auth', 'token', 'api_key', 'api-key', 'apiKey',
  'password', 'private_token', 'X-Amz-Signature', 'X-Amz-Security-Token', 'signature', 'secret_key', 'access_key', 'code', 'SessionId',
];
const PLAIN_PARAM_NAMES = ['page', 'q', 'utm_source', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Algorithm', 'Action', 'Version', 'watch', 'limit', 'keyword', 'monkey_business'];

describe('which names are secret', () => {
  it.each(SECRET_HEADER_NAMES)('header %s is redacted', (name) => expect(isSecretHeader(name)).toBe(true));
  it.each(PLAIN_HEADER_NAMES)('header %s is kept', (name) => expect(isSecretHeader(name)).toBe(false));
  it.each(SECRET_PARAM_NAMES)('query parameter %s is redacted', (name) => expect(isSecretParam(name)).toBe(true));
  it.each(PLAIN_PARAM_NAMES)('query parameter %s is kept', (name) => expect(isSecretParam(name)).toBe(false));
});

describe('what is stored of a secret', () => {
  const salt = 'a'.repeat(24);
  it('length and a digest salted with the token id; an auth scheme stays readable', () => {
    const d = maskedPassword('s3cr3t-value', salt).digest;
    expect(redactHeader('Authorization', 'Bearer s3cr3t-value', salt)).toBe(`Bearer [redacted 12 chars, digest ${d}]`);
    expect(redactHeader('X-Vault-Token', 's3cr3t-value', salt)).toBe(`[redacted 12 chars, digest ${d}]`);
    expect(redactHeader('X-Vault-Token', 's3cr3t-value', 'b'.repeat(24))).not.toContain(d);
    expect(redactHeader('User-Agent', 'curl/8.5.0', salt)).toBe('curl/8.5.0');
  });

  it('a Cookie header keeps the cookie names, a Referer its URL, with every secret value redacted', () => {
    const cookie = redactHeader('Cookie', 'session=abc123; _gitlab_session=zzz; theme', salt);
    expect(cookie).toMatch(/^session=\[redacted 6 chars, digest [0-9a-f]{12}\]; _gitlab_session=\[redacted 3 chars, digest [0-9a-f]{12}\]; =\[redacted 5 chars, digest [0-9a-f]{12}\]$/);
    const ref = redactHeader('Referer', 'https://sso.corp.example/cb?code=oauthcode&state=xyz#frag', salt);
    expect(ref).toMatch(/^https:\/\/sso\.corp\.example\/cb\?code=%5Bredacted\+9\+chars%2C\+digest\+[0-9a-f]{12}%5D&state=xyz#frag$/);
  });

  it('a query keeps its plain parameters verbatim', () => {
    expect(redactQuery('?page=2&q=a+b', salt)).toBe('page=2&q=a+b');
    expect(redactQuery('', salt)).toBeNull();
    const q = redactQuery('?client_secret=s3cr3t-value&page=2&sig=abc', salt) ?? '';
    expect(new URLSearchParams(q).get('client_secret')).toBe(`[redacted 12 chars, digest ${maskedPassword('s3cr3t-value', salt).digest}]`);
    expect(new URLSearchParams(q).get('page')).toBe('2');
    expect(q).not.toContain('abc&');
  });
});

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.stop());

describe('the public listener stores no secret in clear', () => {
  it('headers, query and referer of a real request, with digests that match for repeats', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const secrets = ['cookie-secret-1', 'vault-secret-2', 'gitlab-secret-3', 'xauth-secret-4', 'client-secret-5', 'access-secret-6', 'sig-secret-7', 'auth-secret-8', 'ref-secret-9'];
    const query = `client_secret=${secrets[4]}&access-token=${secrets[5]}&sig=${secrets[6]}&auth=${secrets[7]}&page=2`;
    const headers = {
      cookie: `JSESSIONID=${secrets[0]}; lang=en`,
      'x-vault-token': secrets[1] ?? '',
      'private-token': secrets[2] ?? '',
      'x-auth-key': secrets[3] ?? '',
      referer: `https://intranet.corp.example/x?access_token=${secrets[8]}`,
      'user-agent': 'curl/8.5.0',
    };
    const sep = url?.includes('?') ? '&' : '?';
    for (let i = 0; i < 2; i++) expect((await fetch(`${url}${sep}${query}`, { headers })).status).toBe(200);
    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 10, order: 'asc' });
    expect(hits.reduce((n, h) => n + h.repeatCount, 0)).toBe(2);
    const stored = JSON.stringify(hits);
    for (const secret of secrets) expect(stored).not.toContain(secret);
    const h = hits[0];
    expect(h?.headers?.['x-vault-token']).toBe(`[redacted ${secrets[1]?.length} chars, digest ${maskedPassword(secrets[1] ?? '', token.id).digest}]`);
    expect(h?.headers?.cookie).toMatch(/^JSESSIONID=\[redacted 15 chars, digest [0-9a-f]{12}\]; lang=\[redacted 2 chars/);
    expect(new URLSearchParams(h?.query ?? '').get('page')).toBe('2');
    expect(h?.referer).toMatch(/^https:\/\/intranet\.corp\.example\/x\?access_token=%5Bredacted/);
    expect(h?.userAgent).toBe('curl/8.5.0');
  });
});
