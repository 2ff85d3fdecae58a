import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { deleteSetting, setSetting, settingsWithPrefix, takeSetting } from '../db/queries/settings.ts';
import type { AnyDb } from '../db/store.ts';

/**
 * One-time views for post/redirect/get: a POST that makes a secret (a new API key, a reset
 * password, recovery codes) or a result (a test email) stores it here and redirects to a GET
 * page that shows it once. Reloading that page shows "already shown" and makes nothing new.
 * The value is encrypted (AES-256-GCM) with a key derived from the random reference that
 * only the redirect URL carries; the database row is keyed by the reference's digest, bound
 * to the session that made it, deleted when read, and expires after `ONCE_TTL_MS`.
 */

/** How long a one-time view waits to be opened. */
export const ONCE_TTL_MS = 10 * 60_000;
const PREFIX = 'once:';

interface Sealed {
  session: string;
  expiresAt: number;
  iv: string;
  tag: string;
  data: string;
}

const digest = (v: string, label: string) => createHash('sha256').update(`${label}\0${v}`).digest();

/** Store `value` for one viewing by `sessionId`; returns the reference to put in the redirect URL. */
export async function putOnce(db: AnyDb, sessionId: string, value: unknown): Promise<string> {
  const ref = randomBytes(24).toString('base64url');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', digest(ref, 'key'), iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  const sealed: Sealed = { session: sessionId, expiresAt: Date.now() + ONCE_TTL_MS, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  await setSetting(db, `${PREFIX}${digest(ref, 'id').toString('hex').slice(0, 40)}`, sealed);
  await purgeExpired(db);
  return ref;
}

/** The value behind `ref` for this session, removed as it is read; undefined when shown already, expired or not this session's. */
export async function takeOnce<T>(db: AnyDb, sessionId: string, ref: string): Promise<T | undefined> {
  if (!/^[\w-]{32}$/.test(ref)) return undefined;
  const key = `${PREFIX}${digest(ref, 'id').toString('hex').slice(0, 40)}`;
  const sealed = await takeSetting<Sealed>(db, key);
  if (!sealed || sealed.session !== sessionId || sealed.expiresAt < Date.now()) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', digest(ref, 'key'), Buffer.from(sealed.iv, 'base64'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    const text = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

async function purgeExpired(db: AnyDb): Promise<void> {
  const now = Date.now();
  for (const row of await settingsWithPrefix<Partial<Sealed>>(db, PREFIX, 200)) {
    if ((row.value?.expiresAt ?? 0) < now) await deleteSetting(db, row.key);
  }
}
