import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { HttpRequestInfo } from './kind.ts';

/**
 * Small helpers shared by the credential kinds (credentials, aws-keys, api-key, kubeconfig):
 * generating realistic secrets, pulling credentials out of requests, and keeping passwords
 * that are not ours out of storage.
 */

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** The characters AWS uses in access key ids after the 4-letter prefix. */
export const AWS_KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const AWS_SECRET_ALPHABET = `${BASE62}+/`;

/** `length` characters drawn uniformly (CSPRNG) from `alphabet`. */
export function randomString(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** Pick one item (CSPRNG). */
export function choose<T>(items: readonly T[]): T {
  const item = items[randomInt(items.length)];
  if (item === undefined) throw new Error('choose from an empty list');
  return item;
}

/** Hex SHA-256: how a planted secret becomes a lookup key without the key column holding the secret itself. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * A search term standing for a planted secret (an API key, a service-account token): its digest,
 * so an analyst holding the secret finds the decoy while the search index never holds it.
 */
export function secretTerm(secret: string): string {
  return `sha256:${sha256(secret.trim())}`;
}

/** base64url of `n` random bytes. */
export function randomB64url(n: number): string {
  return randomBytes(n).toString('base64url');
}

/** Longest credential value we look at; anything longer is not one of ours. */
const MAX_SECRET = 4096;

function header(req: HttpRequestInfo, name: string): string | undefined {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s.length > MAX_SECRET ? undefined : s;
}

/** `Authorization: Basic …` decoded, or null when absent or malformed. */
export function basicAuth(req: HttpRequestInfo): { username: string; password: string } | null {
  const m = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header(req, 'authorization') ?? '');
  if (!m?.[1]) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** `Authorization: Bearer …` (also the `token` scheme some clients use), or null. */
export function bearerToken(req: HttpRequestInfo): string | null {
  const m = /^\s*(?:bearer|token)\s+(\S+)\s*$/i.exec(header(req, 'authorization') ?? '');
  return m?.[1] ?? null;
}

/** Every place an API client may put a key: bearer, X-API-Key-style headers, common query names. */
export function apiKeyCandidates(req: HttpRequestInfo): string[] {
  const out = new Set<string>();
  const bearer = bearerToken(req);
  if (bearer) out.add(bearer);
  for (const name of ['x-api-key', 'api-key', 'x-auth-token', 'x-access-token', 'apikey']) {
    const v = header(req, name)?.trim();
    if (v) out.add(v);
  }
  for (const name of ['api_key', 'apikey', 'key', 'token', 'access_token']) {
    const v = req.query.get(name);
    if (v && v.length <= MAX_SECRET) out.add(v);
  }
  return [...out];
}

/** A form body (`application/x-www-form-urlencoded`), or null for other bodies. */
export function formBody(req: HttpRequestInfo): URLSearchParams | null {
  const type = header(req, 'content-type') ?? '';
  if (req.body.length === 0 || !/^application\/x-www-form-urlencoded/i.test(type)) return null;
  return new URLSearchParams(req.body.toString('utf8'));
}

/**
 * What we keep of a password that is not ours: its length and a short salted digest, so repeated
 * guesses can be correlated without the password ever being stored or recoverable by lookup tables.
 */
export function maskedPassword(password: string, salt: string): { length: number; digest: string } {
  return { length: password.length, digest: sha256(`${salt}\0${password}`).slice(0, 12) };
}

/** Escape the five XML special characters (AWS error bodies echo request values). */
export function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}

/** A request id in the shape AWS and most APIs use (uuid v4). */
export function requestId(): string {
  return crypto.randomUUID();
}

/** Clip attacker-controlled text before it is stored in details. */
export function clipText(s: string | null | undefined, max = 256): string | null {
  if (s === null || s === undefined) return null;
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

const PASS_WORDS = [
  'Harbor', 'Falcon', 'Granite', 'Maple', 'Summit', 'Copper', 'Orchid', 'Lantern', 'Willow', 'Atlas', 'Cobalt', 'Meadow', 'Winter', 'Autumn',
  'Spring', 'Summer', 'Rocket', 'Tiger', 'Hazel', 'Juniper', 'Pepper', 'Marble', 'Canyon', 'Ember', 'Raven', 'Sierra', 'Bravo', 'Delta',
] as const;
const PASS_SYMBOLS = ['!', '#', '$', '%', '*', '?', '&', '.', '_'] as const;
const LEET: Record<string, string> = { a: '4', e: '3', i: '1', o: '0', s: '5' };

/**
 * A password in one of the shapes people and their tools really use (season and year, two
 * words and digits, a passphrase, leetspeak, a password manager's random string …), so no single
 * pattern matches every planted one. Never starts with a formula character; 8 characters or more.
 */
export function humanPassword(): string {
  const w = () => choose(PASS_WORDS);
  const sym = () => choose(PASS_SYMBOLS);
  const year = () => String(new Date().getUTCFullYear() - randomInt(0, 4));
  const shapes = [
    () => `${w()}${sym()}${w().toLowerCase()}${randomInt(10, 99)}${randomString('ABCDEFGHJKLMNPQRSTUVWXYZ', 2)}`,
    () => `${w()}${year()}${sym()}`,
    () => `${w().toLowerCase()}-${w().toLowerCase()}-${randomInt(10, 9999)}`,
    () => `${w()}${w()}${randomInt(1, 999)}`,
    () => randomString(`${BASE62}!#%*?`, 12 + randomInt(9)).replace(/^[=+\-@]/, 'x'),
    () => `${w().replace(/[aeios]/g, (c) => LEET[c] ?? c)}${sym()}${randomInt(100, 9999)}`,
    () => [w(), w(), w()].map((x) => x.toLowerCase()).join(choose(['.', ' ', '_', '-'])).replace(/ /g, '') + (randomInt(2) ? String(randomInt(1, 99)) : ''),
    () => `${randomString('ABCDEFGHJKLMNPQRSTUVWXYZ', 1)}${randomString('abcdefghijkmnopqrstuvwxyz', 5)}${randomInt(1000, 99999)}${sym()}`,
  ];
  const p = choose(shapes)();
  return p.length >= 8 ? p : `${p}${randomInt(1000, 9999)}`;
}

/**
 * A moment `minDays`-`maxDays` days before `now` at a random time of day: backdated times that
 * neither keep the generation's time of day nor a fixed offset from it.
 */
export function backdate(minDays: number, maxDays: number, now = Date.now()): Date {
  const day = new Date(now - randomInt(minDays, maxDays + 1) * 86_400_000);
  day.setUTCHours(0, 0, 0, 0);
  const at = new Date(day.getTime() + randomInt(86_400) * 1000);
  return at.getTime() < now ? at : new Date(now - randomInt(60, 3600) * 1000);
}
