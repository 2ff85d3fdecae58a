import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { HttpRequestInfo } from '../../src/tokens/kind.ts';
import { THEME_IDS } from '../../src/tokens/office-content.ts';
import { loadConfig } from '../../src/config.ts';
import { newTokenId } from '../../src/tokens/ids.ts';
import { documentImagePath, imageReply } from '../../src/tokens/office-image.ts';
import { word } from '../../src/tokens/word.ts';
import { safeFileName } from '../../src/tokens/office.ts';
import { auth, startTestServer, type TestServer } from '../helpers.ts';
import { apiPost, call, checkPackage, createAndDownload, decodeImage, expectWellFormed, partsContaining, path, savedName, unzipPackage, xpath } from './ooxml.ts';

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.stop());

describe('word kind: the .docx package', () => {
  it('downloads through the API with the Word content type and the chosen file name', async () => {
    const d = await createAndDownload(s.adminUrl, 'word', { theme: 'salaries', filename: 'Salary review 2026.docx' });
    expect(d.contentType).toBe(DOCX);
    expect(savedName(d.disposition)).toBe('Salary review 2026.docx');
    expect(d.body.subarray(0, 2).toString()).toBe('PK');
  });

  it('is a complete, well-formed package whose only external link is the token image, referenced where intended', async () => {
    const d = await createAndDownload(s.adminUrl, 'word', { theme: 'network-passwords' });
    const parts = unzipPackage(d.body);
    expect([...parts.keys()].sort()).toEqual(
      [
        '[Content_Types].xml', '_rels/.rels', 'docProps/app.xml', 'docProps/core.xml', 'word/_rels/document.xml.rels', 'word/document.xml', 'word/fontTable.xml',
        'word/settings.xml', 'word/styles.xml', 'word/webSettings.xml', 'word/theme/theme1.xml', 'word/header1.xml', 'word/_rels/header1.xml.rels',
      ].sort(),
    );
    const external = checkPackage(parts);
    expect(external).toHaveLength(1);
    const [link] = external;
    // The linked logo of the page header, not a picture in the body.
    expect(link).toMatchObject({ rels: 'word/_rels/header1.xml.rels', type: 'image', target: d.url });
    expect(new URL(d.url).origin).toBe(s.config.PUBLIC_URL);
    expect(d.url).toMatch(/\.(png|gif|jpe?g)(\?|$)/);

    const header = parts.get('word/header1.xml') ?? '';
    expect(xpath(header, `count(${path('blip')}[@*[local-name()='link']='${link?.id}'])`)).toBe('1');
    expect(xpath(header, `count(${path('blip')}[@*[local-name()='embed']])`)).toBe('0');
    // Logo-sized, wider than high: not a 1x1 (9525 EMU) tracking picture.
    const cx = Number(xpath(header, `string(${path('extent')}/@cx)`));
    const cy = Number(xpath(header, `string(${path('extent')}/@cy)`));
    expect(cx).toBeGreaterThanOrEqual(914_400);
    expect(cx / cy).toBeGreaterThan(2);
    const doc = parts.get('word/document.xml') ?? '';
    expect(xpath(doc, `count(${path('instrText')})`)).toBe('0');
    expect(xpath(doc, `count(${path('headerReference')}[@*[local-name()='id']='rId6'])`)).toBe('1');
    // The URL appears in the header's relationship, nowhere else; the token id nowhere at all.
    expect(partsContaining(parts, d.url).sort()).toEqual(['word/_rels/header1.xml.rels']);
    expect(partsContaining(parts, d.id)).toEqual([]);
    // The main relationship chain: package -> document -> styles/settings/fonts.
    expect(xpath(parts.get('_rels/.rels') ?? '', `string(${path('Relationship')}[@Type='http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument']/@Target)`)).toBe('word/document.xml');
  });

  it('carries plausible, varied metadata and no product name', async () => {
    const now = Date.now();
    const authors = new Set<string>();
    const modified = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const d = await createAndDownload(s.adminUrl, 'word', { company: 'Halden & Partners' });
      const parts = unzipPackage(d.body);
      const core = parts.get('docProps/core.xml') ?? '';
      const app = parts.get('docProps/app.xml') ?? '';
      const creator = xpath(core, `string(${path('creator')})`);
      const editor = xpath(core, `string(${path('lastModifiedBy')})`);
      expect(creator).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/);
      expect(editor).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/);
      const created = Date.parse(xpath(core, `string(${path('created')})`));
      const changed = Date.parse(xpath(core, `string(${path('modified')})`));
      expect(created).toBeLessThan(changed);
      expect(changed).toBeLessThan(now);
      expect(now - created).toBeGreaterThan(30 * 86_400_000);
      expect(xpath(app, `string(${path('Company')})`)).toBe('Halden & Partners');
      expect(Number(xpath(app, `string(${path('Words')})`))).toBeGreaterThan(20);
      for (const [name, xml] of parts) expect(xml, name).not.toMatch(/honeytrail|honeytoken|canary/i);
      authors.add(creator);
      modified.add(String(changed));
    }
    expect(authors.size).toBeGreaterThan(1);
    expect(modified.size).toBe(5);
  });

  it('gives the same file on every download of a token', async () => {
    const d = await createAndDownload(s.adminUrl, 'word', {});
    const again = await call(`${s.adminUrl}/api/v1/tokens/${d.id}/artifact`, { headers: auth });
    expect(again.body.equals(d.body)).toBe(true);
    expect(d.params).toMatchObject({ theme: expect.any(String), author: expect.any(String), filename: expect.stringMatching(/\.docx$/) });
  });

  it('writes the defender’s own title and text, escaped', async () => {
    const title = 'Q3 <draft> & "final" plan';
    const d = await createAndDownload(s.adminUrl, 'word', { title, body: 'First line & more\n\nSecond <line>\u0007' });
    const doc = unzipPackage(d.body).get('word/document.xml') ?? '';
    const para = (n: number) => xpath(doc, `string((${path('body')}/*[local-name()='p'])[${n}])`);
    expect(xpath(doc, `string(${path('p')}[.//*[local-name()='pStyle']/@*[local-name()='val']='Title'])`)).toBe(title);
    expect(para(3)).toBe('First line & more');
    expect(para(4)).toBe('Second <line>');
    expect(xpath(doc, `count(${path('tbl')})`)).toBe('0');
    expect(d.params.filename).toBe('Q3 draft & final plan.docx');
  });

  it.each(THEME_IDS)('renders the %s theme with its table', async (theme) => {
    const d = await createAndDownload(s.adminUrl, 'word', { theme });
    const doc = unzipPackage(d.body).get('word/document.xml') ?? '';
    expectWellFormed('word/document.xml', doc);
    expect(Number(xpath(doc, `count(${path('tbl')}/*[local-name()='tr'])`))).toBeGreaterThan(3);
    expect(Number(xpath(doc, `count(${path('body')}/*[local-name()='p'])`))).toBeGreaterThan(3);
  });

  it('rejects bad params with field messages and sanitises file names', async () => {
    const bad = await apiPost(s.adminUrl, '/tokens', { kind: 'word', name: 'x', params: { theme: 'lottery', filename: '///', title: 7 } });
    expect(bad.status).toBe(400);
    const { error } = JSON.parse(bad.body.toString()) as { error: { fields: Record<string, string> } };
    expect(Object.keys(error.fields).sort()).toEqual(['params.filename', 'params.theme', 'params.title']);

    const d = await createAndDownload(s.adminUrl, 'word', { filename: '..\\..\\windows/system32:evil.docx' });
    expect(d.params.filename).toBe('windows system32 evil.docx');
    expect(safeFileName('  .hidden', '.docx')).toBe('hidden.docx');
    expect(safeFileName('report.DOCX', '.docx')).toBe('report.docx');
  });
});

describe('document image answers on the public listener', () => {
  const req = (method: string, p: string): HttpRequestInfo => ({ method, url: p, path: p.split('?')[0] ?? p, query: new URLSearchParams(), headers: {}, body: Buffer.alloc(0), sourceIp: '127.0.0.1' });

  it.each([
    ['/a/b/logo.png', 'png'],
    ['/a/seal.GIF', 'gif'],
    ['/x/header.jpg', 'jpeg'],
    ['/x/banner.jpeg', 'jpeg'],
    ['/x/view', 'png'],
  ] as const)('%s gets a real 1x1 %s', (p, type) => {
    const reply = imageReply(req('GET', p));
    expect(reply.status).toBe(200);
    expect(reply.headers?.['content-type']).toBe(`image/${type}`);
    expect(decodeImage(type, Buffer.from(reply.body ?? ''))).toMatch(/^P\d 1 1$/);
  });

  it('answers methods other than GET/HEAD like a static file server', () => {
    expect(imageReply(req('OPTIONS', '/a/logo.png')).status).toBe(405);
    expect(imageReply(req('POST', '/a/logo.png')).status).toBe(405);
    expect(imageReply(req('HEAD', '/a/logo.png')).status).toBe(200);
  });

  it('a document fetch records a hit naming the office suite, and gets the image its name promises', async () => {
    const d = await createAndDownload(s.adminUrl, 'word', {});
    const probe = await call(d.url, { method: 'OPTIONS', headers: { 'user-agent': 'Microsoft Office Protocol Discovery' } });
    expect(probe.status).toBe(405);
    const res = await call(d.url, { headers: { 'user-agent': 'Mozilla/4.0 (compatible; ms-office; MSOffice 16)' } });
    expect(res.status).toBe(200);
    expect(res.headers.server).toBe('nginx');
    const ext = /\.(png|gif|jpe?g)(\?|$)/.exec(d.url)?.[1] ?? 'png';
    const type = ext.startsWith('jp') ? 'jpeg' : ext === 'gif' ? 'gif' : 'png';
    expect(res.headers['content-type']).toBe(`image/${type}`);
    expect(decodeImage(type, res.body)).toMatch(/^P\d 1 1$/);
    const hits = await listHits(s.app.deps.db, { tokenId: d.id, limit: 10 });
    expect(hits).toHaveLength(2);
    expect(hits.map((h) => h.details).sort((a, b) => String(a?.request).localeCompare(String(b?.request)))).toEqual([
      { opener: 'Microsoft Office', request: 'image' },
      { opener: 'Microsoft Office', request: 'probe' },
    ]);
  });
});

describe('document image URLs', () => {
  it('carry no token id, vary in shape, and always name a raster image of the configured types', async () => {
    const config = loadConfig({ PUBLIC_URL: 'https://files.northwind.example', URL_PATH_WORDS: 'intranet,media', URL_FILE_NAMES: 'view,badge.svg,crest.gif' });
    const shapes = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const p = documentImagePath(config);
      expect(p).not.toMatch(/(?<![0-9a-z])[0-9a-z]{24}(?![0-9a-z])/);
      expect(p).toMatch(/\.gif(\?|$)/);
      shapes.add(p.split('/').slice(0, 2).join('/'));
    }
    expect(shapes.size).toBeGreaterThan(3);
    const fallback = loadConfig({ URL_FILE_NAMES: 'view,badge.svg' });
    for (let i = 0; i < 10; i++) expect(documentImagePath(fallback)).toMatch(/\.(png|gif|jpe?g)(\?|$)/);

    const id = newTokenId();
    const created = await word.create({ config }, id, word.params.parse({ theme: 'budget' }));
    const token = { id, kind: 'word', urlPath: created.urlPath ?? null, params: created.params } as Parameters<NonNullable<typeof word.render>>[1];
    const file = await word.render?.({ config }, token);
    const rels = unzipPackage(file?.body ?? Buffer.alloc(0)).get('word/_rels/header1.xml.rels') ?? '';
    const target = xpath(rels, `string(${path('Relationship')}[@TargetMode='External']/@Target)`);
    expect(target).toBe(`https://files.northwind.example${created.urlPath}`);
  });
});
