import { z } from 'zod';
import { collectionTechniques, describeClient } from './hit-words.ts';
import { defineKind, type HttpReply, type HttpRequestInfo, type Token } from './kind.ts';
import { newTokenPath, publicUrl } from './urls.ts';

/**
 * The defender's own image (a logo, a mail signature, a letterhead) served at a token URL
 * exactly as uploaded, with the headers a static file server sends (type, length, ETag,
 * Last-Modified, byte ranges, 304 on revalidation). Only the header bytes are read (type and
 * dimensions); pixels are never decoded.
 */

/**
 * Largest upload: base64 in the JSON API body (256 kB limit for every API route) and in the
 * admin form must fit, which a logo or signature image does with room to spare.
 */
export const MAX_IMAGE_BYTES = 160 * 1024;
/** Largest width or height accepted (the header says it; nothing is decoded). */
export const MAX_IMAGE_SIDE = 4096;

export type ImageType = 'png' | 'jpeg' | 'gif' | 'webp';
export interface ImageInfo { type: ImageType; width: number; height: number }

const le16 = (b: Buffer, at: number) => (at + 2 <= b.length ? b.readUInt16LE(at) : 0);
const be16 = (b: Buffer, at: number) => (at + 2 <= b.length ? b.readUInt16BE(at) : 0);
const le24 = (b: Buffer, at: number) => (at + 3 <= b.length ? b.readUIntLE(at, 3) : 0);

/** JPEG: walk the marker segments (bounded by the buffer) to the first start-of-frame. */
function jpegSize(b: Buffer): { width: number; height: number } | null {
  let at = 2;
  while (at + 9 < b.length) {
    if (b[at] !== 0xff) return null;
    const marker = b[at + 1] ?? 0;
    if (marker === 0xff) { at++; continue; }
    const len = be16(b, at + 2);
    if (len < 2) return null;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: be16(b, at + 5), width: be16(b, at + 7) };
    }
    at += 2 + len;
  }
  return null;
}

/** Type and dimensions from an image's magic bytes and header; null for anything else. */
export function sniffImage(b: Buffer): ImageInfo | null {
  if (b.length >= 24 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) && b.toString('latin1', 12, 16) === 'IHDR') {
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

const imageParam = z
  .string()
  .trim()
  .max(Math.ceil(MAX_IMAGE_BYTES / 3) * 4 + 200, `must be at most ${MAX_IMAGE_BYTES / 1024} KiB of image`)
  .transform((v) => v.replace(/^data:image\/[a-z]+;base64,/, '').replace(/\s+/g, ''))
  .superRefine((v, ctx) => {
    if (!BASE64.test(v) || v.length % 4 !== 0) return ctx.addIssue({ code: 'custom', message: 'must be the image file in base64' });
    const bytes = Buffer.from(v, 'base64');
    if (bytes.length > MAX_IMAGE_BYTES) return ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_IMAGE_BYTES / 1024} KiB of image` });
    const info = sniffImage(bytes);
    if (!info) return ctx.addIssue({ code: 'custom', message: 'must be a PNG, JPEG, GIF or WebP image' });
    if (info.width < 1 || info.height < 1 || info.width > MAX_IMAGE_SIDE || info.height > MAX_IMAGE_SIDE) {
      ctx.addIssue({ code: 'custom', message: `must be between 1x1 and ${MAX_IMAGE_SIDE}x${MAX_IMAGE_SIDE} pixels` });
    }
  });

const params = z.object({
  image: imageParam.describe(`The image file (PNG, JPEG, GIF or WebP, at most ${MAX_IMAGE_BYTES / 1024} KiB), base64-encoded`),
});

/** What is stored: `image` becomes a short summary; the bytes live in `_image` (hidden from API and pages). */
type CustomImageParams = z.infer<typeof params> & { _image?: string; type?: ImageType; width?: number; height?: number; bytes?: number };

const EXT: Record<ImageType, string> = { png: 'png', jpeg: 'jpg', gif: 'gif', webp: 'webp' };

/** nginx's ETag shape: last-modified seconds and length, in hex. */
export function staticEtag(modified: Date, length: number): string {
  return `"${Math.floor(modified.getTime() / 1000).toString(16)}-${length.toString(16)}"`;
}

/** Answer like nginx serving a static file: 200, 304 on a matching validator, 206 for one byte range, 416 past the end. */
export function serveStatic(req: HttpRequestInfo, body: Buffer, contentType: string, modified: Date): HttpReply {
  const etag = staticEtag(modified, body.length);
  const lastModified = new Date(Math.floor(modified.getTime() / 1000) * 1000).toUTCString();
  const base = { 'content-type': contentType, 'last-modified': lastModified, etag, 'accept-ranges': 'bytes' };
  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  if (inm !== undefined ? inm.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}` || t.trim() === '*') : ims !== undefined && ims === lastModified) {
    return { status: 304, headers: { 'last-modified': lastModified, etag } };
  }
  const range = /^bytes=(\d{0,12})-(\d{0,12})$/.exec(String(req.headers.range ?? ''));
  if (range && (range[1] || range[2]) && (req.method === 'GET' || req.method === 'HEAD')) {
    const size = body.length;
    const start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
    const end = range[1] ? Math.min(size - 1, range[2] ? Number(range[2]) : size - 1) : size - 1;
    if (start >= size || start > end) return { status: 416, headers: { 'content-type': 'text/html', 'content-range': `bytes */${size}` }, body: RANGE_NOT_SATISFIABLE };
    return { status: 206, headers: { ...base, 'content-range': `bytes ${start}-${end}/${size}` }, body: body.subarray(start, end + 1) };
  }
  return { status: 200, headers: base, body };
}

const RANGE_NOT_SATISFIABLE = '<html>\r\n<head><title>416 Requested Range Not Satisfiable</title></head>\r\n<body>\r\n<center><h1>416 Requested Range Not Satisfiable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

function imageBytes(token: Token<CustomImageParams>): Buffer {
  return Buffer.from(token.params._image ?? '', 'base64');
}

/** An uploaded image served at a token URL: whoever loads it (a mail client, a page, a document) is recorded. */
export const customImage = defineKind<CustomImageParams>({
  id: 'custom-image',
  label: 'Your own image',
  description: 'Upload an image (logo, signature, letterhead); its token URL serves exactly that image, and every load of it is recorded.',
  channels: ['http'],
  techniques: ['T1114', 'T1213', 'T1083'],
  params,
  // A real 2x1 PNG (one blue, one white pixel).
  example: { image: 'iVBORw0KGgoAAAANSUhEUgAAAAIAAAABAQMAAADO7O3JAAAABlBMVEX///8ePIzUh+vwAAAACklEQVQImWNoAAAAggCByxOyYQAAAABJRU5ErkJggg==' },
  create(ctx, id, p) {
    const bytes = Buffer.from(p.image, 'base64');
    const info = sniffImage(bytes);
    const type = info?.type ?? 'png';
    const urlPath = newTokenPath({ ...ctx.config, URL_FILE_NAMES: ctx.config.URL_FILE_NAMES.map((f) => f.replace(/\.\w+$/, `.${EXT[type]}`)) }, id, 'image');
    const summary = `${type.toUpperCase()} ${info?.width ?? 0}x${info?.height ?? 0}, ${bytes.length} bytes`;
    return { params: { image: summary, _image: p.image, type, width: info?.width, height: info?.height, bytes: bytes.length }, urlPath };
  },
  artifact(ctx, token) {
    return {
      url: publicUrl(ctx.config, token.urlPath ?? '/'),
      hint: `Use the URL wherever the image would load: an HTML mail signature, a document's linked picture, an internal page (${token.params.image}).`,
    };
  },
  explain(hit, token) {
    const client = describeClient(hit.userAgent) ?? 'a client without a user agent';
    return { action: `the image was loaded by ${client}`, evidence: 'touch', techniques: collectionTechniques(token) };
  },
  http: {
    respond(req, token) {
      return serveStatic(req, imageBytes(token), `image/${token.params.type ?? 'png'}`, token.createdAt);
    },
  },
});
