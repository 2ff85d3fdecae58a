import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';

/**
 * A PDF read the way an attacker's tools read it: qpdf's JSON (version 2, streams decoded inline)
 * for the objects, and the raw bytes for what qpdf normalises away (object order, header bytes,
 * number spelling, the cross-reference form). Used by tests/tokens/pdf.test.ts,
 * pdf-structure.test.ts and the stealth test.
 */

export type PdfValue = string | number | boolean | null | PdfValue[] | { [key: string]: PdfValue };
export interface PdfObject {
  value?: PdfValue;
  stream?: { dict: Record<string, PdfValue>; data?: string };
}

export interface TextShow {
  font: string;
  size: number;
  x: number;
  y: number;
  text: string;
  fill: string;
  /** The TJ adjustment after each glyph but the last (0 where there is none). */
  adjust: number[];
}

export interface InspectedPdf {
  raw: Buffer;
  /** The first two lines, byte for byte: version and the binary comment. */
  header: Buffer;
  /** Object numbers in the order they stand in the file. */
  order: number[];
  objects: Map<number, PdfObject>;
  trailer: Record<string, PdfValue>;
  /** The classic `xref` keyword table is there, and no cross-reference or object stream. */
  xrefTable: boolean;
  objectStreams: boolean;
  /** `/DocChecksum` equals the MD5 of every byte before `trailer`, as Writer computes it. */
  docChecksumHolds: boolean;
  dict(ref: PdfValue | undefined): Record<string, PdfValue>;
  streamText(ref: PdfValue | undefined): string;
  catalog: Record<string, PdfValue>;
  info: Record<string, PdfValue>;
  pages: Record<string, PdfValue>[];
  fonts: Record<string, PdfValue>[];
  /** Page 1's text runs, decoded through each font's ToUnicode map. */
  text: TextShow[];
}

const refNumber = (ref: PdfValue | undefined): number => Number(/^(\d+) 0 R$/.exec(String(ref))?.[1] ?? -1);

/** A qpdf string value (`u:` text or `b:` hex bytes) as text. */
export function str(v: PdfValue | undefined): string {
  const s = String(v ?? '');
  if (s.startsWith('u:')) return s.slice(2);
  if (s.startsWith('b:')) return Buffer.from(s.slice(2), 'hex').toString('latin1');
  return s;
}

export function inspectPdf(raw: Buffer, path: string): InspectedPdf {
  writeFileSync(path, raw);
  const json = JSON.parse(execFileSync('qpdf', ['--json', '--json-stream-data=inline', '--decode-level=generalized', path], { encoding: 'utf8', maxBuffer: 64 << 20 })) as {
    qpdf: [unknown, Record<string, PdfObject>];
  };
  const objects = new Map<number, PdfObject>();
  let trailer: Record<string, PdfValue> = {};
  for (const [key, o] of Object.entries(json.qpdf[1])) {
    if (key === 'trailer') trailer = (o.value ?? {}) as Record<string, PdfValue>;
    else objects.set(Number(/^obj:(\d+) /.exec(key)?.[1]), o);
  }
  const latin = raw.toString('latin1');
  const dict = (ref: PdfValue | undefined): Record<string, PdfValue> => {
    if (ref && typeof ref === 'object' && !Array.isArray(ref)) return ref;
    const o = objects.get(refNumber(ref));
    return ((o?.value ?? o?.stream?.dict ?? {}) as Record<string, PdfValue>) ?? {};
  };
  const streamText = (ref: PdfValue | undefined): string => Buffer.from(objects.get(refNumber(ref))?.stream?.data ?? '', 'base64').toString('latin1');
  const catalog = dict(trailer['/Root']);
  const pages = ((dict(catalog['/Pages'])['/Kids'] ?? []) as PdfValue[]).map(dict);
  const fontRes = dict(dict(pages[0]?.['/Resources'])['/Font']);
  const fonts = Object.values(fontRes).map(dict);
  const trailerAt = latin.lastIndexOf('\ntrailer') + 1;
  const checksum = createHash('md5').update(raw.subarray(0, trailerAt)).digest('hex').toUpperCase();
  return {
    raw,
    header: raw.subarray(0, raw.indexOf(0x0a, raw.indexOf(0x0a) + 1) + 1),
    order: [...latin.matchAll(/(?:^|[\r\n])(\d+) 0 obj\b/g)].map((m) => Number(m[1])),
    objects,
    trailer,
    xrefTable: /(?:^|\n)xref\r?\n0 \d+/.test(latin) && !/\/Type\s*\/XRef\b/.test(latin),
    objectStreams: /\/Type\s*\/ObjStm\b/.test(latin),
    docChecksumHolds: trailerAt > 0 && str(trailer['/DocChecksum']) === `/${checksum}`,
    dict,
    streamText,
    catalog,
    info: dict(trailer['/Info']),
    pages,
    fonts,
    text: pageText(streamText(pages[0]?.['/Contents']), fontRes, (ref) => streamText(dict(ref)['/ToUnicode'])),
  };
}

/** The code-to-text map of a ToUnicode CMap's bfchar entries. */
function unicodeMap(cmap: string): Map<number, string> {
  const map = new Map<number, string>();
  for (const m of cmap.matchAll(/<([0-9A-F]+)>\s*<([0-9A-F]+)>/gi)) {
    if (m[1] === undefined || m[2] === undefined || /codespacerange/.test(cmap.slice(Math.max(0, (m.index ?? 0) - 25), m.index))) continue;
    map.set(parseInt(m[1], 16), Buffer.from(m[2], 'hex').swap16().toString('utf16le'));
  }
  return map;
}

/** BT/ET blocks of a content stream in Writer's form (`x y Td /Fn size Tf` then Tj or TJ) as text runs. */
function pageText(content: string, fontRes: Record<string, PdfValue>, toUnicode: (ref: PdfValue | undefined) => string): TextShow[] {
  const maps = new Map(Object.entries(fontRes).map(([name, ref]) => [name, unicodeMap(toUnicode(ref))]));
  const runs: TextShow[] = [];
  let fill = '';
  for (const line of content.split('\n')) {
    const rg = /^q (.*) rg$/.exec(line);
    if (rg) fill = rg[1] ?? '';
    const m = /^(-?[\d.]+) (-?[\d.]+) Td (\/\w+) ([\d.]+) Tf(.*)(?:Tj|TJ)$/.exec(line);
    if (!m) continue;
    const map = maps.get(m[3] ?? '') ?? new Map<number, string>();
    const codes: number[] = [];
    const adjust: number[] = [];
    for (const [, hex, n] of (m[5] ?? '').matchAll(/<([0-9A-F]*)>|(-?\d+)/gi)) {
      if (n !== undefined) adjust[codes.length - 1] = Number(n);
      for (const c of hex?.match(/../g) ?? []) codes.push(parseInt(c, 16));
    }
    const text = codes.map((c) => map.get(c) ?? '\ufffd').join('');
    runs.push({ font: m[3] ?? '', size: Number(m[4]), x: Number(m[1]), y: Number(m[2]), text, fill, adjust: codes.slice(1).map((_, i) => adjust[i] ?? 0) });
  }
  return runs;
}
