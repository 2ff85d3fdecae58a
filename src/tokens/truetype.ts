import { readFileSync } from 'node:fs';

/**
 * A TrueType font as PDF export needs it: glyph lookup by code point, advances, pair kerning, the
 * PostScript name and bounding box, and the raw tables the subsetter copies (src/tokens/ttf-subset.ts).
 */

export interface TrueTypeFont {
  /** PostScript name (name id 6), as PDF's /BaseFont after the subset tag. */
  postScriptName: string;
  unitsPerEm: number;
  /** head's xMin, yMin, xMax, yMax in font units. */
  bbox: [number, number, number, number];
  /** Glyph for a code point (0 when the font has none). */
  glyphOf(codePoint: number): number;
  /** Advance width in font units. */
  advanceOf(glyph: number): number;
  /** Pair kerning between two glyphs in font units (the `kern` table's horizontal pairs; 0 without one). */
  kernOf(left: number, right: number): number;
  tables: Map<string, Buffer>;
  loca: number[];
}

const cache = new Map<string, TrueTypeFont>();

/** Parses (once per path) a TrueType font file with glyf outlines. */
export function loadTrueType(path: string): TrueTypeFont {
  const known = cache.get(path);
  if (known) return known;
  const file = readFileSync(path);
  const tables = new Map<string, Buffer>();
  const count = file.readUInt16BE(4);
  for (let i = 0; i < count; i++) {
    const at = 12 + 16 * i;
    const offset = file.readUInt32BE(at + 8);
    tables.set(file.toString('latin1', at, at + 4), file.subarray(offset, offset + file.readUInt32BE(at + 12)));
  }
  const table = (tag: string): Buffer => {
    const t = tables.get(tag);
    if (!t) throw new Error(`${path}: no ${tag} table`);
    return t;
  };
  const head = table('head');
  const maxp = table('maxp');
  const hhea = table('hhea');
  const hmtx = table('hmtx');
  const numGlyphs = maxp.readUInt16BE(4);
  const longLoca = head.readInt16BE(50) === 1;
  const locaTable = table('loca');
  const loca = Array.from({ length: numGlyphs + 1 }, (_, i) => (longLoca ? locaTable.readUInt32BE(4 * i) : locaTable.readUInt16BE(2 * i) * 2));
  const metrics = hhea.readUInt16BE(34);
  const cmap = unicodeCmap(table('cmap'));
  const kern = kernPairs(tables.get('kern'));
  const font: TrueTypeFont = {
    postScriptName: nameRecord(table('name'), 6) ?? 'Unknown',
    unitsPerEm: head.readUInt16BE(18),
    bbox: [head.readInt16BE(36), head.readInt16BE(38), head.readInt16BE(40), head.readInt16BE(42)],
    glyphOf: (cp) => cmap(cp),
    advanceOf: (g) => hmtx.readUInt16BE(4 * Math.min(g, metrics - 1)),
    kernOf: (l, r) => kern.get(l * 65536 + r) ?? 0,
    tables,
    loca,
  };
  cache.set(path, font);
  return font;
}

/** The Windows Unicode BMP (3,1) format-4 subtable as a lookup. */
function unicodeCmap(cmap: Buffer): (cp: number) => number {
  const n = cmap.readUInt16BE(2);
  for (let i = 0; i < n; i++) {
    const platform = cmap.readUInt16BE(4 + 8 * i);
    const encoding = cmap.readUInt16BE(6 + 8 * i);
    const sub = cmap.subarray(cmap.readUInt32BE(8 + 8 * i));
    if (platform !== 3 || encoding !== 1 || sub.readUInt16BE(0) !== 4) continue;
    const segs = sub.readUInt16BE(6) / 2;
    const ends = 14;
    const starts = ends + 2 * segs + 2;
    const deltas = starts + 2 * segs;
    const ranges = deltas + 2 * segs;
    return (cp) => {
      for (let s = 0; s < segs; s++) {
        if (cp > sub.readUInt16BE(ends + 2 * s)) continue;
        const start = sub.readUInt16BE(starts + 2 * s);
        if (cp < start) return 0;
        const delta = sub.readUInt16BE(deltas + 2 * s);
        const range = sub.readUInt16BE(ranges + 2 * s);
        if (range === 0) return (cp + delta) & 0xffff;
        const g = sub.readUInt16BE(ranges + 2 * s + range + 2 * (cp - start));
        return g === 0 ? 0 : (g + delta) & 0xffff;
      }
      return 0;
    };
  }
  throw new Error('no Unicode cmap');
}

/** Horizontal format-0 subtables of a version-0 `kern` table, keyed left * 65536 + right. */
function kernPairs(kern: Buffer | undefined): Map<number, number> {
  const pairs = new Map<number, number>();
  if (!kern || kern.readUInt16BE(0) !== 0) return pairs;
  let at = 4;
  for (let t = 0; t < kern.readUInt16BE(2); t++) {
    const [length, coverage] = [kern.readUInt16BE(at + 2), kern.readUInt16BE(at + 4)];
    if ((coverage & 0xff07) === 0x0001) {
      for (let i = 0, n = kern.readUInt16BE(at + 6); i < n; i++) {
        const p = at + 14 + 6 * i;
        pairs.set(kern.readUInt16BE(p) * 65536 + kern.readUInt16BE(p + 2), kern.readInt16BE(p + 4));
      }
    }
    at += length;
  }
  return pairs;
}

function nameRecord(name: Buffer, id: number): string | undefined {
  const count = name.readUInt16BE(2);
  const strings = name.readUInt16BE(4);
  for (let i = 0; i < count; i++) {
    const r = 6 + 12 * i;
    if (name.readUInt16BE(r + 6) !== id) continue;
    const bytes = name.subarray(strings + name.readUInt16BE(r + 10), strings + name.readUInt16BE(r + 10) + name.readUInt16BE(r + 8));
    return name.readUInt16BE(r) === 3 ? Buffer.from(bytes).swap16().toString('utf16le') : bytes.toString('latin1');
  }
  return undefined;
}

