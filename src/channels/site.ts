import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpReply } from '../tokens/kind.ts';

/**
 * What the public listener shows when it is not answering for a token: the pages a stock
 * web server would serve. Templates live in `templates/site/`.
 */

const SITE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../templates/site');
const page = (name: string): string => readFileSync(resolve(SITE_DIR, name), 'utf8');

const INDEX = page('index.html');
const NOT_FOUND = page('404.html');
const BAD_REQUEST = page('400.html');
const TOO_LARGE = page('413.html');
const URI_TOO_LONG = page('414.html');
const SERVER_ERROR = page('500.html');
const HTML = 'text/html';

/** A transparent 1x1 GIF (the classic web bug). */
export const PIXEL_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

export const site = {
  index: (): HttpReply => ({ status: 200, headers: { 'content-type': HTML }, body: INDEX }),
  notFound: (): HttpReply => ({ status: 404, headers: { 'content-type': HTML }, body: NOT_FOUND }),
  badRequest: (): HttpReply => ({ status: 400, headers: { 'content-type': HTML, connection: 'close' }, body: BAD_REQUEST }),
  tooLarge: (): HttpReply => ({ status: 413, headers: { 'content-type': HTML, connection: 'close' }, body: TOO_LARGE }),
  uriTooLong: (): HttpReply => ({ status: 414, headers: { 'content-type': HTML, connection: 'close' }, body: URI_TOO_LONG }),
  serverError: (): HttpReply => ({ status: 500, headers: { 'content-type': HTML }, body: SERVER_ERROR }),
  pixel: (): HttpReply => ({
    status: 200,
    headers: { 'content-type': 'image/gif', 'cache-control': 'no-cache, no-store, must-revalidate' },
    body: PIXEL_GIF,
  }),
  /** The bland page a browser gets when it navigates to a token URL. */
  blank: (): HttpReply => ({ status: 200, headers: { 'content-type': HTML, 'cache-control': 'no-store' }, body: INDEX }),
};

/** True when the client prefers an HTML page to an image (a browser navigating, not an <img>). */
export function wantsHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const html = accept.indexOf('text/html');
  const image = accept.indexOf('image/');
  return html !== -1 && (image === -1 || html < image);
}
