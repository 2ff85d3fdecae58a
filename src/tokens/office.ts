import { randomInt } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { strToU8, zipSync } from 'fflate';
import Handlebars from 'handlebars';
import { z } from 'zod';

/**
 * What the document kinds (`word`, `excel`) share: OOXML packages rendered from a template
 * tree under `templates/tokens/<kind>/`, plausible and varied document metadata, safe file
 * names. The linked token image lives in `office-image.ts`, the content catalogue in
 * `office-content.ts`.
 */

const TEMPLATE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../templates/tokens');

/** Characters XML 1.0 cannot carry (controls other than tab/newline, lone surrogates, U+FFFE/F). */
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Defender-supplied text that ends up inside XML: trimmed, bounded, stripped of what XML cannot hold. */
export const docText = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .transform((v) => v.replace(NOT_XML, '').trim());

/** Single-line text (titles, names): like `docText`, with runs of whitespace and line breaks collapsed to one space. */
export const docLine = (max: number) => docText(max).transform((v) => v.replace(/\s+/g, ' '));

/**
 * A download file name: no path separators, no characters Windows refuses, no leading dots,
 * always ending in `ext`. Attacker never sees the server side; this protects the defender's disk.
 */
export function safeFileName(name: string, ext: string): string {
  const base = name
    .replace(NOT_XML, '')
    .replace(/[\u0000-\u001F\u007F/\\:*?"<>|]+/g, ' ')
    .replace(/\s+/g, ' ')
    .replace(/^[\s.]+|[\s.]+$/g, '')
    .slice(0, 120)
    .trim();
  const stem = base.toLowerCase().endsWith(ext) ? base.slice(0, -ext.length).trim() : base;
  return `${stem || 'Document'}${ext}`;
}

/** The `filename` param of the document kinds; sanitised the same way at the edge. */
export const fileNameParam = (ext: string) =>
  z
    .string()
    .max(200, 'must be at most 200 characters')
    .refine((v) => v.replace(/[^\p{L}\p{N}]/gu, '').length > 0, 'must contain letters or digits')
    .transform((v) => safeFileName(v, ext));

/** Metadata generated once at creation and stored, so every download of a token is the same file. */
export const generatedMeta = z.object({
  lastModifiedBy: z.string().max(100),
  created: z.iso.datetime(),
  modified: z.iso.datetime(),
  revision: z.number().int().min(1).max(999),
  editingMinutes: z.number().int().min(0).max(100_000),
  /** Seed of the document's generated rows, names and figures. */
  seed: z.number().int().min(0).max(0xffffffff),
});
export type GeneratedMeta = z.infer<typeof generatedMeta>;

const FIRST = ['Anna', 'Mark', 'Sofia', 'James', 'Laura', 'Daniel', 'Emma', 'Peter', 'Julia', 'Thomas', 'Sarah', 'Michael', 'Nina', 'David', 'Claire', 'Lukas', 'Maria', 'Robert', 'Elena', 'Chris', 'Hannah', 'Oliver', 'Grace', 'Martin'] as const;
const LAST = ['Keller', 'Morgan', 'Fischer', 'Patel', 'Novak', 'Bennett', 'Schmidt', 'Rossi', 'Dubois', 'Walsh', 'Jensen', 'Hughes', 'Meyer', 'Costa', 'Lindqvist', 'Brennan', 'Weber', 'Turner', 'Nowak', 'Fraser', 'Becker', 'Collins'] as const;

/** A plausible person's name. */
export function personName(rand: () => number = cryptoRandom): string {
  return `${choose(FIRST, rand)} ${choose(LAST, rand)}`;
}

/** Fresh metadata: created 2-14 months ago, edited over the following days, never in the future. */
export function newMeta(now = new Date()): GeneratedMeta {
  const created = new Date(now.getTime() - (60 + randomInt(365)) * 86_400_000 - randomInt(86_400_000));
  const modified = new Date(Math.min(now.getTime() - randomInt(3_600_000, 20 * 86_400_000), created.getTime() + randomInt(1_800_000, 45 * 86_400_000)));
  return {
    lastModifiedBy: personName(),
    created: isoSeconds(created),
    modified: isoSeconds(modified > created ? modified : new Date(created.getTime() + 1_800_000)),
    revision: randomInt(2, 40),
    editingMinutes: randomInt(12, 900),
    seed: randomInt(0xffffffff),
  };
}

function isoSeconds(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/** A deterministic generator (mulberry32) so a token's document is the same on every download. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function cryptoRandom(): number {
  return randomInt(0x7fffffff) / 0x7fffffff;
}

/** One element of a non-empty list, drawn with `rand`. */
export function choose<T>(items: readonly T[], rand: () => number): T {
  const item = items[Math.floor(rand() * items.length) % items.length];
  if (item === undefined) throw new Error('choose from an empty list');
  return item;
}

/** Escape text for XML content and double-quoted attributes, the way Office writes it. */
export function xmlEscape(value: unknown): string {
  return String(value).replace(NOT_XML, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Renders every file of a template tree into package parts. Templates write text as `{{x value}}`
 * (XML escaping); a bare `{{value}}` still gets Handlebars' HTML escaping, which is XML-safe too.
 */
export type PackageTemplate = (data: object) => Record<string, Uint8Array>;

/** Compile the OOXML package templates of `kind` once, at module load. Strict: a missing variable is a bug. */
export function loadPackage(kind: string): PackageTemplate {
  const root = resolve(TEMPLATE_ROOT, kind);
  const hb = Handlebars.create();
  hb.registerHelper('x', (value: unknown) => new hb.SafeString(xmlEscape(value)));
  const parts = filesUnder(root)
    .map((file) => ({ name: relative(root, file).split('\\').join('/'), render: hb.compile(compactXml(readFileSync(file, 'utf8')), { strict: true }) }))
    // [Content_Types].xml first, as Office writes it; some tools sniff the first entry.
    .sort((a, b) => (a.name === '[Content_Types].xml' ? -1 : b.name === '[Content_Types].xml' ? 1 : a.name.localeCompare(b.name)));
  return (data) => Object.fromEntries(parts.map((p) => [p.name, strToU8(p.render(data))]));
}

/**
 * Templates are indented for people; Office writes each part as the declaration, CRLF, and one
 * line of markup. Line breaks and the indentation after them are dropped (text never spans lines
 * in the templates), so the output has Office's shape and not ours.
 */
export function compactXml(source: string): string {
  const decl = /^<\?xml[^>]*\?>\r?\n/.exec(source)?.[0] ?? '';
  const body = source.slice(decl.length).replace(/\r?\n[ \t]*/g, '');
  return decl ? `${decl.trimEnd()}\r\n${body}` : body;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = resolve(dir, e.name);
    return e.isDirectory() ? filesUnder(path) : e.isFile() ? [path] : [];
  });
}

/**
 * Zip package parts (deflate) the way Office saves them: in the application's own part order
 * (`order` lists it; parts it does not name follow in template order), every entry dated
 * 1980-01-01 00:00, the DOS epoch Office writes instead of the save time.
 */
export function zipPackage(parts: Record<string, Uint8Array>, order: readonly string[] = []): Buffer {
  const rank = (name: string) => (order.includes(name) ? order.indexOf(name) : order.length);
  const names = Object.keys(parts).sort((a, b) => rank(a) - rank(b));
  const sorted = Object.fromEntries(names.map((n) => [n, parts[n] ?? new Uint8Array(0)]));
  return Buffer.from(zipSync(sorted, { level: 6, mtime: OFFICE_ZIP_TIME }));
}

/** The entry time Office writes into every part of a package (local 1980-01-01 00:00, DOS time zero). */
export const OFFICE_ZIP_TIME = new Date(1980, 0, 1, 0, 0, 0);
