import { createHash } from 'node:crypto';
import { z } from 'zod';
import { collectionTechniques, describeClient } from './hit-words.ts';
import { defineKind, type Token } from './kind.ts';
import { newTokenPath, publicUrl } from './urls.ts';

/**
 * The defender's own image (a logo, a mail signature, a letterhead) served at a token URL
 * exactly as uploaded. The kind only says "these bytes, this type, this time"; the public
 * listener frames the reply as nginx's static module does (ETag, Last-Modified, 304, byte
 * ranges, 416, 405: src/channels/nginx.ts `frame`), so the answers equal a real nginx serving
 * the same file (tests/channels/nginx-differential.test.ts). Only header bytes are read (type
 * and dimensions); pixels are never decoded.
 */

/**
 * Largest upload: its base64 must fit the JSON API's 256 kB body limit and the admin form,
 * which a logo or signature image does with room to spare.
 */
export const MAX_IMAGE_BYTES = 160 * 1024;
/** Largest width or height accepted (read from the header; nothing is decoded). */
export const MAX_IMAGE_SIDE = 4096;

export type ImageType = 'png' | 'jpeg' | 'gif' | 'webp';
export interface ImageInfo {
  type: ImageType;
  width: number;
  height: number;
}

const le16 = (b: Buffer, at: number) => (at + 2 <= b.length ? b.readUInt16LE(at) : 0);
const be16 = (b: Buffer, at: number) => (at + 2 <= b.length ? b.readUInt16BE(at) : 0);
const le24 = (b: Buffer, at: number) => (at + 3 <= b.length ? b.readUIntLE(at, 3) : 0);
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** JPEG: walk the marker segments (each step moves forward, bounded by the buffer) to the first start-of-frame. */
function jpegSize(b: Buffer): { width: number; height: number } | null {
  let at = 2;
  while (at + 9 < b.length) {
    if (b[at] !== 0xff) return null;
    const marker = b[at + 1] ?? 0;
    if (marker === 0xff) {
      at++;
      continue;
    }
    const len = be16(b, at + 2);
    if (len < 2) return null;
    // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return { height: be16(b, at + 5), width: be16(b, at + 7) };
    at += 2 + len;
  }
  return null;
}

/** Type and dimensions from an image's magic bytes and header; null for anything else. */
export function sniffImage(b: Buffer): ImageInfo | null {
  if (b.length >= 24 && b.subarray(0, 8).equals(PNG_MAGIC) && b.toString('latin1', 12, 16) === 'IHDR') {
    return { type: 'png', width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  }
  if (b.length >= 10 && /^GIF8[79]a$/.test(b.toString('latin1', 0, 6))) return { type: 'gif', width: le16(b, 6), height: le16(b, 8) };
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) {
    const size = jpegSize(b);
    return size ? { type: 'jpeg', ...size } : null;
  }
  if (b.length >= 30 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') {
    const chunk = b.toString('latin1', 12, 16);
    if (chunk === 'VP8 ' && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a) return { type: 'webp', width: le16(b, 26) & 0x3fff, height: le16(b, 28) & 0x3fff };
    if (chunk === 'VP8L' && b[20] === 0x2f) {
      const bits = b.readUInt32LE(21);
      return { type: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    if (chunk === 'VP8X') return { type: 'webp', width: le24(b, 24) + 1, height: le24(b, 27) + 1 };
  }
  return null;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Longest accepted text: the base64 of MAX_IMAGE_BYTES, a data: URL prefix and line breaks. */
const MAX_TEXT = Math.ceil(MAX_IMAGE_BYTES / 3) * 4 + 4096;

const imageParam = z
  .string()
  .max(MAX_TEXT, `must be at most ${MAX_IMAGE_BYTES / 1024} KiB of image`)
  .transform((v) => v.trim().replace(/^data:[a-z0-9.+-]{1,40}\/[a-z0-9.+-]{1,40};base64,/i, '').replace(/\s+/g, ''))
  .superRefine((v, ctx) => {
    if (!BASE64.test(v) || v.length % 4 !== 0) return ctx.addIssue({ code: 'custom', message: 'must be the image file in base64 (or a data: URL)' });
    const bytes = Buffer.from(v, 'base64');
    if (bytes.length > MAX_IMAGE_BYTES) return ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_IMAGE_BYTES / 1024} KiB of image` });
    const info = sniffImage(bytes);
    if (!info) return ctx.addIssue({ code: 'custom', message: 'must be a PNG, JPEG, GIF or WebP image' });
    if (info.width < 1 || info.height < 1 || info.width > MAX_IMAGE_SIDE || info.height > MAX_IMAGE_SIDE) {
      ctx.addIssue({ code: 'custom', message: `must be between 1x1 and ${MAX_IMAGE_SIDE}x${MAX_IMAGE_SIDE} pixels (this one is ${info.width}x${info.height})` });
    }
  })
  // The admin form offers a file picker for this field (templates/admin/static/app.js).
  .meta({ contentEncoding: 'base64', contentMediaType: 'image/png,image/jpeg,image/gif,image/webp' });

const params = z.object({
  image: imageParam.describe(`The image file (PNG, JPEG, GIF or WebP, at most ${MAX_IMAGE_BYTES / 1024} KiB and ${MAX_IMAGE_SIDE}x${MAX_IMAGE_SIDE} pixels), base64-encoded`),
});

/**
 * What is stored: `image` as given is replaced by a description of it; the bytes live in
 * `_image` (base64; `_` params never leave the server) and rotation hands them to the new generation.
 */
type CustomImageParams = z.infer<typeof params> & { _image?: string; type?: ImageType; width?: number; height?: number; bytes?: number; sha256?: string };

/** The file extension nginx's mime.types maps to the type (so a real nginx would send the same Content-Type). */
const EXT: Record<ImageType, string> = { png: 'png', jpeg: 'jpg', gif: 'gif', webp: 'webp' };

/** An image path from the addressing (addresses.ts) with its extension made the image's own. */
function pathFor(words: Parameters<typeof newTokenPath>[0], type: ImageType): string {
  const path = newTokenPath(words, 'image');
  const ext = type === 'jpeg' ? (/\.(jpe?g)(?=$|\?)/i.exec(path)?.[1]?.toLowerCase() ?? 'jpg') : EXT[type];
  return path.replace(/\.(png|gif|jpe?g|webp)(?=$|\?)/i, `.${ext}`);
}

/**
 * Decoded images of recently served tokens, so a burst of loads decodes the base64 once. The
 * token row is re-read every second (token lookups' cache), so the key is the stored string
 * itself: equal strings compare in one memcmp, far cheaper than decoding. Bounded in entries.
 */
const decoded = new Map<string, { text: string; bytes: Buffer }>();
const MAX_DECODED = 32;

function imageBytes(token: Token<CustomImageParams>): Buffer {
  const text = token.params._image ?? '';
  const hit = decoded.get(token.id);
  if (hit && hit.text === text) return hit.bytes;
  const bytes = Buffer.from(text, 'base64');
  if (decoded.size >= MAX_DECODED) decoded.clear();
  decoded.set(token.id, { text, bytes });
  return bytes;
}

const clip = (v: unknown, n: number): string | null => (typeof v === 'string' && v.length > 0 ? v.slice(0, n) : null);

/** An uploaded image served at a token URL: whoever loads it (a mail client, a page, a document) is recorded. */
export const customImage = defineKind<CustomImageParams>({
  id: 'custom-image',
  label: 'Your own image',
  description: 'Upload an image (logo, signature, letterhead); its token URL serves exactly that image, and every load of it is recorded.',
  channels: ['http'],
  techniques: ['T1114', 'T1213'],
  params,
  // A real 2x1 PNG (one blue, one white pixel).
  example: { image: 'iVBORw0KGgoAAAANSUhEUgAAAAIAAAABAQMAAADO7O3JAAAABlBMVEX///8ePIzUh+vwAAAACklEQVQImWNoAAAAggCByxOyYQAAAABJRU5ErkJggg==' },
  create(ctx, _id, p) {
    const bytes = Buffer.from(p.image, 'base64');
    const info = sniffImage(bytes) ?? { type: 'png', width: 0, height: 0 };
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    return {
      params: { image: `${info.type.toUpperCase()} ${info.width}x${info.height}, ${bytes.length} bytes`, _image: p.image, type: info.type, width: info.width, height: info.height, bytes: bytes.length, sha256 },
      urlPath: pathFor(ctx.config, info.type),
    };
  },
  rotationParams(token) {
    return { image: token.params._image ?? '' };
  },
  artifact(ctx, token) {
    return {
      url: publicUrl(ctx.config, token.urlPath ?? '/'),
      hint: `Use the URL wherever your image would load: an HTML mail signature, a linked picture in a document, an internal page (${token.params.image}).`,
    };
  },
  explain(hit, token) {
    const client = describeClient(hit.userAgent) ?? 'a client without a user agent';
    const how = hit.details?.revalidated ? ' (checking a copy it had cached, so it was seen before)' : hit.details?.range ? ' (part of it)' : '';
    return { action: `${client} loaded your image${how}`, evidence: 'touch', techniques: collectionTechniques(token) };
  },
  http: {
    describe(req) {
      const h = req.headers;
      const revalidated = h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined;
      const range = clip(h.range, 64);
      return revalidated || range ? { details: { ...(revalidated ? { revalidated } : {}), ...(range ? { range } : {}) } } : {};
    },
    respond(_req, token) {
      // `modified` makes the listener answer as nginx's static module (validators, 304, ranges, 405).
      return { status: 200, headers: { 'content-type': `image/${token.params.type ?? 'png'}` }, body: imageBytes(token), modified: token.createdAt };
    },
  },
});
