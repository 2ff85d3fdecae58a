import type { TrueTypeFont } from './truetype.ts';

/**
 * A page's text as Writer's PDF export writes it: one BT/ET block per run, fonts coded in order
 * of first use (one byte a glyph), glyphs advanced with pair kerning on Writer's 0.1 pt device grid
 * with TJ adjustments against /Widths, links underlined in Writer's hyperlink colour. Used by
 * src/tokens/pdf-writer.ts, which writes the objects around it.
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

/** Writer's decimal output: at most three decimals, cut rather than rounded, no trailing zeros. */
export function num(n: number, decimals = 3): string {
  const f = 10 ** decimals;
  const cut = Math.trunc(Math.round(n * f * 1e6) / 1e6) / f;
  const s = cut.toFixed(decimals).replace(/\.?0+$/, '');
  return s === '-0' ? '0' : s;
}

export const colour = (c: readonly [number, number, number]): string => c.map((v) => num(v, 10)).join(' ');

/** Per font: the glyphs used, in order of first use; a code is the glyph's place in that list. */
export interface UsedFont {
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
 * device): width plus pair kerning with the next glyph, rounded to the device grid. A model: Writer
 * takes hinted advances at that size, which this does not reproduce (docs/stealth.md).
 */
function layoutTenths(face: TrueTypeFont, size: number, glyph: number, next: number | undefined): number {
  const kern = next === undefined ? 0 : face.kernOf(glyph, next);
  return Math.round(((face.advanceOf(glyph) + kern) * size * 10) / face.unitsPerEm);
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

export interface Link {
  rect: number[];
  uri: string;
  text: string;
}

/** The page's content stream as Writer writes it, with the fonts it uses (in order of first use) and its links. */
export function pageContent(runs: readonly TextRun[]): { content: string; fonts: UsedFont[]; links: Link[] } {
  const fonts: UsedFont[] = [];
  const links: Link[] = [];
  let content = `0.1 w\nq 0 ${num(0.028)} ${num(PAGE.width - 0.028)} ${num(PAGE.height - 0.028)} re\nW* n\n`;
  for (const run of runs) {
    let used = fonts.find((f) => f.face === run.face);
    if (!used) fonts.push((used = { face: run.face, glyphs: [0], chars: [0] }));
    const codes = codesOf(used, run.text);
    const fill = run.color ?? (run.link ? ([0, 0, 128 / 255] as const) : ([0, 0, 0] as const));
    content += `q ${colour(fill)} rg\nBT\n${num(run.x)} ${num(run.y)} Td /F${fonts.indexOf(used) + 1} ${num(run.size)} Tf${showText(run.face, run.size, codes, used.glyphs)}\nET\nQ\n`;
    if (!run.link) continue;
    // Writer underlines a hyperlink in its colour and covers the words with the annotation.
    const width = textWidth(run.face, run.size, run.text);
    const hhea = run.face.tables.get('hhea');
    const em = run.size / run.face.unitsPerEm;
    const [thickness, below] = [Math.round(run.size * 0.58) / 10, Math.round(run.size * 0.85) / 10];
    content += `q 1 0 0 1 ${num(run.x)} ${num(run.y)} cm\n${num(thickness)} w ${colour(fill)} RG\n0 -${num(below)} m ${num(Math.round(width * 10) / 10)} -${num(below)} l S\nQ\n`;
    links.push({ rect: [run.x - 0.107, run.y + (hhea?.readInt16BE(6) ?? 0) * em, run.x + width - 0.093, run.y + (hhea?.readInt16BE(4) ?? 0) * em], uri: run.link, text: run.text });
  }
  return { content: `${content}Q `, fonts, links };
}

