import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The server side of SCRAM-SHA-256 (RFC 5802 / 7677) as PostgreSQL runs it, reduced to what a
 * listener that never lets anyone in needs: parse the client's two messages and check whether
 * the client proof was made from a given password. Primitives are node:crypto (PBKDF2, HMAC).
 */

/** PostgreSQL's default `scram_iterations`. */
export const SCRAM_ITERATIONS = 4096;

/** The client-first-message: GS2 header flag, the bare part (signed later) and the client nonce. */
export interface ClientFirst {
  flag: 'n' | 'y' | 'p';
  bare: string;
  nonce: string;
}

/** The client-final-message: the part without the proof (signed) and what it carries. */
export interface ClientFinal {
  withoutProof: string;
  channelBinding: string;
  nonce: string;
  proof: Buffer;
}

/** Why a client-first-message is malformed, in PostgreSQL's words where it matters. */
export type ScramParse<T> = { ok: true; value: T } | { ok: false; detail: string | null };

const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;

export function parseClientFirst(message: string): ScramParse<ClientFirst> {
  const flag = message.charAt(0);
  if (flag !== 'n' && flag !== 'y' && flag !== 'p') return { ok: false, detail: `Unexpected channel-binding flag "${flag.replace(/[^\x20-\x7e]/g, '?')}".` };
  // gs2-header: flag [=cb-name] "," [authzid] ","
  const m = /^(n|y|p=[A-Za-z0-9.-]+),(a=[^,]*)?,(.*)$/s.exec(message);
  if (!m) return { ok: false, detail: null };
  const bare = m[3] ?? '';
  const parts = /^(?:m=[^,]*,)?n=([^,]*),r=([^,]+)(,.*)?$/s.exec(bare);
  const nonce = parts?.[2] ?? '';
  if (!parts || !PRINTABLE.test(nonce)) return { ok: false, detail: null };
  return { ok: true, value: { flag, bare, nonce } };
}

export function parseClientFinal(message: string): ScramParse<ClientFinal> {
  const m = /^c=([A-Za-z0-9+/=]*),r=([^,]+)(,(?!p=)[^,]*)*,p=([A-Za-z0-9+/=]+)$/s.exec(message);
  if (!m) return { ok: false, detail: null };
  const proofAt = message.lastIndexOf(',p=');
  const proof = Buffer.from(m[4] ?? '', 'base64');
  if (proof.length !== 32) return { ok: false, detail: null };
  return { ok: true, value: { withoutProof: message.slice(0, proofAt), channelBinding: m[1] ?? '', nonce: m[2] ?? '', proof } };
}

/** The server's nonce part: 18 random bytes in base64, as PostgreSQL makes it. */
export function serverNonce(): string {
  return randomBytes(18).toString('base64');
}

/** The server-first-message for a combined nonce, salt and iteration count. */
export function serverFirst(nonce: string, salt: Buffer, iterations: number = SCRAM_ITERATIONS): string {
  return `r=${nonce},s=${salt.toString('base64')},i=${iterations}`;
}

const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();

/**
 * Whether `proof` (ClientKey XOR ClientSignature) was computed from `password`: recover the
 * ClientKey with the StoredKey the password gives and compare their hashes. Planted passwords
 * are printable ASCII, which SASLprep leaves unchanged.
 */
export function proofMatches(password: string, salt: Buffer, iterations: number, authMessage: string, proof: Buffer): boolean {
  if (proof.length !== 32) return false;
  const storedKey = storedKeyFor(password, salt, iterations);
  const signature = hmac(storedKey, authMessage);
  const clientKey = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) clientKey[i] = (proof[i] ?? 0) ^ (signature[i] ?? 0);
  return timingSafeEqual(createHash('sha256').update(clientKey).digest(), storedKey);
}

/**
 * StoredKey = H(HMAC(PBKDF2(password, salt, i), "Client Key")), remembered: salts are stable per
 * user, so a client repeating sign-ins with the planted role costs HMACs, not 4096 PBKDF2 rounds
 * each on the event loop. Bounded: cleared when full.
 */
const storedKeys = new Map<string, Buffer>();
const MAX_STORED_KEYS = 1024;

function storedKeyFor(password: string, salt: Buffer, iterations: number): Buffer {
  const key = createHash('sha256').update(`${salt.toString('base64')}\0${iterations}\0${password}`).digest('base64');
  const known = storedKeys.get(key);
  if (known) return known;
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const stored = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  if (storedKeys.size >= MAX_STORED_KEYS) storedKeys.clear();
  storedKeys.set(key, stored);
  return stored;
}

/** The AuthMessage both sides sign. */
export function authMessage(first: ClientFirst, serverFirstMessage: string, final: ClientFinal): string {
  return `${first.bare},${serverFirstMessage},${final.withoutProof}`;
}
