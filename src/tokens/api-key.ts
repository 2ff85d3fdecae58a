import { z } from 'zod';
import { describeClient, detail } from './hit-words.ts';
import { defineKind, type Decoy, type HitFacts, type HitMeaning, type HttpReply, type HttpRequestInfo, type StoredHit, type Token } from './kind.ts';
import { apiKeyCandidates, backdate, BASE62, choose, maskedPassword, randomString, requestId, secretTerm, sha256 } from './secrets.ts';
import { renderTemplate } from './templates.ts';
import { fillRoute } from './addresses.ts';
import { publicUrl } from './urls.ts';

/**
 * A `.env` or JSON config holding an API base URL on the public listener and a vendor-looking
 * key. Any request carrying the key (bearer, X-API-Key-style header, or query) is a
 * credential-use hit wherever it is sent on the listener. The lookup key is the SHA-256 of the
 * key, so the unique index finds it in O(1) and the key column never holds the secret itself.
 */

/** What a planted key looks like (and what the listener recognises as one). */
const KEY_SHAPE = /^[a-z]{2,6}_(live|test)_[A-Za-z0-9]{32}$/;

const params = z.object({
  format: z.enum(['env', 'json']).default('env').describe('File to plant: a .env file or a JSON config'),
  service: z.string().trim().regex(/^[A-Za-z][A-Za-z0-9 ._-]{1,39}$/, 'must be 2-40 letters, digits, spaces, . _ or -').default('Payments').describe('Name of the (fictional) API the key belongs to'),
  environment: z.enum(['production', 'staging']).default('production').describe('Environment named in the file'),
  keyPrefix: z.string().regex(/^[a-z]{2,6}$/, 'must be 2-6 lower-case letters').optional().describe('Key prefix such as "sk" (random when empty)'),
  key: z.string().trim().regex(KEY_SHAPE, 'must look like sk_live_ followed by 32 letters or digits (prefix of 2-6 lower-case letters, live or test)').optional().describe('The key (generated when empty)'),
  basePath: z.string().optional().describe('Generated'),
});
type ApiKeyParams = z.infer<typeof params>;

const PREFIXES = ['sk', 'ak', 'key', 'tok', 'pk', 'rk'];

/** The lookup key of a planted API key. */
export function apiLookupKey(key: string): string {
  return `api:${sha256(key)}`;
}

/** The key as it may appear in alerts: enough to recognise it, not enough to use it. */
function masked(key: string): string {
  return `${key.slice(0, Math.min(12, key.length - 4))}…${key.slice(-4)}`;
}

function describe(req: HttpRequestInfo, t: Token<ApiKeyParams>): HitFacts {
  const base = { method: req.method, endpoint: relPath(req, t), contentType: req.headers['content-type'] ?? null };
  const candidates = apiKeyCandidates(req);
  const planted = t.params.key ?? '';
  if (candidates.includes(planted)) return { credential: masked(planted), details: { ...base, via: via(req, planted) } };
  if (candidates.length > 0) {
    return { classification: 'probe', details: { ...base, note: 'a key that is not the planted one', keys: candidates.slice(0, 3).map((k) => maskedPassword(k, t.id)) } };
  }
  return { details: { ...base, note: 'API base contacted without a key' } };
}

function explain(hit: StoredHit, t: Decoy<ApiKeyParams>): HitMeaning {
  const client = describeClient(hit.userAgent) ?? 'a client without a user agent';
  const call = `${detail(hit.details, 'method') ?? hit.method ?? 'GET'} ${detail(hit.details, 'endpoint') ?? '/'}`;
  const api = `the ${t.params.service} API`;
  if (hit.credential) return { action: `${client} called ${call} on ${api} with the planted key ${hit.credential}`, evidence: 'credential-used', techniques: ['T1552.001', 'T1078'] };
  if (Array.isArray(hit.details?.keys)) return { action: `${client} called ${call} on ${api} with another key`, evidence: 'credential-found', techniques: ['T1552.001'] };
  return { action: `${client} called ${call} on ${api} without a key`, evidence: 'credential-found', techniques: ['T1552.001'] };
}

function via(req: HttpRequestInfo, key: string): string {
  if (String(req.headers.authorization ?? '').includes(key)) return 'authorization';
  for (const [name, value] of Object.entries(req.headers)) if (value === key) return `header:${name}`;
  return 'query';
}

function relPath(req: HttpRequestInfo, t: Token<ApiKeyParams>): string {
  const base = t.params.basePath ?? '';
  return base && req.path.startsWith(base) ? req.path.slice(base.length) || '/' : req.path;
}

function respond(req: HttpRequestInfo, t: Token<ApiKeyParams>): HttpReply {
  const headers = { 'content-type': 'application/json', 'x-request-id': requestId(), 'cache-control': 'no-store' };
  const hasOurs = apiKeyCandidates(req).includes(t.params.key ?? '');
  if (hasOurs) {
    const body = { error: { type: 'permission_error', code: 'key_restricted', message: 'This API key does not have permission to perform this request. Ask an administrator to grant access.' } };
    return { status: 403, headers, body: JSON.stringify(body) };
  }
  const body = { error: { type: 'authentication_error', code: 'invalid_api_key', message: 'Invalid or missing API key.' } };
  return { status: 401, headers: { ...headers, 'www-authenticate': 'Bearer realm="api"' }, body: JSON.stringify(body) };
}

function baseUrl(ctx: { config: { PUBLIC_URL: string } }, t: Token<ApiKeyParams>): string {
  return publicUrl(ctx.config, t.params.basePath ?? t.urlPath ?? '/');
}

/** A vendor-looking API key plus base URL: any request carrying the key is a hit. */
export const apiKey = defineKind<ApiKeyParams>({
  id: 'api-key',
  label: 'API key',
  description: 'A .env or JSON config with an API base URL and a bearer key. Any request carrying the key (header or query) is recorded.',
  channels: ['http'],
  techniques: ['T1552.001', 'T1078'],
  params,
  example: { format: 'env', service: 'Payments' },
  internalParams: ['basePath'],
  generated: ['key'],
  searchTerms: (t) => [secretTerm(t.params.key ?? '')],
  create(_ctx, _id, p) {
    const prefix = p.keyPrefix ?? choose(PREFIXES);
    const key = p.key ?? `${prefix}_${p.environment === 'production' ? 'live' : 'test'}_${randomString(BASE62, 32)}`;
    const basePath = fillRoute(choose(['/api/{word}-{hex}/v1', '/gateway/t/{b36}/v2', '/rest/{num}/v3', '/svc/{uuid}/v1', '/{b62}/api/v2']));
    return { params: { ...p, keyPrefix: prefix, key, basePath }, lookupKey: apiLookupKey(key), urlPath: basePath };
  },
  artifact(ctx, t) {
    return {
      url: baseUrl(ctx, t),
      filename: t.params.format === 'env' ? '.env' : 'config.json',
      contentType: t.params.format === 'env' ? 'text/plain; charset=utf-8' : 'application/json',
      hint: `Plant next to an application's code or deployment files. Key ${masked(t.params.key ?? '')}.`,
    };
  },
  render(ctx, t) {
    const url = baseUrl(ctx, t);
    const key = t.params.key ?? '';
    if (t.params.format === 'json') {
      const serviceKey = t.params.service.toLowerCase().replace(/[^a-z0-9]+/g, '_');
      const body = renderTemplate(
        'tokens/api-key/config.json.hbs',
        { environmentJson: JSON.stringify(t.params.environment), serviceKeyJson: JSON.stringify(serviceKey), urlJson: JSON.stringify(url), keyJson: JSON.stringify(key) },
        'text',
      );
      return { filename: 'config.json', contentType: 'application/json', body: Buffer.from(body) };
    }
    const envPrefix = t.params.service.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
    const created = backdate(14, 120).toISOString().slice(0, 10);
    const body = renderTemplate('tokens/api-key/env.hbs', { service: t.params.service, environment: t.params.environment, envPrefix, url, key, created }, 'text');
    return { filename: '.env', contentType: 'text/plain; charset=utf-8', body: Buffer.from(body) };
  },
  explain,
  http: {
    lookupKey(req) {
      const keys = apiKeyCandidates(req).filter((k) => KEY_SHAPE.test(k));
      return keys[0] ? apiLookupKey(keys[0]) : null;
    },
    describe,
    respond,
  },
});
