import { randomInt, randomUUID } from 'node:crypto';

/**
 * Where a token lives on the wire, in the shapes real sites use: hashed asset names of varied
 * length and alphabet, upload folders, share links, portal routes, API tenants, and DNS labels
 * that look like host names. The token id never appears; the channels find a token by its stored
 * path (unique index on `tokens.url_path`) or host label (`tokens.host_label`). Every address
 * carries at least about 30 random bits, so two tokens never share one and nobody guesses one,
 * and no single pattern matches them all.
 */

const HEX = '0123456789abcdef';
const B36 = '0123456789abcdefghijklmnopqrstuvwxyz';
const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const B64URL = `${B62}-_`;
const DIGITS = '0123456789';

/** `n` characters of `alphabet` from a CSPRNG. */
export function randomOf(alphabet: string, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** One item of a non-empty list, uniformly. */
export function oneOf<T>(items: readonly T[]): T {
  const item = items[randomInt(items.length)];
  if (item === undefined) throw new Error('oneOf an empty list');
  return item;
}

const between = (lo: number, hi: number): number => lo + randomInt(hi - lo + 1);
const hex = (lo: number, hi = lo): string => randomOf(HEX, between(lo, hi));
const b36 = (lo: number, hi = lo): string => randomOf(B36, between(lo, hi));
const digits = (lo: number, hi = lo): string => `${1 + randomInt(9)}${randomOf(DIGITS, between(lo, hi) - 1)}`;

/** Ordinary words of web assets and pages (joined with the configured URL_PATH_WORDS). */
const ASSET_WORDS = [
  'logo', 'header', 'footer', 'banner', 'hero', 'avatar', 'icon', 'sprite', 'background', 'divider', 'badge',
  'team', 'office', 'product', 'thumb', 'cover', 'signature', 'brand', 'partner', 'map', 'chart', 'photo',
] as const;
const PAGE_WORDS = [
  'report', 'budget', 'roadmap', 'minutes', 'handbook', 'policy', 'onboarding', 'payroll', 'forecast', 'review',
  'contracts', 'inventory', 'migration', 'backup', 'audit', 'pricing', 'vendors', 'travel', 'expenses', 'planning',
] as const;
const IMAGE_EXTS = ['png', 'gif', 'jpg', 'png', 'jpeg', 'png'] as const;

/** The extension of a configured raster file name, or a common image one when none is configured. */
function imageExt(fileNames: readonly string[]): string {
  const raster = fileNames.map((n) => /\.(png|gif|jpe?g)$/i.exec(n)?.[1]?.toLowerCase()).filter((e): e is string => e !== undefined);
  return raster.length > 0 ? oneOf(raster) : oneOf(IMAGE_EXTS);
}

function stem(fileNames: readonly string[]): string {
  const configured = fileNames.map((n) => n.replace(/\.[^.]*$/, '')).filter((n) => /^[a-z0-9_-]+$/i.test(n));
  return configured.length > 0 && randomInt(3) === 0 ? oneOf(configured) : oneOf(ASSET_WORDS);
}

export interface PathWords {
  URL_PATH_WORDS: readonly string[];
  URL_FILE_NAMES: readonly string[];
}

/**
 * An image URL path as a built site names its assets: bundler-hashed names (`/assets/img/logo.3f9c1b2a.png`),
 * CMS uploads, content-addressed media, cache-busting queries.
 */
export function newImagePath(words: PathWords): string {
  const ext = imageExt(words.URL_FILE_NAMES);
  const name = stem(words.URL_FILE_NAMES);
  const dir = oneOf(words.URL_PATH_WORDS.length > 0 ? words.URL_PATH_WORDS : ['static']);
  const year = 2019 + randomInt(7);
  const month = String(1 + randomInt(12)).padStart(2, '0');
  switch (randomInt(8)) {
    case 0:
      return `/assets/${oneOf(['img', 'images', 'media'])}/${name}.${hex(8, 10)}.${ext}`;
    case 1:
      return `/static/media/${name}-${oneOf(ASSET_WORDS)}.${b36(8)}.${ext}`;
    case 2:
      return `/wp-content/uploads/${year}/${month}/IMG_${year}${month}${String(1 + randomInt(28)).padStart(2, '0')}_${digits(6)}.${ext}`;
    case 3:
      return `/media/${hex(2)}/${hex(2)}/${hex(32)}.${ext}`;
    case 4:
      return `/_next/static/media/${name}.${hex(8)}.${ext}`;
    case 5:
      return `/${dir}/${name}-${oneOf(ASSET_WORDS)}.${ext}?v=${oneOf([hex(7, 12), digits(10)])}`;
    case 6:
      return `/uploads/${randomOf(B62, between(10, 16))}.${ext}`;
    default:
      return `/${dir}/${oneOf(['img', 'i', 'pics'])}/${name}_${randomOf(B64URL, between(9, 14)).replace(/^[-_]/, 'a')}.${ext}`;
  }
}

/** A page URL path as document shares, wikis and short links name pages. */
export function newPagePath(words: PathWords): string {
  const dir = oneOf(words.URL_PATH_WORDS.length > 0 ? words.URL_PATH_WORDS : ['docs']);
  const title = `${oneOf(PAGE_WORDS)}-${oneOf(PAGE_WORDS)}`;
  switch (randomInt(7)) {
    case 0:
      return `/s/${randomOf(B62, between(8, 12))}`;
    case 1:
      return `/share/${randomUUID()}`;
    case 2:
      return `/${dir}/${title}-${oneOf([hex(12, 20), hex(32)])}`;
    case 3:
      return `/wiki/spaces/${oneOf(PAGE_WORDS).slice(0, 3).toUpperCase()}/pages/${digits(9, 10)}/${title}`;
    case 4:
      return `/d/${randomOf(B64URL, between(25, 33)).replace(/^[-_]/, 'x')}/view`;
    case 5:
      return `/${dir}/${title}.html?ref=${oneOf([b36(6, 10), hex(8)])}`;
    default:
      return `/p/${digits(7, 9)}/${title}`;
  }
}

/** Fill a route template: `{word}` ordinary word, `{hex}` `{b36}` `{b62}` `{num}` `{uuid}` random pieces of varied length. */
export function fillRoute(template: string): string {
  return template.replace(/\{(word|hex|b36|b62|num|uuid)\}/g, (_m, piece: string) => {
    switch (piece) {
      case 'word':
        return oneOf([...PAGE_WORDS, ...ASSET_WORDS]);
      case 'hex':
        return hex(8, 14);
      case 'b36':
        return b36(7, 12);
      case 'b62':
        return randomOf(B62, between(8, 14));
      case 'num':
        return digits(9, 12);
      default:
        return randomUUID();
    }
  });
}

/**
 * A DNS label for a token host name: shaped like host names organisations use (`vpn-eu3`,
 * `db-backup-7f3a9c`, a CDN-style hash, a word and a number), of varied length and alphabet,
 * with at least about 30 random bits. Lower-case, so it survives 0x20 case randomisation.
 */
export function newHostLabel(): string {
  const host = oneOf(['vpn', 'mail', 'files', 'backup', 'db', 'sql', 'sync', 'cdn', 'assets', 'portal', 'git', 'ci', 'ldap', 'print', 'share', 'wiki', 'nas', 'dc']);
  const region = oneOf(['eu', 'us', 'ap', 'de', 'uk', 'fr', 'nl', 'ca']);
  switch (randomInt(5)) {
    case 0:
      return `${host}-${hex(7, 10)}`;
    case 1:
      return `${host}-${region}${1 + randomInt(9)}-${b36(6, 8)}`;
    case 2:
      return `d${b36(12, 15)}`;
    case 3:
      return `${hex(12, 20)}`;
    default:
      return `${host}${digits(2, 3)}-${oneOf(['prod', 'stg', 'int', 'corp', 'ops'])}-${b36(5, 7)}`;
  }
}

/**
 * The host name a DNS-fired token is looked up by: its host label under DNS_ZONE (the token id
 * for tokens made before host labels existed, which keep firing).
 */
export function tokenHostName(zone: string, token: { id: string; hostLabel?: string | null }): string {
  return `${token.hostLabel ?? token.id}.${zone}`;
}
