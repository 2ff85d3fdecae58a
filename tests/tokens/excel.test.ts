import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { columnName } from '../../src/tokens/excel.ts';
import { THEME_IDS } from '../../src/tokens/office-content.ts';
import { startTestServer, type TestServer } from '../helpers.ts';
import { apiPost, call, checkPackage, createAndDownload, decodeImage, expectWellFormed, partsContaining, path, relationships, savedName, unzipPackage, xpath } from './ooxml.ts';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.stop());

/** Cell texts of a sheet row, resolving shared strings. */
function rowValues(sheet: string, strings: string, row: number): string[] {
  const cells = Number(xpath(sheet, `count(${path('row')}[@r='${row}']/*[local-name()='c'])`));
  return Array.from({ length: cells }, (_, i) => {
    const cell = `(${path('row')}[@r='${row}']/*[local-name()='c'])[${i + 1}]`;
    const v = xpath(sheet, `string(${cell}/*[local-name()='v'])`);
    if (xpath(sheet, `string(${cell}/@t)`) !== 's') return v;
    return xpath(strings, `string((${path('si')})[${Number(v) + 1}])`);
  });
}

describe('excel kind: the .xlsx package', () => {
  it('downloads through the API with the Excel content type and a generated, plausible file name', async () => {
    const d = await createAndDownload(s.adminUrl, 'excel', { theme: 'salaries' });
    expect(d.contentType).toBe(XLSX);
    expect(savedName(d.disposition)).toMatch(/^Salaries_20\d\d_Q[1-4]\.xlsx$/);
  });

  it('is a complete, well-formed package whose only external link is the drawing’s token image', async () => {
    const d = await createAndDownload(s.adminUrl, 'excel', { theme: 'network-passwords', company: 'Corvel <IT> & Co' });
    const parts = unzipPackage(d.body);
    expect([...parts.keys()].sort()).toEqual(
      [
        '[Content_Types].xml', '_rels/.rels', 'docProps/app.xml', 'docProps/core.xml', 'xl/_rels/workbook.xml.rels', 'xl/drawings/_rels/drawing1.xml.rels',
        'xl/drawings/drawing1.xml', 'xl/sharedStrings.xml', 'xl/styles.xml', 'xl/workbook.xml', 'xl/worksheets/_rels/sheet1.xml.rels', 'xl/worksheets/sheet1.xml', 'xl/worksheets/sheet2.xml',
        'xl/theme/theme1.xml',
      ].sort(),
    );
    const external = checkPackage(parts);
    expect(external).toHaveLength(1);
    const [link] = external;
    expect(link).toMatchObject({ rels: 'xl/drawings/_rels/drawing1.xml.rels', type: 'image', target: d.url });
    expect(new URL(d.url).origin).toBe(s.config.PUBLIC_URL);

    // sheet1 -> drawing1 -> picture whose blip links (not embeds) the external relationship.
    const sheetRel = relationships(parts.get('xl/worksheets/_rels/sheet1.xml.rels') ?? '');
    const sheet = parts.get('xl/worksheets/sheet1.xml') ?? '';
    const drawingId = xpath(sheet, `string(${path('drawing')}/@*[local-name()='id'])`);
    expect(sheetRel.find((r) => r.id === drawingId)).toMatchObject({ type: 'drawing', target: '../drawings/drawing1.xml' });
    const drawing = parts.get('xl/drawings/drawing1.xml') ?? '';
    expect(xpath(drawing, `count(${path('pic')}//*[local-name()='blip'][@*[local-name()='link']='${link?.id}'])`)).toBe('1');
    // Logo-sized, wider than high: not a 1x1 (9525 EMU) tracking picture.
    const cx = Number(xpath(drawing, `string(${path('ext')}/@cx)`));
    const cy = Number(xpath(drawing, `string(${path('ext')}/@cy)`));
    expect(cx).toBeGreaterThanOrEqual(914_400);
    expect(cx / cy).toBeGreaterThan(2);
    expect(partsContaining(parts, d.url)).toEqual(['xl/drawings/_rels/drawing1.xml.rels']);
    expect(partsContaining(parts, d.id)).toEqual([]);
    for (const [name, xml] of parts) expect(xml, name).not.toMatch(/honeytrail|honeytoken|canary/i);
    expect(xpath(parts.get('docProps/app.xml') ?? '', `string(${path('Company')})`)).toBe('Corvel <IT> & Co');
  });

  it('has consistent sheets: names, shared strings, cell references and the theme’s rows', async () => {
    const d = await createAndDownload(s.adminUrl, 'excel', { theme: 'network-passwords' });
    const parts = unzipPackage(d.body);
    const workbook = parts.get('xl/workbook.xml') ?? '';
    const app = parts.get('docProps/app.xml') ?? '';
    const names = [1, 2].map((i) => xpath(workbook, `string((${path('sheet')})[${i}]/@name)`));
    expect(names[0]).toBe('Accounts');
    expect([1, 2].map((i) => xpath(app, `string((${path('TitlesOfParts')}//*[local-name()='lpstr'])[${i}])`))).toEqual(names);

    const strings = parts.get('xl/sharedStrings.xml') ?? '';
    const unique = Number(xpath(strings, `count(${path('si')})`));
    expect(xpath(strings, `string(${path('sst')}/@uniqueCount)`)).toBe(String(unique));
    const sheet = parts.get('xl/worksheets/sheet1.xml') ?? '';
    const indexes = [...xpath(sheet, `${path('c')}[@t='s']/*[local-name()='v']`).matchAll(/>(\d+)</g)].map((m) => Number(m[1]));
    expect(indexes.length).toBeGreaterThan(10);
    const maxIndex = Math.max(...indexes);
    expect(maxIndex).toBeLessThan(unique);
    expect(rowValues(sheet, strings, 1)).toEqual(['System', 'Host', 'Username', 'Password', 'Notes']);
    const rows = Number(xpath(sheet, `count(${path('row')})`));
    expect(rows).toBeGreaterThan(7);
    expect(xpath(sheet, `string(${path('dimension')}/@ref)`)).toBe(`A1:E${rows}`);
    const second = rowValues(sheet, strings, 2);
    expect(second[3]).toMatch(/^[A-Z][a-z]+.*\d/);
    expect(xpath(sheet, `count(${path('row')}[@r='2']/*[local-name()='c'][@r='A2' or @r='B2' or @r='C2' or @r='D2'])`)).toBe('4');
  });

  it('takes the defender’s own rows and sheet name, numbers as numbers', async () => {
    const d = await createAndDownload(s.adminUrl, 'excel', { sheet: 'Q3 & Q4', rows: [['Name', 'Amount'], ['Alice <A>', '1200.5'], ['Bob', 'n/a']], filename: 'q3.xlsx' });
    const parts = unzipPackage(d.body);
    const sheet = parts.get('xl/worksheets/sheet1.xml') ?? '';
    const strings = parts.get('xl/sharedStrings.xml') ?? '';
    expect(xpath(parts.get('xl/workbook.xml') ?? '', `string((${path('sheet')})[1]/@name)`)).toBe('Q3 & Q4');
    expect(rowValues(sheet, strings, 2)).toEqual(['Alice <A>', '1200.5']);
    expect(xpath(sheet, `string(${path('c')}[@r='B2']/@t)`)).toBe('');
    expect(rowValues(sheet, strings, 3)).toEqual(['Bob', 'n/a']);
    expect(savedName(d.disposition)).toBe('q3.xlsx');
  });

  it('writes budget totals as SUM formulas with the right cached values', async () => {
    const d = await createAndDownload(s.adminUrl, 'excel', { theme: 'budget' });
    const parts = unzipPackage(d.body);
    const sheet = parts.get('xl/worksheets/sheet1.xml') ?? '';
    expect(rowValues(sheet, parts.get('xl/sharedStrings.xml') ?? '', 1)).toEqual(['Cost centre', 'Q1', 'Q2', 'Q3', 'Q4', 'Total']);
    expect(xpath(sheet, `string(${path('c')}[@r='F2']/*[local-name()='f'])`)).toBe('SUM(B2:E2)');
    const quarters = ['B2', 'C2', 'D2', 'E2'].map((ref) => Number(xpath(sheet, `string(${path('c')}[@r='${ref}']/*[local-name()='v'])`)));
    expect(Number(xpath(sheet, `string(${path('c')}[@r='F2']/*[local-name()='v'])`))).toBe(quarters.reduce((a, b) => a + b, 0));
  });

  it.each(THEME_IDS)('renders the %s theme', async (theme) => {
    const d = await createAndDownload(s.adminUrl, 'excel', { theme });
    const parts = unzipPackage(d.body);
    for (const name of ['xl/worksheets/sheet1.xml', 'xl/worksheets/sheet2.xml', 'xl/sharedStrings.xml', 'xl/workbook.xml']) expectWellFormed(name, parts.get(name) ?? '');
    expect(Number(xpath(parts.get('xl/worksheets/sheet1.xml') ?? '', `count(${path('row')})`))).toBeGreaterThan(3);
  });

  it('rejects bad params with field messages', async () => {
    const bad = await apiPost(s.adminUrl, '/tokens', { kind: 'excel', name: 'x', params: { sheet: 'a/b', rows: [['only header']], theme: 3 } });
    expect(bad.status).toBe(400);
    const { error } = JSON.parse(bad.body.toString()) as { error: { fields: Record<string, string> } };
    expect(Object.keys(error.fields).sort()).toEqual(['params.rows', 'params.sheet', 'params.theme']);
  });

  it('names columns like a spreadsheet', () => {
    expect([0, 1, 25, 26, 27, 51, 52, 701, 702].map(columnName)).toEqual(['A', 'B', 'Z', 'AA', 'AB', 'AZ', 'BA', 'ZZ', 'AAA']);
  });

  it('opening it fetches a real image and records a hit', async () => {
    const d = await createAndDownload(s.adminUrl, 'excel', {});
    const res = await call(d.url, { headers: { 'user-agent': 'Microsoft Office Excel 2014' } });
    expect(res.status).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^image\/(png|gif|jpeg)$/);
    const type = String(res.headers['content-type']).slice(6) as 'png' | 'gif' | 'jpeg';
    expect(decodeImage(type, res.body)).toMatch(/^P\d 1 1$/);
    const hits = await listHits(s.app.deps.db, { tokenId: d.id, limit: 5 });
    expect(hits.map((h) => h.details)).toEqual([{ opener: 'Microsoft Office', request: 'image' }]);
  });
});
