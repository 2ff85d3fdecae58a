import { createHash, randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type { TrueTypeFont } from './truetype.ts';
import { subsetTrueType } from './ttf-subset.ts';

/**
 * A one-page PDF laid out as LibreOffice Writer's PDF export (7.4, default options) writes one:
 * `%PDF-1.6` and the `%äüöß` comment, numbered objects in Writer's order (content stream and its
 * length object, then per font the FontFile2, its length, descriptor, ToUnicode and font, the font
 * and resource dictionaries, the page, the page tree, the link annotations, catalog, Info), a
 * classic cross-reference table, and a trailer with `/ID` and Writer's `/DocChecksum` (MD5 of every
 * byte before `trailer`). Fonts are TrueType subsets tagged BAAAAA+, CAAAAA+ in order of first use,
 * codes assigned in order of first use. Compared with a real export in tests/tokens/pdf-structure.test.ts.
 */

/** A4 as Writer states it. */
export const PAGE = { width: 595.303937007874, height: 841.889763779528 } as const;

/** One run of text on one line: what Writer emits as one BT/ET block. */
export interface TextRun {
  face: TrueTypeFont;
  size: number;
  /** Left edge and baseline, in points from the page's bottom-left corner. */
  x: number;
  y: number;
  text: string;
  /** 0-1 fill colour. @default black */
  color?: readonly [number, number, number];
  /** The run is a hyperlink: underlined, coloured, covered by a /Link annotation with this /URI. */
  link?: string;
}

export interface PdfInfo {
  title: string;
  author: string;
  subject: string;
  keywords: readonly string[];
  creator: string;
  producer: string;
  created: Date;
  /** Minutes east of UTC for the CreationDate, as the author's machine would write it. */
  utcOffsetMinutes: number;
}

export interface PdfDocumentSpec {
  runs: readonly TextRun[];
  info: PdfInfo;
  /**
   * A URI the reader is asked to open when the file opens, replacing Writer's `/OpenAction`
   * destination; written as a hex string so `strings` and URL scanners read no address.
   */
  openUri?: string;
  lang?: string;
}

/** Writer's decimal output: at most three decimals, cut rather than rounded, no trailing zeros. */
export function num(n: number, decimals = 3): string {
  const f = 10 ** decimals;
  const cut = Math.trunc(Math.round(n * f * 1e6) / 1e6) / f;
  const s = cut.toFixed(decimals).replace(/\.?0+$/, '');
  return s === '-0' ? '0' : s;
}

const colour = (c: readonly [number, number, number]): string => c.map((v) => num(v, 10)).join(' ');

/** Text string as Writer writes Info and /Contents values: UTF-16BE with a byte order mark, in hex. */
export function utf16Hex(s: string): string {
  return `<FEFF${Buffer.from(s, 'utf16le').swap16().toString('hex').toUpperCase()}>`;
}

function literal(s: string): string {
  return `(${s.replace(/[\\()]/g, (c) => `\\${c}`)})`;
}

/** PDF date as Writer writes it: `D:YYYYMMDDHHmmSS` then `Z'` for UTC or `+01'00'`. */
export function pdfDate(d: Date, offsetMinutes: number): string {
  const local = new Date(d.getTime() + offsetMinutes * 60_000);
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${local.getUTCFullYear()}${p(local.getUTCMonth() + 1)}${p(local.getUTCDate())}${p(local.getUTCHours())}${p(local.getUTCMinutes())}${p(local.getUTCSeconds())}`;
  if (offsetMinutes === 0) return `D:${stamp}Z'`;
  const a = Math.abs(offsetMinutes);
  return `D:${stamp}${offsetMinutes < 0 ? '-' : '+'}${p(Math.floor(a / 60))}'${p(a % 60)}'`;
}

/** Per font: the glyphs used, in order of first use; a code is the glyph's place in that list. */
interface UsedFont {
  face: TrueTypeFont;
  glyphs: number[];
  chars: number[];
}

/** Codes one subset font takes: one byte each, with room left for composite glyphs' components. */
const MAX_CODES = 160;

function codesOf(used: UsedFont, text: string): number[] {
  return [...text].map((ch) => {
    const cp = ch.codePointAt(0) ?? 63;
    let glyph = used.face.glyphOf(cp);
    // A character the face lacks, or one past what a one-byte subset holds (composites need room too), prints as '?'.
    if (glyph === 0 || (used.glyphs.length >= MAX_CODES && !used.glyphs.includes(glyph))) glyph = used.face.glyphOf(63);
    const known = used.glyphs.indexOf(glyph);
    if (known >= 0) return known;
    used.glyphs.push(glyph);
    used.chars.push(glyph === used.face.glyphOf(cp) ? cp : 63);
    return used.glyphs.length - 1;
  });
}

/** Width of the PDF's /Widths entry for a glyph: advance in thousandths of an em, cut. */
export function pdfWidth(face: TrueTypeFont, glyph: number): number {
  return Math.trunc((face.advanceOf(glyph) * 1000) / face.unitsPerEm);
}

/**
 * A glyph's advance in tenths of a point as Writer lays it out for PDF (its 720 dpi reference
 * device): width plus pair kerning with the next glyph, cut to the device grid. A model: Writer
 * takes hinted advances at that size, which this does not reproduce (docs/stealth.md).
 */
function layoutTenths(face: TrueTypeFont, size: number, glyph: number, next: number | undefined): number {
  const kern = next === undefined ? 0 : face.kernOf(glyph, next);
  return Math.floor(((face.advanceOf(glyph) + kern) * size * 10) / face.unitsPerEm);
}

/** Width of `text` in points as Writer lays it out (kerned advances on its device grid). */
export function textWidth(face: TrueTypeFont, size: number, text: string): number {
  const glyphs = [...text].map((ch) => face.glyphOf(ch.codePointAt(0) ?? 63) || face.glyphOf(63));
  return glyphs.reduce((tenths, g, i) => tenths + layoutTenths(face, size, g, glyphs[i + 1]), 0) / 10;
}

/** The show-text operator: after each glyph, a TJ adjustment where Writer's advance and /Widths part, glyph by glyph. */
function showText(face: TrueTypeFont, size: number, codes: number[], glyphs: number[]): string {
  const hex = (c: number) => c.toString(16).toUpperCase().padStart(2, '0');
  let chunk = '';
  const parts: string[] = [];
  codes.forEach((code, i) => {
    chunk += hex(code);
    if (i === codes.length - 1) return;
    const glyph = glyphs[code] ?? 0;
    const next = glyphs[codes[i + 1] ?? 0];
    const adjust = pdfWidth(face, glyph) - Math.round((layoutTenths(face, size, glyph, next) * 100) / size);
    if (adjust === 0) return;
    parts.push(`<${chunk}>${adjust}`);
    chunk = '';
  });
  if (parts.length === 0) return `<${chunk}>Tj`;
  return `[${parts.join('')}<${chunk}>]TJ`;
}

/** The finished file. */
export function writePdf(spec: PdfDocumentSpec): Buffer {
  const fonts: UsedFont[] = [];
  const usedOf = (face: TrueTypeFont): UsedFont => {
    let u = fonts.find((f) => f.face === face);
    if (!u) fonts.push((u = { face, glyphs: [0], chars: [0] }));
    return u;
  };
  let content = `0.1 w\nq 0 ${num(0.028)} ${num(PAGE.width - 0.028)} ${num(PAGE.height - 0.028)} re\nW* n\n`;
  const links: { rect: number[]; uri: string; text: string }[] = [];
  for (const run of spec.runs) {
    const used = usedOf(run.face);
    const codes = codesOf(used, run.text);
    const fill = run.color ?? (run.link ? ([0, 0, 128 / 255] as const) : ([0, 0, 0] as const));
    content += `q ${colour(fill)} rg\nBT\n${num(run.x)} ${num(run.y)} Td /F${fonts.indexOf(used) + 1} ${num(run.size)} Tf${showText(run.face, run.size, codes, used.glyphs)}\nET\nQ\n`;
    if (!run.link) continue;
    const width = textWidth(run.face, run.size, run.text);
    const [asc, desc] = [run.face.tables.get('hhea')?.readInt16BE(4) ?? 0, run.face.tables.get('hhea')?.readInt16BE(6) ?? 0];
    const em = run.size / run.face.unitsPerEm;
    content += `q 1 0 0 1 ${num(run.x)} ${num(run.y)} cm\n${num(Math.round(run.size * 0.058 * 10) / 10)} w ${colour(fill)} RG\n0 -${num(Math.round(run.size * 0.085 * 10) / 10)} m ${num(Math.round(width * 10) / 10)} -${num(Math.round(run.size * 0.085 * 10) / 10)} l S\nQ\n`;
    links.push({ rect: [run.x - 0.107, run.y + desc * em, run.x + width - 0.093, run.y + asc * em], uri: run.link, text: run.text });
  }
  content += 'Q ';

  // Object numbers as Writer hands them out: page 1, its content 2 and length 3, annotations, the page tree, then fonts.
  const page = 1;
  const annots = links.map((_, i) => 4 + i);
  const pages = 4 + links.length;
  let next = pages + 1;
  const fontObjs = fonts.map(() => {
    const o = { file: next, fileLength: next + 1, descriptor: next + 2, toUnicode: next + 3, font: next + 4 };
    next += 5;
    return o;
  });
  const fontDict = next++;
  const resources = next++;
  const catalog = next++;
  const info = next++;

  const out: Buffer[] = [];
  let size = 0;
  const offsets = new Map<number, number>();
  const write = (b: Buffer | string) => {
    const buf = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
    out.push(buf);
    size += buf.length;
  };
  const obj = (n: number, body: string | Buffer[]) => {
    offsets.set(n, size);
    write(`${n} 0 obj\n`);
    if (typeof body === 'string') write(body);
    else body.forEach(write);
    write('\nendobj\n\n');
  };
  write(Buffer.concat([Buffer.from('%PDF-1.6\n%'), Buffer.from('äüöß\n', 'utf8')]));

  const stream = deflateSync(Buffer.from(content, 'latin1'));
  obj(2, [Buffer.from(`<</Length 3 0 R/Filter/FlateDecode>>\nstream\n`), stream, Buffer.from('\nendstream')]);
  obj(3, String(stream.length));
  fonts.forEach((used, i) => {
    const o = fontObjs[i] ?? { file: 0, fileLength: 0, descriptor: 0, toUnicode: 0, font: 0 };
    const face = used.face;
    const name = `${String.fromCharCode(66 + i)}AAAAA+${face.postScriptName}`;
    const ttf = subsetTrueType(face, used.glyphs);
    const packed = deflateSync(ttf);
    obj(o.file, [Buffer.from(`<</Length ${o.fileLength} 0 R/Filter/FlateDecode/Length1 ${ttf.length}>>\nstream\n`), packed, Buffer.from('\nendstream')]);
    obj(o.fileLength, String(packed.length));
    const k = 1000 / face.unitsPerEm;
    const [xMin, yMin, xMax, yMax] = face.bbox.map((v) => Math.trunc(v * k)) as [number, number, number, number];
    obj(o.descriptor, `<</Type/FontDescriptor/FontName/${name}\n/Flags 4\n/FontBBox[${xMin} ${yMin} ${xMax - 1} ${yMax}]/ItalicAngle 0\n/Ascent 0\n/Descent 0\n/CapHeight ${yMax}\n/StemV 80\n/FontFile2 ${o.file} 0 R\n>>`);
    const cmap = deflateSync(Buffer.from(toUnicode(used.chars), 'latin1'));
    obj(o.toUnicode, [Buffer.from(`<</Length ${cmap.length}/Filter/FlateDecode>>\nstream\n`), cmap, Buffer.from('\nendstream')]);
    const widths = used.glyphs.map((g, code) => `${code === 0 ? 0 : pdfWidth(face, g)}${(code + 1) % 16 === 0 ? '\n' : ' '}`).join('');
    obj(o.font, `<</Type/Font/Subtype/TrueType/BaseFont/${name}\n/FirstChar 0\n/LastChar ${used.glyphs.length - 1}\n/Widths[${widths}]\n/FontDescriptor ${o.descriptor} 0 R\n/ToUnicode ${o.toUnicode} 0 R\n>>`);
  });
  obj(fontDict, `<<${fontObjs.map((o, i) => `/F${i + 1} ${o.font} 0 R`).join('')}\n>>`);
  obj(resources, `<</Font ${fontDict} 0 R\n/ProcSet[/PDF/Text]\n>>`);
  const box = `0 0 ${PAGE.width} ${PAGE.height}`;
  obj(page, `<</Type/Page/Parent ${pages} 0 R/Resources ${resources} 0 R/MediaBox[${box}]${annots.length ? `/Annots[\n${annots.map((a) => `${a} 0 R`).join(' ')} ]\n` : '\n'}/Tabs(S)\n/Contents 2 0 R>>`);
  obj(pages, `<</Type/Pages\n/Resources ${resources} 0 R\n/MediaBox[ ${box} ]\n/Kids[ ${page} 0 R ]\n/Count 1>>`);
  links.forEach((l, i) => {
    obj(annots[i] ?? 0, `<</Type/Annot/Subtype/Link/Border[0 0 0]/Rect[${l.rect.map((v) => num(v)).join(' ')}]/Contents${utf16Hex(l.text)}/A<</Type/Action/S/URI/URI${literal(l.uri)}>>\n>>`);
  });
  const open = spec.openUri ? `<</Type/Action/S/URI/URI<${Buffer.from(spec.openUri, 'latin1').toString('hex').toUpperCase()}>>>` : `[${page} 0 R /XYZ null null 0]`;
  obj(catalog, `<</Type/Catalog/Pages ${pages} 0 R\n/OpenAction${open}\n/ViewerPreferences<</DisplayDocTitle true\n>>\n/Lang(${spec.lang ?? 'en-US'})\n>>`);
  const i = spec.info;
  obj(
    info,
    `<</Title${utf16Hex(i.title)}\n/Author${utf16Hex(i.author)}\n/Subject${utf16Hex(i.subject)}\n/Keywords${utf16Hex(i.keywords.join(', '))}\n/Creator${utf16Hex(i.creator)}\n/Producer${utf16Hex(i.producer)}\n/CreationDate(${pdfDate(i.created, i.utcOffsetMinutes)})>>`,
  );

  const xref = size;
  write(`xref\n0 ${info + 1}\n0000000000 65535 f \n`);
  for (let n = 1; n <= info; n++) write(`${String(offsets.get(n) ?? 0).padStart(10, '0')} 00000 n \n`);
  const sum = createHash('md5').update(Buffer.concat(out)).digest('hex').toUpperCase();
  const id = randomBytes(16).toString('hex').toUpperCase();
  write(`trailer\n<</Size ${info + 1}/Root ${catalog} 0 R\n/Info ${info} 0 R\n/ID [ <${id}>\n<${id}> ]\n/DocChecksum /${sum}\n>>\nstartxref\n${xref}\n%%EOF\n`);
  return Buffer.concat(out);
}

/** Writer's ToUnicode CMap: one bfchar line per code, in blocks of at most 100. */
function toUnicode(chars: number[]): string {
  const hex = (n: number, w: number) => n.toString(16).toUpperCase().padStart(w, '0');
  const lines = chars.slice(1).map((cp, i) => `<${hex(i + 1, 2)}> <${hex(cp, 4)}>\n`);
  let blocks = '';
  for (let at = 0; at < lines.length; at += 100) {
    const block = lines.slice(at, at + 100);
    blocks += `${block.length} beginbfchar\n${block.join('')}endbfchar\n`;
  }
  return `/CIDInit/ProcSet findresource begin\n12 dict begin\nbegincmap\n/CIDSystemInfo<<\n/Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n/CMapName/Adobe-Identity-UCS def\n/CMapType 2 def\n1 begincodespacerange\n<00> <FF>\nendcodespacerange\n${blocks}endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n`;
}
