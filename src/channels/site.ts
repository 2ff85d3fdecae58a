import { readFileSync, statSync } from 'node:fs';
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
/** The welcome page's file time, as nginx reports its index.html (whole seconds). */
const INDEX_MODIFIED = new Date(Math.floor(statSync(resolve(SITE_DIR, 'index.html')).mtimeMs / 1000) * 1000);
const NOT_FOUND = page('404.html');
const NOT_ALLOWED = page('405.html');
const BAD_REQUEST = page('400.html');
const HEADER_TOO_LARGE = page('400-header.html');
const RANGE_NOT_SATISFIABLE = page('416.html');
const TOO_LARGE = page('413.html');
const URI_TOO_LONG = page('414.html');
const SERVER_ERROR = page('500.html');
const UNAVAILABLE = page('503.html');
const HTML = 'text/html';

/** A transparent 1x1 GIF (the classic web bug). */
export const PIXEL_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

/** Tiny real images: a transparent 1x1 PNG and a white 1x1 JPEG (the GIF is PIXEL_GIF). */
export const TINY_IMAGES = {
  png: Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABAQMAAAAl21bKAAAAA1BMVEX///+nxBvIAAAAAXRSTlMAQObYZgAAAApJREFUCJljYAAAAAIAAfRxZKYAAAAASUVORK5CYII=', 'base64'),
  jpeg: Buffer.from(
    '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBT/wAARCAABAAEDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD9U6KKKAP/2Q==',
    'base64',
  ),
} as const;

const IMAGE_EXT = /\.(png|gif|jpe?g)$/i;

/** The tiny image whose type matches the file name a URL asks for (a `.png` URL gets a PNG). */
function imageFor(path: string): { type: 'png' | 'gif' | 'jpeg'; body: Buffer } {
  const ext = IMAGE_EXT.exec(path)?.[1]?.toLowerCase();
  const type = ext === 'png' ? 'png' : ext === 'jpg' || ext === 'jpeg' ? 'jpeg' : 'gif';
  return { type, body: type === 'gif' ? PIXEL_GIF : TINY_IMAGES[type] };
}

export const site = {
  index: (): HttpReply => ({ status: 200, headers: { 'content-type': HTML }, body: INDEX, modified: INDEX_MODIFIED }),
  notFound: (): HttpReply => ({ status: 404, headers: { 'content-type': HTML }, body: NOT_FOUND }),
  notAllowed: (): HttpReply => ({ status: 405, headers: { 'content-type': HTML }, body: NOT_ALLOWED }),
  badRequest: (): HttpReply => ({ status: 400, headers: { 'content-type': HTML }, body: BAD_REQUEST }),
  /** nginx's answer to a header line longer than large_client_header_buffers. */
  headerTooLarge: (): HttpReply => ({ status: 400, headers: { 'content-type': HTML }, body: HEADER_TOO_LARGE }),
  tooLarge: (): HttpReply => ({ status: 413, headers: { 'content-type': HTML }, body: TOO_LARGE }),
  uriTooLong: (): HttpReply => ({ status: 414, headers: { 'content-type': HTML }, body: URI_TOO_LONG }),
  rangeNotSatisfiable: (size: number): HttpReply => ({ status: 416, headers: { 'content-type': HTML, 'content-range': `bytes */${size}` }, body: RANGE_NOT_SATISFIABLE }),
  serverError: (): HttpReply => ({ status: 500, headers: { 'content-type': HTML }, body: SERVER_ERROR }),
  /** What nginx's limit_req answers a client over its rate. */
  unavailable: (): HttpReply => ({ status: 503, headers: { 'content-type': HTML }, body: UNAVAILABLE }),
  /** A 1x1 image of the type the path's file name implies (GIF when it names none), served as a static file. */
  pixel: (path = ''): HttpReply => {
    const img = imageFor(path);
    return { status: 200, headers: { 'content-type': `image/${img.type}` }, body: img.body, modified: INDEX_MODIFIED };
  },
  /** The bland page a browser gets when it navigates to a token URL, served as a static file. */
  blank: (): HttpReply => ({ status: 200, headers: { 'content-type': HTML }, body: INDEX, modified: INDEX_MODIFIED }),
};

/**
 * What the site answers for a request that names no token, as Debian's default nginx site
 * (`try_files $uri $uri/ =404` over a root holding only index.html): the welcome page for `/`
 * and `/index.html`, 405 to other methods there, 404 for everything else.
 */
export function siteAnswer(method: string, path: string): HttpReply {
  if (path !== '/' && path !== '/index.html') return site.notFound();
  return method === 'GET' || method === 'HEAD' ? site.index() : site.notAllowed();
}

/**
 * What a static file server answers for a path: a page to a browser navigation, else a tiny image
 * matching the file name. Used for web bugs and, identically, for unknown or disabled tokens.
 */
export function staticAnswer(path: string, accept: string | undefined): HttpReply {
  return wantsHtml(accept) ? site.blank() : site.pixel(path);
}

/** True when the client prefers an HTML page to an image (a browser navigating, not an <img>). */
export function wantsHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const html = accept.indexOf('text/html');
  const image = accept.indexOf('image/');
  return html !== -1 && (image === -1 || html < image);
}
