import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PDF_PRODUCER, fontPath } from '../../src/tokens/pdf.ts';
import { loadTrueType } from '../../src/tokens/truetype.ts';
import { subsetTrueType } from '../../src/tokens/ttf-subset.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { inspectPdf, str, type InspectedPdf, type PdfValue, type TextShow } from './pdf-inspect.ts';
import { soffice } from '../soffice.ts';

/**
 * The decoy PDF side by side with the genuine article: LibreOffice Writer exports a document
 * holding the decoy's own text (same fonts, sizes, table and link, read back out of the decoy)
 * and metadata, and the two files are compared feature by feature: header bytes, cross-reference
 * form, trailer, Info, XMP, catalog, page tree, fonts down to the embedded subset's bytes, the
 * link annotation, object order, content stream form. Differences that remain are the ones
 * docs/stealth.md lists (the open action, and text positions within a point).
 */

const CONVERT_TIMEOUT_MS = 150_000;
let s: TestServer;
const tmp = tempDir('honeytrail-pdf-structure-');
let ours: InspectedPdf;
let writer: InspectedPdf;
let fixedWriter: InspectedPdf;

/**
 * Texts that exercise the subsetter's corners every run (the decoy's own text is random): composite
 * glyphs (Ü, ä, é, whose accents come as separate glyphs, some shared), and a trailing run of glyphs
 * with one advance (digits), which Writer packs in hmtx.
 */
const FIXED_LINES = [
  { bold: true, text: 'Überprüfung – Résumé für Zugänge 2024' },
  { bold: false, text: 'Ärger über Béla’s Öl: 1 2 3 4 5 6 7 8 9 0' },
];
const FIXED_DOCUMENT = `<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
<office:font-face-decls><style:font-face style:name="Liberation Sans" svg:font-family="'Liberation Sans'"/></office:font-face-decls>
<office:automatic-styles>
<style:style style:name="B" style:family="paragraph"><style:text-properties style:font-name="Liberation Sans" fo:font-size="18pt" fo:font-weight="bold"/></style:style>
<style:style style:name="R" style:family="paragraph"><style:text-properties style:font-name="Liberation Sans" fo:font-size="11pt"/></style:style>
</office:automatic-styles>
<office:body><office:text>
${FIXED_LINES.map((l) => `<text:p text:style-name="${l.bold ? 'B' : 'R'}">${l.text}</text:p>`).join('\n')}
</office:text></office:body></office:document>
`;

async function convert(...files: string[]): Promise<number | null> {
  return (await soffice(tmp.dir, ['--convert-to', 'pdf', ...files], join(tmp.dir, 'out'), CONVERT_TIMEOUT_MS)).code;
}

/** Writer's left text edge with 2 cm margins. */
const LEFT = 56.8;
const xml = (t: string): string => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A flat ODF text document with the decoy's lines: one paragraph a line, table rows on tab stops, the link as a hyperlink. */
function writerDocument(pdf: InspectedPdf): string {
  const bold = new Set(Object.entries(pdf.dict(pdf.dict(pdf.pages[0]?.['/Resources'])['/Font'])).filter(([, ref]) => /Bold/.test(String(pdf.dict(ref)['/BaseFont']))).map(([name]) => name));
  const annot = pdf.dict((pdf.pages[0]?.['/Annots'] as PdfValue[] | undefined)?.[0]);
  const link = str(pdf.dict(annot['/A'])['/URI']);
  const lines: TextShow[][] = [];
  for (const run of pdf.text) {
    const last = lines.at(-1);
    if (last && last[0]?.y === run.y) last.push(run);
    else lines.push([run]);
  }
  const styles = new Map<string, string>();
  const body = lines.map((runs) => {
    const first = runs[0] as TextShow;
    const key = `${first.size}${bold.has(first.font) ? 'b' : ''}`;
    const tabs = runs.length > 1 && !runs.some((r) => r.fill !== first.fill) ? runs.slice(1).map((r) => `<style:tab-stop style:position="${(r.x - first.x).toFixed(2)}pt"/>`).join('') : '';
    const name = `P${styles.size + 1}`;
    styles.set(name, `<style:style style:name="${name}" style:family="paragraph"><style:paragraph-properties fo:margin-top="0cm" fo:margin-bottom="0cm" fo:margin-left="${(first.x - LEFT).toFixed(2)}pt">${tabs ? `<style:tab-stops>${tabs}</style:tab-stops>` : ''}</style:paragraph-properties><style:text-properties style:font-name="Liberation Sans" fo:font-size="${first.size}pt"${key.endsWith('b') ? ' fo:font-weight="bold"' : ''}/></style:style>`);
    const content = runs.map((r) => (r.fill !== first.fill ? `<text:a xlink:type="simple" xlink:href="${xml(link)}">${xml(r.text)}</text:a>` : xml(r.text)));
    return `<text:p text:style-name="${name}">${tabs ? content.join('<text:tab/>') : content.join('')}</text:p>`;
  });
  const info = pdf.info;
  const keywords = str(info['/Keywords']).split(', ').map((k) => `<meta:keyword>${xml(k)}</meta:keyword>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
<office:meta><dc:title>${xml(str(info['/Title']))}</dc:title><dc:subject>${xml(str(info['/Subject']))}</dc:subject>${keywords}<meta:initial-creator>${xml(str(info['/Author']))}</meta:initial-creator><dc:creator>${xml(str(info['/Author']))}</dc:creator></office:meta>
<office:font-face-decls><style:font-face style:name="Liberation Sans" svg:font-family="'Liberation Sans'"/></office:font-face-decls>
<office:automatic-styles>${[...styles.values()].join('')}
<style:page-layout style:name="pm1"><style:page-layout-properties fo:page-width="21.001cm" fo:page-height="29.7cm" fo:margin-top="2cm" fo:margin-bottom="2cm" fo:margin-left="2cm" fo:margin-right="2cm"/></style:page-layout>
</office:automatic-styles>
<office:master-styles><style:master-page style:name="Standard" style:page-layout-name="pm1"/></office:master-styles>
<office:body><office:text>
${body.join('\n')}
</office:text></office:body></office:document>
`;
}

beforeAll(async () => {
  s = await startTestServer({ DNS_ZONE: 'files.example.test' });
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'pdf', params: { title: 'Überprüfung der Zugänge – Résumé Q3', author: 'Priya Raman' } });
  const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  ours = inspectPdf(file.body, join(tmp.dir, 'decoy.pdf'));
  const source = join(tmp.dir, 'reference.fodt');
  writeFileSync(source, writerDocument(ours));
  const fixed = join(tmp.dir, 'fixed.fodt');
  writeFileSync(fixed, FIXED_DOCUMENT);
  expect(await convert(source, fixed)).toBe(0);
  writer = inspectPdf(readFileSync(join(tmp.dir, 'out', 'reference.pdf')), join(tmp.dir, 'reference.pdf'));
  fixedWriter = inspectPdf(readFileSync(join(tmp.dir, 'out', 'fixed.pdf')), join(tmp.dir, 'fixed-reference.pdf'));
}, CONVERT_TIMEOUT_MS + 30_000);
afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

const keys = (o: Record<string, PdfValue>): string[] => Object.keys(o).sort();

describe('the decoy PDF against a LibreOffice Writer export of the same text', () => {
  it('the reference really is Writer: its producer is the one the decoy claims', () => {
    expect(str(writer.info['/Producer'])).toMatch(/^LibreOffice \d+\.\d+$/);
    expect(str(ours.info['/Producer'])).toBe(str(writer.info['/Producer']));
    expect(str(ours.info['/Creator'])).toBe(str(writer.info['/Creator']));
    expect(PDF_PRODUCER.producer).toBe(str(writer.info['/Producer']));
    expect(writer.text.map((r) => r.text).join(' ')).toContain(str(ours.info['/Title']));
  });

  it('header line and binary comment, byte for byte', () => {
    expect(ours.header.toString('hex')).toBe(writer.header.toString('hex'));
    expect(writer.header.toString('utf8')).toBe('%PDF-1.6\n%äüöß\n');
  });

  it('classic cross-reference table, no object or cross-reference streams', () => {
    expect([ours.xrefTable, ours.objectStreams]).toEqual([writer.xrefTable, writer.objectStreams]);
    expect(ours.xrefTable).toBe(true);
  });

  it('trailer: the same keys, an /ID of two equal 16-byte strings, and Writer’s /DocChecksum', () => {
    expect(keys(ours.trailer)).toEqual(keys(writer.trailer));
    for (const pdf of [ours, writer]) {
      const [a, b] = (pdf.trailer['/ID'] ?? []) as PdfValue[];
      expect(String(a)).toMatch(/^b:[0-9a-f]{32}$/);
      expect(a).toBe(b);
      expect(pdf.docChecksumHolds).toBe(true);
    }
  });

  it('Info: the same keys, UTF-16 strings, CreationDate in Writer’s form, no ModDate', () => {
    expect(keys(ours.info)).toEqual(keys(writer.info));
    const date = /^D:\d{14}(Z'|[+-]\d\d'\d\d')$/;
    expect(str(writer.info['/CreationDate'])).toMatch(date);
    expect(str(ours.info['/CreationDate'])).toMatch(date);
    for (const pdf of [ours, writer]) expect(pdf.raw.toString('latin1')).toMatch(/\/Title<FEFF[0-9A-F]+>\n\/Author<FEFF/);
  });

  it('no XMP metadata, no tags: catalog and page tree as Writer writes them', () => {
    expect(keys(ours.catalog)).toEqual(keys(writer.catalog));
    for (const k of ['/Metadata', '/MarkInfo', '/StructTreeRoot']) expect(writer.catalog[k]).toBeUndefined();
    expect(ours.catalog['/ViewerPreferences']).toEqual(writer.catalog['/ViewerPreferences']);
    expect(ours.catalog['/Lang']).toEqual(writer.catalog['/Lang']);
    expect(keys(ours.pages[0] ?? {})).toEqual(keys(writer.pages[0] ?? {}));
    expect(ours.pages[0]?.['/MediaBox']).toEqual(writer.pages[0]?.['/MediaBox']);
    expect(ours.pages[0]?.['/Tabs']).toEqual(writer.pages[0]?.['/Tabs']);
  });

  it('the one difference in the catalog: the open action asks for the token host, where Writer opens page 1', () => {
    expect(writer.catalog['/OpenAction']).toEqual(['1 0 R', '/XYZ', null, null, 0]);
    const open = ours.dict(ours.catalog['/OpenAction']);
    expect(keys(open)).toEqual(['/S', '/Type', '/URI']);
    expect(str(open['/URI'])).toMatch(/^http:\/\/[a-z0-9-]+\.files\.example\.test:\d+\//);
  });

  it('fonts: the same embedded TrueType subsets, byte for byte, with the same tags, widths and ToUnicode maps', () => {
    expect(ours.fonts.map((f) => f['/BaseFont'])).toEqual(writer.fonts.map((f) => f['/BaseFont']));
    expect(writer.fonts.map((f) => String(f['/BaseFont']))).toEqual(['/BAAAAA+LiberationSans-Bold', '/CAAAAA+LiberationSans']);
    ours.fonts.forEach((font, i) => {
      const theirs = writer.fonts[i] ?? {};
      expect(keys(font)).toEqual(keys(theirs));
      expect([font['/Subtype'], font['/FirstChar'], font['/LastChar'], font['/Widths']]).toEqual([theirs['/Subtype'], theirs['/FirstChar'], theirs['/LastChar'], theirs['/Widths']]);
      const [d, td] = [ours.dict(font['/FontDescriptor']), writer.dict(theirs['/FontDescriptor'])];
      expect({ ...d, '/FontFile2': '' }).toEqual({ ...td, '/FontFile2': '' });
      expect(ours.streamText(font['/ToUnicode'])).toBe(writer.streamText(theirs['/ToUnicode']));
      expect(ours.dict(d['/FontFile2'])['/Length1']).toBe(writer.dict(td['/FontFile2'])['/Length1']);
      expect(ours.streamText(d['/FontFile2']) === writer.streamText(td['/FontFile2']), 'embedded font program byte for byte').toBe(true);
    });
  });

  it('fonts: fixed texts with composite glyphs and a trailing run of equal advances subset byte for byte as Writer subsets them', () => {
    const faces = [loadTrueType(fontPath('LiberationSans-Bold.ttf')), loadTrueType(fontPath('LiberationSans-Regular.ttf'))];
    expect(fixedWriter.fonts).toHaveLength(2);
    fixedWriter.fonts.forEach((font, i) => {
      const face = faces[i] ?? faces[0];
      // Writer's glyphs in Writer's order, as its ToUnicode map lists them.
      const chars = [...fixedWriter.streamText(font['/ToUnicode']).matchAll(/<[0-9A-F]{2}> <([0-9A-F]{4})>/g)].map((m) => parseInt(m[1] ?? '0', 16));
      expect(chars.map((c) => String.fromCharCode(c)).join('')).toBe([...new Set(FIXED_LINES[i]?.text)].join(''));
      const ours = face ? subsetTrueType(face, [0, ...chars.map((c) => face.glyphOf(c))]) : Buffer.alloc(0);
      const theirs = Buffer.from(fixedWriter.streamText(fixedWriter.dict(font['/FontDescriptor'])['/FontFile2']), 'latin1');
      expect(ours.length).toBe(theirs.length);
      expect(ours.equals(theirs), 'embedded font program byte for byte').toBe(true);
    });
  });

  it('the link: a /Link annotation with a /URI action, in Writer’s keys, over the same words', () => {
    const [a, b] = [ours, writer].map((pdf) => pdf.dict((pdf.pages[0]?.['/Annots'] as PdfValue[])[0]));
    expect(keys(a ?? {})).toEqual(keys(b ?? {}));
    expect(a?.['/Contents']).toEqual(b?.['/Contents']);
    expect(keys(ours.dict(a?.['/A']))).toEqual(keys(writer.dict(b?.['/A'])));
    expect(str(ours.dict(a?.['/A'])['/URI'])).toBe(str(writer.dict(b?.['/A'])['/URI']));
    // Over the same words: left edge, width and height within a point (the line's height on the page differs, see docs/stealth.md).
    const [[ax1, ay1, ax2, ay2], [bx1, by1, bx2, by2]] = [a?.['/Rect'], b?.['/Rect']] as [number[], number[]];
    for (const [x, y] of [[ax1, bx1], [(ax2 ?? 0) - (ax1 ?? 0), (bx2 ?? 0) - (bx1 ?? 0)], [(ay2 ?? 0) - (ay1 ?? 0), (by2 ?? 0) - (by1 ?? 0)]]) expect(Math.abs((x ?? 0) - (y ?? 0))).toBeLessThan(1);
  });

  it('objects numbered and ordered as Writer orders them', () => {
    expect(ours.order).toEqual(writer.order);
  });

  it('content stream: Writer’s frame, operators and number spelling; the same text runs in the same fonts', () => {
    const [c, w] = [ours, writer].map((pdf) => pdf.streamText(pdf.pages[0]?.['/Contents']));
    for (const t of [c, w]) {
      expect(t?.startsWith('0.1 w\nq 0 0.028 595.275 841.861 re\nW* n\n')).toBe(true);
      expect(t?.endsWith('\nQ ')).toBe(true);
      expect(t).not.toMatch(/\d\.\d{4,9}\b|\d\.\d{11,}/);
    }
    const operators = (t: string | undefined) => new Set((t ?? '').replace(/<[0-9A-F]*>|\[|\]|-?[\d.]+|\/\w+/g, ' ').split(/\s+/).filter(Boolean));
    expect([...operators(c)].sort()).toEqual([...operators(w)].sort());
    const runs = (pdf: InspectedPdf) => pdf.text.map((r) => `${r.font} ${r.size} ${r.fill} ${r.text}`);
    expect(runs(ours).join('').replace(/\s+/g, '')).toBe(runs(writer).join('').replace(/\s+/g, ''));
    // Same left edges within a point (Writer's own layout places glyphs; ours models its twip grid).
    ours.text.forEach((r, i) => expect(Math.abs(r.x - (writer.text[i]?.x ?? 0))).toBeLessThan(1));
    // Glyph spacing: TJ adjustments glyph by glyph. Writer's come from hinted advances the decoy only
    // models (docs/stealth.md): many agree, kerned pairs within a few units, no bias either way.
    let [same, all, kerned, ourSum, theirSum] = [0, 0, 0, 0, 0];
    ours.text.forEach((r, i) => {
      const theirs = writer.text[i]?.adjust ?? [];
      r.adjust.forEach((a, j) => {
        all++;
        if (a === theirs[j]) same++;
        [ourSum, theirSum] = [ourSum + a, theirSum + (theirs[j] ?? 0)];
        if (Math.abs(theirs[j] ?? 0) >= 15) {
          kerned++;
          expect(Math.abs(a - (theirs[j] ?? 0)), `${r.text} at ${j}`).toBeLessThanOrEqual(10);
        }
      });
    });
    expect(all).toBeGreaterThan(200);
    expect(same / all, `${same} of ${all} adjustments equal to Writer's (${kerned} kerned pairs)`).toBeGreaterThan(0.35);
    // No drift of its own: on average the decoy's adjustments sit where Writer's do (within two thousandths of an em).
    expect(Math.abs(ourSum / all - theirSum / all), `mean adjustment ${ourSum / all} against Writer's ${theirSum / all}`).toBeLessThan(2);
  });
});
