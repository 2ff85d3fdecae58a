import { site } from '../channels/site.ts';
import type { Config } from '../config.ts';
import { collectionTechniques, describeClient, detail } from './hit-words.ts';
import type { Decoy, HitFacts, HitMeaning, HttpReply, HttpRequestInfo, StoredHit } from './kind.ts';
import { newTokenPath } from './urls.ts';

/**
 * The image a document kind links to: a varied token URL ending in a plausible image name, the
 * tiny real image the public listener answers with (so the document renders normally), and what
 * the fetch tells about the opener.
 */

/** Image file names used when the configured URL_FILE_NAMES has no raster images. */
const IMAGE_NAMES = ['image1.png', 'logo.png', 'header.png', 'banner.jpg', 'seal.gif', 'watermark.png', 'footer.gif', 'letterhead.jpg'] as const;
const RASTER = /\.(png|gif|jpe?g)$/i;

/** Names that say "tracking pixel" or "layout filler", not "the logo a document links to". */
const NOT_A_LOGO = /^(pixel|spacer|blank|track|clear|transparent|1x1|dot|divider|bg)\b/i;

/** A varied token URL path for the image a document links to; always ends in a raster image name that could be a logo. */
export function documentImagePath(config: Pick<Config, 'URL_PATH_WORDS' | 'URL_FILE_NAMES'>): string {
  const names = config.URL_FILE_NAMES.filter((n) => RASTER.test(n) && !NOT_A_LOGO.test(n));
  return newTokenPath({ URL_PATH_WORDS: config.URL_PATH_WORDS, URL_FILE_NAMES: names.length > 0 ? names : IMAGE_NAMES }, 'image');
}

/** The picture's name inside the document: the URL's file name unless that carries the token id. */
export function imageName(urlPath: string, id: string, rand: () => number): string {
  const file = urlPath.split('?')[0]?.split('/').pop() ?? '';
  const ext = RASTER.exec(file)?.[0]?.toLowerCase() ?? '.png';
  return file && !file.includes(id) ? file : `image${1 + Math.floor(rand() * 9)}${ext}`;
}

const NOT_ALLOWED = '<html>\r\n<head><title>405 Not Allowed</title></head>\r\n<body>\r\n<center><h1>405 Not Allowed</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

/**
 * Answer a document's image fetch like a static file server: the tiny image whose type matches
 * the requested name (so the document renders normally), 405 for other methods (Office and
 * LibreOffice probe with OPTIONS first and then GET regardless).
 */
export function imageReply(req: HttpRequestInfo): HttpReply {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return { status: 405, headers: { 'content-type': 'text/html' }, body: NOT_ALLOWED };
  }
  return site.pixel(RASTER.test(req.path) ? req.path : `${req.path}.png`);
}

/** What a document beacon's hit means: which program opened the document (or probed its image) from where it was planted. */
export function explainOpen(hit: StoredHit, token: Decoy, what: 'document' | 'workbook' | 'presentation'): HitMeaning {
  const client = describeClient(hit.userAgent) ?? (detail(hit.details, 'opener') === 'Microsoft Office' ? 'Microsoft Office' : 'an unknown program');
  const probe = detail(hit.details, 'request') === 'probe' || hit.method === 'OPTIONS';
  // Office and LibreOffice probe the linked image (OPTIONS) before fetching it: either request means the file was opened.
  const action = `opened the ${what} in ${client}${probe ? ' (checking its linked image first)' : ''}`;
  return { action, evidence: 'touch', techniques: collectionTechniques(token) };
}

/** Which office suite opened the document, from the fetch's user agent, and whether it was the probe. */
export function describeOpen(req: HttpRequestInfo): HitFacts {
  const ua = String(req.headers['user-agent'] ?? '');
  const opener = /LibreOffice/i.test(ua)
    ? 'LibreOffice'
    : /Microsoft Office|MSOffice|ms-office|Microsoft (Word|Excel|PowerPoint)/i.test(ua)
      ? 'Microsoft Office'
      : 'unknown';
  return { details: { opener, request: req.method === 'OPTIONS' ? 'probe' : 'image' } };
}
