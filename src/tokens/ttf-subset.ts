import type { TrueTypeFont } from './truetype.ts';

/**
 * TrueType fonts subset the way LibreOffice's PDF export subsets them (vcl's sft.cxx,
 * `CreateTTFromTTGlyphs`), so an embedded font reads like one LibreOffice wrote: sfnt version
 * `true`, twelve tables in tag order (cmap, cvt, fpgm, glyf, head, hhea, hmtx, loca, maxp, name,
 * post, prep), a Mac Roman format-0 cmap, glyph 0 `.notdef` and then the glyphs in order of first
 * use (each composite followed by its new components), a rebuilt hhea with zeroed extremes, post
 * format 3, the name table copied record by record, and Writer's checksum quirk. Byte-identical
 * to a LibreOffice 7.4 export's subsets (tests/tokens/pdf-structure.test.ts).
 */

const pad4 = (b: Buffer): Buffer => (b.length % 4 === 0 ? b : Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]));

/**
 * Table checksum as LibreOffice computes it: the 32-bit words are summed in the machine's (little-endian)
 * byte order rather than big-endian as the TrueType spec says. Readers ignore checksums; copying the
 * quirk keeps the subset byte-identical to LibreOffice's.
 */
function checksum(b: Buffer): number {
  const p = pad4(b);
  let sum = 0;
  for (let i = 0; i < p.length; i += 4) sum = (sum + p.readUInt32LE(i)) >>> 0;
  return sum;
}

/**
 * A font holding `glyphs` (source glyph ids, `.notdef` first) as LibreOffice writes a subset:
 * code n maps to the n-th requested glyph; composite glyphs bring their components along.
 */
export function subsetTrueType(font: TrueTypeFont, glyphs: readonly number[]): Buffer {
  const glyf = font.tables.get('glyf') ?? Buffer.alloc(0);
  const raw = (g: number): Buffer => glyf.subarray(font.loca[g] ?? 0, font.loca[g + 1] ?? 0);
  // Writer's order: each requested glyph (even one already there as a component), followed at once
  // by those of its components not yet in the subset; components point at their place in it.
  const order: number[] = [];
  const data: Buffer[] = [];
  const codes: number[] = [];
  const place = (g: number, requested: boolean): number => {
    const known = order.indexOf(g);
    if (!requested && known >= 0) return known;
    const at = order.push(g) - 1;
    const copy = Buffer.from(raw(g));
    data.push(copy);
    if (copy.length > 0 && copy.readInt16BE(0) < 0) {
      for (let offset = 10, more = true; more; ) {
        const flags = copy.readUInt16BE(offset);
        copy.writeUInt16BE(place(copy.readUInt16BE(offset + 2), false), offset + 2);
        offset += 4 + (flags & 1 ? 4 : 2) + (flags & 8 ? 2 : flags & 0x40 ? 4 : flags & 0x80 ? 8 : 0);
        more = (flags & 0x20) !== 0;
      }
    }
    data[at] = pad4(copy);
    return at;
  };
  for (const g of glyphs) codes.push(place(g, true));
  if (order.length > 256) throw new Error('a subset holds at most 256 glyphs');
  const glyfOut = Buffer.concat(data);
  const shortLoca = glyfOut.length < 0x20000;
  const loca = Buffer.alloc((order.length + 1) * (shortLoca ? 2 : 4));
  let offset = 0;
  // Writer's bounding box starts at the origin (ttcr.cxx), so it always takes in (0, 0).
  let [xMin, yMin, xMax, yMax] = [0, 0, 0, 0];
  let [points, contours, compositePoints, compositeContours] = [0, 0, 0, 0];
  /** Points and contours of a glyph of the subset, composites summed over their components. */
  const size = (i: number): [number, number] => {
    const g = data[i] ?? Buffer.alloc(0);
    if (g.length === 0) return [0, 0];
    const n = g.readInt16BE(0);
    if (n >= 0) return [n > 0 ? g.readUInt16BE(10 + 2 * (n - 1)) + 1 : 0, n];
    let [p, c] = [0, 0];
    for (let offset = 10, more = true; more; ) {
      const flags = g.readUInt16BE(offset);
      const [cp, cc] = size(g.readUInt16BE(offset + 2));
      [p, c] = [p + cp, c + cc];
      offset += 4 + (flags & 1 ? 4 : 2) + (flags & 8 ? 2 : flags & 0x40 ? 4 : flags & 0x80 ? 8 : 0);
      more = (flags & 0x20) !== 0;
    }
    return [p, c];
  };
  data.forEach((g, i) => {
    if (shortLoca) loca.writeUInt16BE(offset / 2, 2 * i);
    else loca.writeUInt32BE(offset, 4 * i);
    offset += g.length;
    if (g.length === 0) return;
    xMin = Math.min(xMin, g.readInt16BE(2));
    yMin = Math.min(yMin, g.readInt16BE(4));
    xMax = Math.max(xMax, g.readInt16BE(6));
    yMax = Math.max(yMax, g.readInt16BE(8));
    const [p, c] = size(i);
    if (g.readInt16BE(0) >= 0) [points, contours] = [Math.max(points, p), Math.max(contours, c)];
    else [compositePoints, compositeContours] = [Math.max(compositePoints, p), Math.max(compositeContours, c)];
  });
  if (shortLoca) loca.writeUInt16BE(offset / 2, 2 * order.length);
  else loca.writeUInt32BE(offset, 4 * order.length);

  const src = (tag: string): Buffer => font.tables.get(tag) ?? Buffer.alloc(0);
  const head = Buffer.from(src('head').subarray(0, 54));
  head.writeUInt32BE(0, 8);
  head.writeBigUInt64BE(0n, 28);
  [xMin, yMin, xMax, yMax].forEach((v, i) => head.writeInt16BE(v, 36 + 2 * i));
  head.writeInt16BE(shortLoca ? 0 : 1, 50);

  // hmtx as Writer packs it: a trailing run of glyphs with one advance keeps only its first advance,
  // the rest carry their left side bearings alone (numberOfHMetrics counts the full entries).
  const sourceHmtx = src('hmtx');
  const sourceHhea = src('hhea');
  const metrics = sourceHhea.readUInt16BE(34);
  const advances = order.map((g) => font.advanceOf(g));
  const bearings = order.map((g) => (g < metrics ? sourceHmtx.readInt16BE(4 * g + 2) : sourceHmtx.readInt16BE(4 * metrics + 2 * (g - metrics))));
  let full = advances.length;
  while (full > 1 && advances[full - 1] === advances[full - 2]) full--;
  const hmtx = Buffer.alloc(4 * full + 2 * (order.length - full));
  for (let i = 0; i < order.length; i++) {
    if (i < full) {
      hmtx.writeUInt16BE(advances[i] ?? 0, 4 * i);
      hmtx.writeInt16BE(bearings[i] ?? 0, 4 * i + 2);
    } else hmtx.writeInt16BE(bearings[i] ?? 0, 4 * full + 2 * (i - full));
  }

  const hhea = Buffer.alloc(36);
  hhea.writeUInt32BE(0x00010000, 0);
  sourceHhea.copy(hhea, 4, 4, 10);
  sourceHhea.copy(hhea, 18, 18, 22);
  hhea.writeUInt16BE(full, 34);

  const maxp = Buffer.from(src('maxp').subarray(0, 32));
  maxp.writeUInt16BE(order.length, 4);
  maxp.writeUInt16BE(points, 6);
  maxp.writeUInt16BE(contours, 8);
  maxp.writeUInt16BE(compositePoints, 10);
  maxp.writeUInt16BE(compositeContours, 12);

  const cmap = Buffer.alloc(274);
  cmap.writeUInt16BE(1, 2);
  cmap.writeUInt16BE(1, 4);
  cmap.writeUInt32BE(12, 8);
  cmap.writeUInt16BE(262, 14);
  codes.forEach((glyph, code) => cmap.writeUInt8(glyph, 18 + code));

  const post = Buffer.from(src('post').subarray(0, 32));
  post.writeUInt32BE(0x00030000, 0);

  const out = new Map<string, Buffer>([
    ['cmap', cmap], ['cvt ', src('cvt ')], ['fpgm', src('fpgm')], ['glyf', glyfOut], ['head', head], ['hhea', hhea],
    ['hmtx', hmtx], ['loca', loca], ['maxp', maxp], ['name', rebuiltName(src('name'))], ['post', post], ['prep', src('prep')],
  ]);
  for (const [tag, t] of out) if (t.length === 0) out.delete(tag);
  return assemble(out);
}

/** The name table with every record's string stored on its own, in record order. */
function rebuiltName(name: Buffer): Buffer {
  const count = name.readUInt16BE(2);
  const strings = name.readUInt16BE(4);
  const header = Buffer.alloc(6 + 12 * count);
  header.writeUInt16BE(count, 2);
  header.writeUInt16BE(6 + 12 * count, 4);
  const parts: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const r = 6 + 12 * i;
    name.copy(header, r, r, r + 10);
    header.writeUInt16BE(at, r + 10);
    const length = name.readUInt16BE(r + 8);
    const start = strings + name.readUInt16BE(r + 10);
    parts.push(name.subarray(start, start + length));
    at += length;
  }
  return Buffer.concat([header, ...parts]);
}

function assemble(tables: Map<string, Buffer>): Buffer {
  const n = tables.size;
  const log = Math.floor(Math.log2(n));
  const dir = Buffer.alloc(12 + 16 * n);
  dir.write('true', 0, 'latin1');
  dir.writeUInt16BE(n, 4);
  dir.writeUInt16BE(16 * 2 ** log, 6);
  dir.writeUInt16BE(log, 8);
  dir.writeUInt16BE(16 * n - 16 * 2 ** log, 10);
  let offset = dir.length;
  const body: Buffer[] = [];
  [...tables.keys()].sort().forEach((tag, i) => {
    const t = tables.get(tag) ?? Buffer.alloc(0);
    const at = 12 + 16 * i;
    dir.write(tag, at, 'latin1');
    dir.writeUInt32BE(checksum(t), at + 4);
    dir.writeUInt32BE(offset, at + 8);
    dir.writeUInt32BE(t.length, at + 12);
    body.push(pad4(t));
    offset += pad4(t).length;
  });
  const font = Buffer.concat([dir, ...body]);
  const headAt = [...tables.keys()].sort().indexOf('head');
  font.writeUInt32BE((0xb1b0afba - checksum(font)) >>> 0, font.readUInt32BE(12 + 16 * headAt + 8) + 8);
  return font;
}
