import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Config } from '../config.ts';
import { getSetting, setSetting } from '../db/queries/settings.ts';
import type { AnyDb } from '../db/store.ts';
import { randomToken, readCookie, setCookie } from './session.ts';

/**
 * Known-good sign-in contexts of an account (OWASP device cookies): a browser that signed in
 * successfully gets a long-lived random device cookie, and the address it came from is
 * remembered. Attempts from either skip the per-account slowdown (throttle.ts), so an attacker
 * guessing an account's password from elsewhere cannot lock its owner out. Only digests of
 * device cookies are stored, in the `settings` table (`login-known:<user id>`), bounded per
 * account; entries older than KNOWN_FOR are forgotten.
 */

/** Name of the device cookie. */
export const DEVICE_COOKIE = 'ht_device';
/** How long a device cookie and a remembered address stay known-good after their last successful sign-in. */
export const KNOWN_FOR_MS = 180 * 86_400_000;
const MAX_DEVICES = 10;
const MAX_ADDRESSES = 20;

interface Known {
  devices: { id: string; at: number }[];
  addresses: { ip: string; at: number }[];
}

const digest = (v: string): string => createHash('sha256').update(v).digest('hex');
const settingKey = (userId: string): string => `login-known:${userId}`;

async function load(db: AnyDb, userId: string, now: number): Promise<Known> {
  const v = await getSetting<Partial<Known>>(db, settingKey(userId));
  const fresh = <T extends { at: number }>(list: unknown): T[] => (Array.isArray(list) ? (list as T[]).filter((x) => typeof x?.at === 'number' && x.at > now - KNOWN_FOR_MS) : []);
  return { devices: fresh(v?.devices), addresses: fresh(v?.addresses) };
}

/**
 * Is this request from a known-good context of the account? `device` is the cookie's digest when
 * it is one of the account's. An unknown account is looked up all the same (under a key no user
 * id has), so the sign-in takes the same time whether the account exists.
 */
export async function knownContext(db: AnyDb, userId: string | undefined, req: Request): Promise<{ device: string | null; knownAddress: boolean }> {
  const known = await load(db, userId ?? '(no such user)', Date.now());
  const cookie = readCookie(req, DEVICE_COOKIE);
  const id = cookie && /^[\w-]{20,64}$/.test(cookie) ? digest(cookie) : null;
  return {
    device: id && known.devices.some((d) => d.id === id) ? id : null,
    knownAddress: known.addresses.some((a) => a.ip === (req.ip ?? '')),
  };
}

/** After a successful sign-in: remember the address, and give the browser a device cookie unless it has a known one. */
export async function rememberContext(db: AnyDb, config: Config, req: Request, res: Response, userId: string): Promise<void> {
  const now = Date.now();
  const known = await load(db, userId, now);
  const cookie = readCookie(req, DEVICE_COOKIE);
  let id = cookie && /^[\w-]{20,64}$/.test(cookie) ? digest(cookie) : null;
  if (!id || !known.devices.some((d) => d.id === id)) {
    const value = randomToken();
    id = digest(value);
    setCookie(res, config, req, DEVICE_COOKIE, value, KNOWN_FOR_MS);
  }
  const ip = req.ip ?? '';
  const devices = [{ id, at: now }, ...known.devices.filter((d) => d.id !== id)].slice(0, MAX_DEVICES);
  const addresses = [{ ip, at: now }, ...known.addresses.filter((a) => a.ip !== ip)].slice(0, MAX_ADDRESSES);
  await setSetting(db, settingKey(userId), { devices, addresses });
}
