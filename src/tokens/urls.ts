import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import type { Config } from '../config.ts';

const QUERY_KEYS = ['v', 'ref', 't', 's', 'id', 'sid', 'cb', 'r', 'u', 'k'] as const;
const PAGE_NAMES = ['index.html', 'view', 'open', 'status', 'details', 'doc', 'info', 'page.html', 'preview'] as const;

export type UrlStyle = 'image' | 'page';

function pick<T>(items: readonly T[]): T {
  const item = items[randomInt(items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/**
 * A plausible, varied path that carries the token id: random path words and file names
 * from configuration, and one of several shapes, so no two deployments (and no two
 * tokens) share a fixed fingerprint.
 */
export function newTokenPath(config: Pick<Config, 'URL_PATH_WORDS' | 'URL_FILE_NAMES'>, id: string, style: UrlStyle): string {
  const words = config.URL_PATH_WORDS;
  const file = style === 'image' ? pick(config.URL_FILE_NAMES) : pick(PAGE_NAMES);
  const ext = file.includes('.') ? file.slice(file.lastIndexOf('.')) : '';
  switch (randomInt(4)) {
    case 0:
      return `/${pick(words)}/${id}/${file}`;
    case 1:
      return `/${pick(words)}/${pick(words)}/${id}${ext}`;
    case 2:
      return `/${pick(words)}/${file}?${pick(QUERY_KEYS)}=${id}`;
    default:
      return `/${pick(words)}/${pick(words)}/${id}/${file}`;
  }
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
