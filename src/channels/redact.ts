import { maskedPassword } from '../tokens/secrets.ts';

/**
 * Secrets in what the public listener stores of a request. Intruders send credentials that
 * are not ours (their own session cookies, vault and CI tokens, signed URLs); a hit must never
 * keep them in clear, yet repeats should still be recognisable. A secret-bearing header or query
 * parameter is stored as `[redacted <length> chars, digest <12 hex>]`: its length and a SHA-256
 * digest salted with the token id (`maskedPassword`), so the same secret sent twice to one
 * decoy gives the same digest and nothing can be looked up. Documented in docs/security.md.
 */

/** Header names stored redacted (lower case), besides every name SECRET_HEADER_PARTS matches. */
export const SECRET_HEADERS: readonly string[] = [
  'authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'api-key', 'apikey', 'x-auth-token', 'x-access-token',
  'x-amz-security-token', 'x-vault-token', 'private-token', 'x-gitlab-token', 'x-csrf-token', 'x-xsrf-token', 'ocp-apim-subscription-key',
];

/**
 * Name parts that make any header secret-bearing: anything Authorization-like (`authoriz…`,
 * `x-auth…`, an `auth` word), tokens, secrets, passwords, API keys and names ending in `key`.
 */
export const SECRET_HEADER_PARTS = /authori[sz]|^x-auth|(?:^|-)auth(?:-|$)|token|secret|passw|api-?key|(?:^|-)key$/;

/** Query parameter names stored redacted (lower case), besides every name SECRET_PARAM_PARTS matches. */
export const SECRET_PARAMS: readonly string[] = [
  'key', 'apikey', 'auth', 'sig', 'code', 'pass', 'pwd', 'sid', 'session', 'sessionid', 'jwt', 'x-amz-signature', 'x-amz-security-token', 'x-goog-signature',
];

/** Name parts that make any query parameter secret-bearing: tokens (`access_token`, `access-token`, `id_token` …), secrets (`client_secret`), passwords, signatures, API keys, names ending in `key`. */
export const SECRET_PARAM_PARTS = /token|secret|passw|signature|api[-_]?key|(?:^|[-_])key$/;

const HEADERS = new Set(SECRET_HEADERS);
const PARAMS = new Set(SECRET_PARAMS);
/** Most cookies listed one by one in a redacted Cookie header. */
const MAX_COOKIES = 20;

/** Does a request header with this name carry a secret? */
export function isSecretHeader(name: string): boolean {
  const n = name.toLowerCase();
  return HEADERS.has(n) || SECRET_HEADER_PARTS.test(n);
}

/** Does a query (or form) parameter with this name carry a secret? */
export function isSecretParam(name: string): boolean {
  const n = name.toLowerCase();
  return PARAMS.has(n) || SECRET_PARAM_PARTS.test(n);
}

/** What is kept of one secret value: its length and salted digest. */
export function redacted(value: string, salt: string): string {
  const m = maskedPassword(value, salt);
  return `[redacted ${m.length} chars, digest ${m.digest}]`;
}

/**
 * A header value as stored. Secret headers keep an auth scheme (`Bearer`, `Basic`, `AWS4-HMAC-SHA256`)
 * and redact the rest; a Cookie header keeps each cookie's name and redacts each value; a
 * Referer keeps its URL with secret query parameters redacted. Other headers are returned as is.
 */
export function redactHeader(name: string, value: string, salt: string): string {
  const n = name.toLowerCase();
  if (n === 'cookie') return redactCookies(value, salt);
  if (n === 'referer') return redactUrl(value, salt);
  if (!isSecretHeader(n)) return value;
  const scheme = /^[A-Za-z0-9-]{1,40} /.exec(value)?.[0] ?? '';
  return `${scheme}${redacted(value.slice(scheme.length), salt)}`;
}

/** The query string as stored with a hit (without `?`): verbatim unless a secret-bearing parameter must be redacted; null when empty. */
export function redactQuery(search: string, salt: string): string | null {
  const raw = search.startsWith('?') ? search.slice(1) : search;
  if (!raw) return null;
  const params = new URLSearchParams(raw);
  // The token's own id (the salt) in its own URL (`?sid=<id>`) is no secret of the sender's.
  const secret = (k: string, v: string) => isSecretParam(k) && v !== salt;
  if (![...params].some(([k, v]) => secret(k, v))) return raw;
  const out = new URLSearchParams();
  for (const [k, v] of params) out.append(k, secret(k, v) ? redacted(v, salt) : v);
  return out.toString();
}

/** A URL (a Referer) with secret query parameters redacted. */
export function redactUrl(value: string, salt: string): string {
  const q = value.indexOf('?');
  if (q < 0) return value;
  const end = value.indexOf('#', q);
  const query = redactQuery(value.slice(q + 1, end < 0 ? undefined : end), salt);
  return `${value.slice(0, q)}${query ? `?${query}` : ''}${end < 0 ? '' : value.slice(end)}`;
}

function redactCookies(value: string, salt: string): string {
  const parts = value.split(';');
  const shown = parts.slice(0, MAX_COOKIES).map((part) => {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? '' : part.slice(0, eq)).trim().slice(0, 64);
    return `${name}=${redacted(eq < 0 ? part.trim() : part.slice(eq + 1).trim(), salt)}`;
  });
  return `${shown.join('; ')}${parts.length > MAX_COOKIES ? `; …${parts.length - MAX_COOKIES} more` : ''}`;
}
