import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { newImagePath, newPagePath, type PathWords } from './addresses.ts';

export type UrlStyle = 'image' | 'page';

function pick<T>(items: readonly T[]): T {
  const item = items[randomInt(items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/**
 * A new token's URL path, in a shape real sites use (see addresses.ts): an image asset name or
 * a page or share link. It carries no token id; the public listener finds the token by this
 * stored path.
 */
export function newTokenPath(config: PathWords, style: UrlStyle): string {
  return style === 'image' ? newImagePath(config) : newPagePath(config);
}

/** Absolute URL of a stored token path under PUBLIC_URL. */
export function publicUrl(config: Pick<Config, 'PUBLIC_URL'>, path: string): string {
  return `${config.PUBLIC_URL}${path.startsWith('/') ? path : `/${path}`}`;
}

export { pick };

/**
 * A destination a token forwards its visitor to (redirect, QR): https only, no credentials in
 * the URL, a fully qualified host, bounded length.
 */
export const httpsTarget = z
  .string()
  .max(2048)
  .url('must be an absolute URL')
  .refine((v) => new URL(v).protocol === 'https:', 'must be an https:// URL')
  .refine((v) => {
    const u = new URL(v);
    return u.username === '' && u.password === '';
  }, 'must not contain a user name or password')
  .refine((v) => {
    const host = new URL(v).hostname.replace(/^\[|\]$/g, '');
    return isIP(host) !== 0 || host.includes('.');
  }, 'must name a fully qualified host');
