import { createHash, randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { PAGE, num, pageContent, pdfWidth, type TextRun, type UsedFont } from './pdf-text.ts';
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

/** The file as it grows: its bytes, and where each object starts (for the cross-reference table). */
interface Out {
  parts: Buffer[];
  size: number;
  offsets: Map<number, number>;
}

function write(out: Out, b: Buffer | string): void {
  const buf = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
  out.parts.push(buf);
  out.size += buf.length;
}

function obj(out: Out, n: number, body: string): void {
  out.offsets.set(n, out.size);
  write(out, `${n} 0 obj\n${body}\nendobj\n\n`);
}

function streamObj(out: Out, n: number, dict: string, data: Buffer): void {
  out.offsets.set(n, out.size);
  write(out, `${n} 0 obj\n<<${dict}>>\nstream\n`);
  write(out, data);
  write(out, '\nendstream\nendobj\n\n');
}

interface FontNumbers {
  file: number;
  descriptor: number;
  toUnicode: number;
  font: number;
}

/** One font's five objects in Writer's order: FontFile2 and its length, descriptor, ToUnicode, font. */
function writeFont(out: Out, used: UsedFont, tag: string, o: FontNumbers): void {
  const face = used.face;
  const name = `${tag}+${face.postScriptName}`;
  const ttf = subsetTrueType(face, used.glyphs);
  const packed = deflateSync(ttf);
  streamObj(out, o.file, `/Length ${o.file + 1} 0 R/Filter/FlateDecode/Length1 ${ttf.length}`, packed);
  obj(out, o.file + 1, String(packed.length));
  const k = 1000 / face.unitsPerEm;
  const [xMin, yMin, xMax, yMax] = face.bbox.map((v) => Math.trunc(v * k)) as [number, number, number, number];
  // Writer's box is an inclusive rectangle (right edge one less), its cap height the box's top, ascent and descent 0.
  obj(out, o.descriptor, `<</Type/FontDescriptor/FontName/${name}\n/Flags 4\n/FontBBox[${xMin} ${yMin} ${xMax - 1} ${yMax}]/ItalicAngle 0\n/Ascent 0\n/Descent 0\n/CapHeight ${yMax}\n/StemV 80\n/FontFile2 ${o.file} 0 R\n>>`);
  const cmap = deflateSync(Buffer.from(toUnicode(used.chars), 'latin1'));
  streamObj(out, o.toUnicode, `/Length ${cmap.length}/Filter/FlateDecode`, cmap);
  const widths = used.glyphs.map((g, code) => `${code === 0 ? 0 : pdfWidth(face, g)}${(code + 1) % 16 === 0 ? '\n' : ' '}`).join('');
  obj(out, o.font, `<</Type/Font/Subtype/TrueType/BaseFont/${name}\n/FirstChar 0\n/LastChar ${used.glyphs.length - 1}\n/Widths[${widths}]\n/FontDescriptor ${o.descriptor} 0 R\n/ToUnicode ${o.toUnicode} 0 R\n>>`);
}

/** The finished file. */
export function writePdf(spec: PdfDocumentSpec): Buffer {
  const { content, fonts, links } = pageContent(spec.runs);
  // Object numbers as Writer hands them out: page 1, its content 2 and length 3, annotations, the page tree, fonts, then the rest.
  const page = 1;
  const annots = links.map((_, i) => 4 + i);
  const pages = 4 + links.length;
  const fontNumbers = fonts.map((_, i): FontNumbers => {
    const file = pages + 1 + 5 * i;
    return { file, descriptor: file + 2, toUnicode: file + 3, font: file + 4 };
  });
  const fontDict = pages + 1 + 5 * fonts.length;
  const [resources, catalog, info] = [fontDict + 1, fontDict + 2, fontDict + 3];

  const out: Out = { parts: [], size: 0, offsets: new Map() };
  write(out, Buffer.concat([Buffer.from('%PDF-1.6\n%'), Buffer.from('äüöß\n', 'utf8')]));
  const stream = deflateSync(Buffer.from(content, 'latin1'));
  streamObj(out, 2, '/Length 3 0 R/Filter/FlateDecode', stream);
  obj(out, 3, String(stream.length));
  fonts.forEach((used, i) => writeFont(out, used, `${String.fromCharCode(66 + i)}AAAAA`, fontNumbers[i] ?? { file: 0, descriptor: 0, toUnicode: 0, font: 0 }));
  obj(out, fontDict, `<<${fontNumbers.map((o, i) => `/F${i + 1} ${o.font} 0 R`).join('')}\n>>`);
  obj(out, resources, `<</Font ${fontDict} 0 R\n/ProcSet[/PDF/Text]\n>>`);
  const box = `0 0 ${PAGE.width} ${PAGE.height}`;
  obj(out, page, `<</Type/Page/Parent ${pages} 0 R/Resources ${resources} 0 R/MediaBox[${box}]${annots.length ? `/Annots[\n${annots.map((a) => `${a} 0 R`).join(' ')} ]\n` : '\n'}/Tabs(S)\n/Contents 2 0 R>>`);
  obj(out, pages, `<</Type/Pages\n/Resources ${resources} 0 R\n/MediaBox[ ${box} ]\n/Kids[ ${page} 0 R ]\n/Count 1>>`);
  links.forEach((l, i) => {
    obj(out, annots[i] ?? 0, `<</Type/Annot/Subtype/Link/Border[0 0 0]/Rect[${l.rect.map((v) => num(v)).join(' ')}]/Contents${utf16Hex(l.text)}/A<</Type/Action/S/URI/URI${literal(l.uri)}>>\n>>`);
  });
  const open = spec.openUri ? `<</Type/Action/S/URI/URI<${Buffer.from(spec.openUri, 'latin1').toString('hex').toUpperCase()}>>>` : `[${page} 0 R /XYZ null null 0]`;
  obj(out, catalog, `<</Type/Catalog/Pages ${pages} 0 R\n/OpenAction${open}\n/ViewerPreferences<</DisplayDocTitle true\n>>\n/Lang(${spec.lang ?? 'en-US'})\n>>`);
  const i = spec.info;
  const text = (key: string, value: string) => `/${key}${utf16Hex(value)}\n`;
  obj(out, info, `<<${text('Title', i.title)}${text('Author', i.author)}${text('Subject', i.subject)}${text('Keywords', i.keywords.join(', '))}${text('Creator', i.creator)}${text('Producer', i.producer)}/CreationDate(${pdfDate(i.created, i.utcOffsetMinutes)})>>`);

  const xref = out.size;
  write(out, `xref\n0 ${info + 1}\n0000000000 65535 f \n`);
  for (let n = 1; n <= info; n++) write(out, `${String(out.offsets.get(n) ?? 0).padStart(10, '0')} 00000 n \n`);
  // Writer's /DocChecksum: MD5 of every byte before the trailer. Its /ID is a digest of the moment and
  // document; random bytes are indistinguishable from one.
  const sum = createHash('md5').update(Buffer.concat(out.parts)).digest('hex').toUpperCase();
  const id = randomBytes(16).toString('hex').toUpperCase();
  write(out, `trailer\n<</Size ${info + 1}/Root ${catalog} 0 R\n/Info ${info} 0 R\n/ID [ <${id}>\n<${id}> ]\n/DocChecksum /${sum}\n>>\nstartxref\n${xref}\n%%EOF\n`);
  return Buffer.concat(out.parts);
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
