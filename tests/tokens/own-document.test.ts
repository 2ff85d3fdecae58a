import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32, deflateRawSync } from 'node:zlib';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { PDFDict, PDFDocument, PDFName, PDFString } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { rawQuery } from '../../src/db/store.ts';
import { placeLinkedPicture } from '../../src/tokens/ooxml-beacon.ts';
import { tokenHostUrl } from '../../src/tokens/pdf.ts';
import { openPackage } from '../../src/tokens/zip-package.ts';
import { runCli } from '../cli/serve-process.ts';
import { auth, startTestServer, tempDir, TEST_API_KEY, type TestServer } from '../helpers.ts';
import { expectWellFormed } from './ooxml.ts';
import { soffice as runSoffice } from '../soffice.ts';

/**
 * Bring your own document: real documents made by LibreOffice (a .docx from text, an .xlsx from
 * CSV, a .pptx from a flat ODF presentation, a PDF from text) are uploaded through the API as
 * multipart/form-data and through the CLI; what comes back keeps every zip entry but the ones
 * the beacon needs byte for byte, opens in LibreOffice and calls home when it does. Hostile
 * uploads are refused with a 400 (413 when too large) and leave nothing behind.
 */

const run = promisify(execFile);
const SOFFICE_TIMEOUT_MS = 150_000;
const MAX = 2 * 1024 * 1024;

let s: TestServer;
let tmp: ReturnType<typeof tempDir>;
const docs: Record<'docx' | 'xlsx' | 'pptx' | 'pdf', string> = { docx: '', xlsx: '', pptx: '', pdf: '' };

/** soffice with this suite's profile and timeout. */
const soffice = (args: string[], outdir: string) => runSoffice(tmp.dir, args, outdir, SOFFICE_TIMEOUT_MS);

const FODP = `<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.presentation">
 <office:body><office:presentation>
  <draw:page draw:name="page1"><draw:frame svg:x="2cm" svg:y="2cm" svg:width="20cm" svg:height="3cm"><draw:text-box><text:p>Project Falcon merger plan</text:p></draw:text-box></draw:frame></draw:page>
 </office:presentation></office:body>
</office:document>
`;

beforeAll(async () => {
  s = await startTestServer({ UPLOAD_MAX_BYTES: String(MAX), DNS_RATE_LIMIT: '0' });
  tmp = tempDir('honeytrail-byod-');
  const src = join(tmp.dir, 'src');
  mkdirSync(src);
  mkdirSync(join(tmp.dir, 'api'));
  writeFileSync(join(src, 'Supplier payments.txt'), 'Supplier payments Q3\nAccount 12345 goes to Acme Ltd.\n');
  writeFileSync(join(src, 'Payroll.csv'), 'Name,IBAN,Amount\nAcme,DE89370400440532013000,12000\nGlobex,GB29NWBK60161331926819,5400\n');
  writeFileSync(join(src, 'Falcon.fodp'), FODP);
  const made = join(tmp.dir, 'made');
  for (const [args, file] of [
    [['--convert-to', 'docx', join(src, 'Supplier payments.txt')], 'Supplier payments.docx'],
    [['--convert-to', 'xlsx', join(src, 'Payroll.csv')], 'Payroll.xlsx'],
    [['--convert-to', 'pptx', join(src, 'Falcon.fodp')], 'Falcon.pptx'],
    [['--convert-to', 'pdf', join(src, 'Supplier payments.txt')], 'Supplier payments.pdf'],
  ] as const) {
    const r = await soffice([...args], made);
    expect(r.code, r.output).toBe(0);
    const ext = file.split('.').pop() as keyof typeof docs;
    docs[ext] = join(made, file);
  }
}, 4 * SOFFICE_TIMEOUT_MS);

afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

async function upload(file: Buffer, filename: string, fields: Record<string, string> = {}) {
  const form = new FormData();
  form.append('kind', 'own-document');
  form.append('name', `own ${filename}`);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([file]), filename);
  return fetch(`${s.adminUrl}/api/v1/tokens`, { method: 'POST', headers: auth, body: form });
}

async function uploadAndDownload(path: string) {
  const res = await upload(readFileSync(path), path.split('/').pop() ?? 'x', { location: '\\\\fs01\\finance', tags: 'byod,finance' });
  const created = (await res.json()) as { token: { id: string; location: string; tags: string[] }; artifact: { url: string; hostname?: string; download: string; filename: string } };
  expect(res.status, JSON.stringify(created)).toBe(201);
  const dl = await fetch(`${s.adminUrl}${created.artifact.download}`, { headers: auth });
  expect(dl.status).toBe(200);
  return { ...created, body: Buffer.from(await dl.arrayBuffer()) };
}

/** Raw local records (header + compressed bytes) of a zip, by entry name. */
function rawEntries(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let end = buf.length - 22;
  while (buf.readUInt32LE(end) !== 0x06054b50) end--;
  let p = buf.readUInt32LE(end + 16);
  for (let i = 0; i < buf.readUInt16LE(end + 10); i++) {
    const nameLength = buf.readUInt16LE(p + 28);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLength);
    const offset = buf.readUInt32LE(p + 42);
    const data = offset + 30 + buf.readUInt16LE(offset + 26) + buf.readUInt16LE(offset + 28);
    out.set(name, buf.subarray(offset, data + buf.readUInt32LE(p + 20)));
    p += 46 + nameLength + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return out;
}

/** Entries the beacon changed or added; every other entry must be the original's, byte for byte. */
function changedEntries(before: Buffer, after: Buffer): string[] {
  const a = rawEntries(before);
  const b = rawEntries(after);
  for (const name of a.keys()) expect(b.has(name), `${name} kept`).toBe(true);
  return [...b.keys()].filter((n) => !a.get(n)?.equals(b.get(n) ?? Buffer.alloc(0))).sort();
}

async function libreOfficeGet(tokenId: string) {
  return (await listHits(s.app.deps.db, { tokenId, limit: 20 })).find((h) => /^LibreOffice \d/.test(h.userAgent ?? '') && h.method === 'GET');
}

async function tokenCount(): Promise<number> {
  const rows = await rawQuery<{ n: number }>(s.app.deps.db, 'select count(*) as n from tokens');
  const files = await rawQuery<{ n: number }>(s.app.deps.db, 'select count(*) as n from token_files');
  return Number(rows[0]?.n) * 1000 + Number(files[0]?.n);
}

describe('own-document through the API (multipart/form-data)', () => {
  it('a .docx: only the header it adds, the section that names it, relationships and content types change; LibreOffice opens it and fetches the logo', { timeout: SOFFICE_TIMEOUT_MS + 30_000 }, async () => {
    const original = readFileSync(docs.docx);
    const d = await uploadAndDownload(docs.docx);
    expect(d.token.location).toBe('\\\\fs01\\finance');
    expect(d.token.tags).toEqual(['byod', 'finance']);
    expect(d.artifact.filename).toBe('Supplier payments.docx');
    expect(changedEntries(original, d.body)).toEqual(['[Content_Types].xml', 'word/_rels/document.xml.rels', 'word/_rels/header1.xml.rels', 'word/document.xml', 'word/header1.xml']);
    const parts = unzipSync(d.body);
    for (const name of ['[Content_Types].xml', 'word/document.xml', 'word/header1.xml', 'word/_rels/header1.xml.rels']) expectWellFormed(name, Buffer.from(parts[name] ?? []).toString('utf8'));
    const rels = Buffer.from(parts['word/_rels/header1.xml.rels'] ?? []).toString('utf8');
    expect(rels).toContain(`Target="${d.artifact.url}" TargetMode="External"`);
    // The body text is the original's: the document part gained only the header reference.
    const doc = (b: Buffer) => Buffer.from(unzipSync(b)['word/document.xml'] ?? []).toString('utf8');
    expect(doc(d.body).replace(/<w:headerReference [^>]*\/>/, '')).toBe(doc(original));

    const file = join(tmp.dir, 'api', 'Supplier payments.docx');
    writeFileSync(file, d.body);
    expect(await libreOfficeGet(d.token.id)).toBeUndefined();
    const r = await soffice(['--convert-to', 'txt:Text', file], join(tmp.dir, 'api-out'));
    expect(r.code, r.output).toBe(0);
    expect(readFileSync(join(tmp.dir, 'api-out', 'Supplier payments.txt'), 'utf8')).toContain('Account 12345 goes to Acme Ltd.');
    const get = await libreOfficeGet(d.token.id);
    expect(get).toBeDefined();
    expect(get?.details).toEqual({ opener: 'LibreOffice', request: 'image' });
    expect(`${s.config.PUBLIC_URL}${get?.path}${get?.query ? `?${get.query}` : ''}`).toBe(d.artifact.url);
  });

  it('an .xlsx: the first sheet gets a drawing with the linked picture; the rows are untouched and LibreOffice fetches the picture', { timeout: SOFFICE_TIMEOUT_MS + 30_000 }, async () => {
    const original = readFileSync(docs.xlsx);
    const d = await uploadAndDownload(docs.xlsx);
    expect(changedEntries(original, d.body)).toEqual([
      '[Content_Types].xml', 'xl/drawings/_rels/drawing1.xml.rels', 'xl/drawings/drawing1.xml', 'xl/worksheets/_rels/sheet1.xml.rels', 'xl/worksheets/sheet1.xml',
    ]);
    const parts = unzipSync(d.body);
    for (const name of ['xl/worksheets/sheet1.xml', 'xl/drawings/drawing1.xml', 'xl/worksheets/_rels/sheet1.xml.rels']) expectWellFormed(name, Buffer.from(parts[name] ?? []).toString('utf8'));
    const file = join(tmp.dir, 'api', 'Payroll.xlsx');
    writeFileSync(file, d.body);
    const r = await soffice(['--convert-to', 'csv', file], join(tmp.dir, 'api-out'));
    expect(r.code, r.output).toBe(0);
    expect(readFileSync(join(tmp.dir, 'api-out', 'Payroll.csv'), 'utf8')).toBe(readFileSync(join(tmp.dir, 'src', 'Payroll.csv'), 'utf8'));
    expect(await libreOfficeGet(d.token.id)).toBeDefined();
  });

  it('a .pptx: only the first slide and its relationships change; LibreOffice opens it and fetches the logo', { timeout: SOFFICE_TIMEOUT_MS + 30_000 }, async () => {
    const original = readFileSync(docs.pptx);
    const d = await uploadAndDownload(docs.pptx);
    expect(changedEntries(original, d.body)).toEqual(['ppt/slides/_rels/slide1.xml.rels', 'ppt/slides/slide1.xml']);
    expectWellFormed('slide1.xml', Buffer.from(unzipSync(d.body)['ppt/slides/slide1.xml'] ?? []).toString('utf8'));
    const file = join(tmp.dir, 'api', 'Falcon.pptx');
    writeFileSync(file, d.body);
    const r = await soffice(['--convert-to', 'pdf', file], join(tmp.dir, 'api-out'));
    expect(r.code, r.output).toBe(0);
    expect(await libreOfficeGet(d.token.id)).toBeDefined();
  });

  it('a PDF: passes qpdf --check, keeps its pages and Info dictionary, opens with a URI action to the token host, and the lookup is recorded', async () => {
    const original = await PDFDocument.load(readFileSync(docs.pdf), { updateMetadata: false });
    const d = await uploadAndDownload(docs.pdf);
    const file = join(tmp.dir, 'api', 'Supplier payments.pdf');
    writeFileSync(file, d.body);
    const { stdout } = await run('qpdf', ['--check', file]);
    expect(stdout).toContain('No syntax or stream encoding errors found');
    const pdf = await PDFDocument.load(d.body, { updateMetadata: false });
    expect(pdf.getPageCount()).toBe(original.getPageCount());
    expect(pdf.getProducer()).toBe(original.getProducer());
    expect(pdf.getCreator()).toBe(original.getCreator());
    expect(pdf.getCreationDate()?.getTime()).toBe(original.getCreationDate()?.getTime());
    const contents = (doc: PDFDocument) => doc.getPage(0).node.Contents()?.toString();
    expect(contents(pdf)).toBe(contents(original));
    const open = pdf.context.lookup(pdf.catalog.get(PDFName.of('OpenAction')), PDFDict);
    expect(open.get(PDFName.of('S'))).toBe(PDFName.of('URI'));
    const token = { id: d.token.id, hostLabel: d.artifact.hostname?.split('.')[0] ?? null };
    expect((open.get(PDFName.of('URI')) as PDFString).decodeText()).toBe(tokenHostUrl(s.config, token.hostLabel ?? token.id, new URL(d.artifact.url).pathname + new URL(d.artifact.url).search));
    // No URL readable with `strings`: the action sits in a compressed object stream.
    expect(d.body.includes(Buffer.from(d.artifact.hostname ?? 'none'))).toBe(false);

    const { stdout: answer } = await run('dig', ['+short', '+tries=1', '+time=3', '-p', String(s.app.port('dns')), '@127.0.0.1', d.artifact.hostname ?? '']);
    expect(answer.trim()).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const hits = await listHits(s.app.deps.db, { tokenId: d.token.id, limit: 5 });
    expect(hits.map((h) => h.channel)).toEqual(['dns']);
  });
});

describe('documents that already have a header or a drawing', () => {
  it('a .docx with a header and an .xlsx with a drawing: the picture joins them, only those parts and their relationships change, LibreOffice fetches it', { timeout: 2 * SOFFICE_TIMEOUT_MS }, async () => {
    for (const [kind, ext, changed] of [
      ['word', 'docx', ['word/_rels/header1.xml.rels', 'word/header1.xml']],
      ['excel', 'xlsx', ['xl/drawings/_rels/drawing1.xml.rels', 'xl/drawings/drawing1.xml']],
    ] as const) {
      // A document made elsewhere with a linked picture of its own (here: Honeytrail's generated one).
      const made = await fetch(`${s.adminUrl}/api/v1/tokens`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ kind, name: `made ${kind}` }) });
      const { artifact } = (await made.json()) as { artifact: { download: string } };
      const path = join(tmp.dir, 'made', `Letterhead.${ext}`);
      writeFileSync(path, Buffer.from(await (await fetch(`${s.adminUrl}${artifact.download}`, { headers: auth })).arrayBuffer()));
      const d = await uploadAndDownload(path);
      expect(changedEntries(readFileSync(path), d.body), kind).toEqual(changed);
      const file = join(tmp.dir, 'api', `Letterhead.${ext}`);
      writeFileSync(file, d.body);
      const r = await soffice(['--convert-to', ext === 'docx' ? 'txt:Text' : 'csv', file], join(tmp.dir, 'api-out'));
      expect(r.code, r.output).toBe(0);
      expect(await libreOfficeGet(d.token.id), kind).toBeDefined();
    }
  });
});

describe('where the picture goes in a header', () => {
  const W = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main';
  const place = (header: string) => {
    const doc = `<?xml version="1.0"?><w:document xmlns:w="${W}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><w:body><w:p/><w:sectPr><w:headerReference w:type="default" r:id="rId9"/></w:sectPr></w:body></w:document>`;
    const rels = '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/header" Target="header1.xml"/></Relationships>';
    const pkg = openPackage(Buffer.from(zipSync({ '[Content_Types].xml': strToU8('<Types xmlns="x"></Types>'), 'word/document.xml': strToU8(doc), 'word/header1.xml': strToU8(header), 'word/_rels/document.xml.rels': strToU8(rels) })));
    placeLinkedPicture(pkg, 'docx', 'word/document.xml', { url: 'http://intranet.example/logo.png', name: 'logo.png', descr: 'Co', rand: () => 0.5 });
    const out = Buffer.from(unzipSync(pkg.save())['word/header1.xml'] ?? []).toString('utf8');
    expectWellFormed('header1.xml', out);
    return out.replace(/<w:r><w:rPr><w:noProof\/><\/w:rPr><w:drawing>.*?<\/w:drawing><\/w:r>/, '[LOGO]').replace(/ xmlns:\w+="[^"]*"/g, '');
  };

  it.each([
    ['first paragraph', '<w:hdr xmlns:w="W"><w:p><w:pPr><w:jc w:val="right"/></w:pPr><w:r><w:t>top</w:t></w:r></w:p></w:hdr>', '<w:hdr><w:p><w:pPr><w:jc w:val="right"/></w:pPr>[LOGO]<w:r><w:t>top</w:t></w:r></w:p></w:hdr>'],
    ['not inside a table', '<w:hdr xmlns:w="W"><w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl><w:p/></w:hdr>', '<w:hdr><w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl><w:p>[LOGO]</w:p></w:hdr>'],
    ['not inside a text box', '<w:hdr xmlns:w="W"><w:p><w:r><w:pict><w:txbxContent><w:p/></w:txbxContent></w:pict></w:r></w:p></w:hdr>', '<w:hdr><w:p>[LOGO]<w:r><w:pict><w:txbxContent><w:p/></w:txbxContent></w:pict></w:r></w:p></w:hdr>'],
    ['a new paragraph when there is none', '<w:hdr xmlns:w="W"/>', '<w:hdr><w:p>[LOGO]</w:p></w:hdr>'],
  ])('%s', (_what, header, expected) => {
    const out = place(`<?xml version="1.0"?>${header.replace('xmlns:w="W"', `xmlns:w="${W}"`)}`);
    expect(out.replace('<?xml version="1.0"?>', '')).toBe(expected);
  });
});

describe('own-document over its lifetime', () => {
  it('rotation beacons the same document again under a new URL; deleting the token deletes the stored document', async () => {
    const original = readFileSync(docs.xlsx);
    const d = await uploadAndDownload(docs.xlsx);
    const rotated = await fetch(`${s.adminUrl}/api/v1/tokens/${d.token.id}/rotate`, { method: 'POST', headers: auth });
    const next = (await rotated.json()) as { token: { id: string }; artifact: { url: string; download: string } };
    expect(rotated.status).toBe(201);
    expect(next.artifact.url).not.toBe(d.artifact.url);
    const body = Buffer.from(await (await fetch(`${s.adminUrl}${next.artifact.download}`, { headers: auth })).arrayBuffer());
    expect(changedEntries(original, body)).toHaveLength(5);
    expect(Buffer.from(unzipSync(body)['xl/drawings/_rels/drawing1.xml.rels'] ?? []).toString('utf8')).toContain(`Target="${next.artifact.url}"`);

    const stored = async (id: string) => (await rawQuery<{ n: number }>(s.app.deps.db, 'select count(*) as n from token_files where token_id = ?', id))[0]?.n;
    expect(Number(await stored(next.token.id))).toBe(1);
    expect((await fetch(`${s.adminUrl}/api/v1/tokens/${next.token.id}`, { method: 'DELETE', headers: auth })).status).toBe(204);
    expect(Number(await stored(next.token.id))).toBe(0);
  });
});

describe('hostile and wrong uploads: a clear 400 (413 when too large), nothing written', () => {
  const refusedWith = async (body: Buffer, filename: string, status = 400) => {
    const before = await tokenCount();
    const res = await upload(body, filename);
    const json = (await res.json()) as { error: { message: string; fields?: Record<string, string> } };
    expect(res.status, JSON.stringify(json)).toBe(status);
    expect(await tokenCount()).toBe(before);
    return json.error;
  };

  /** A package from `parts`, each stored as given unless `raw` says otherwise. */
  const officeZip = (parts: Record<string, string | Uint8Array>) => Buffer.from(zipSync(Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, typeof v === 'string' ? strToU8(v) : v]))));

  it('a zip bomb (declared sizes past the budget) is refused before anything is inflated', async () => {
    const zeros = Buffer.alloc(16 * 1024 * 1024);
    const bomb = { data: deflateRawSync(zeros, { level: 9 }), size: zeros.length, crc: crc32(zeros) };
    const parts = Object.entries(unzipSync(readFileSync(docs.docx))).map(([name, body]) => ({ name, data: deflateRawSync(body), size: body.length, crc: crc32(body) }));
    const zip = buildZip([...parts, ...Array.from({ length: 20 }, (_, i) => ({ name: `word/media/image${i}.png`, ...bomb }))]);
    expect(zip.length).toBeLessThan(MAX);
    const error = await refusedWith(zip, 'Budget.docx');
    expect(error.fields?.file).toMatch(/zip bomb/);
  });

  it('a zip bomb that lies about its size is refused when it overflows what it declared', async () => {
    // word/document.xml claims 10 bytes while its data inflates to 8 MiB.
    const big = Buffer.alloc(8 * 1024 * 1024, 0x20);
    const parts = Object.entries(unzipSync(readFileSync(docs.docx))).map(([name, body]) =>
      name === 'word/document.xml' ? { name, data: deflateRawSync(big), size: 10, crc: crc32(big) } : { name, data: deflateRawSync(body), size: body.length, crc: crc32(body) },
    );
    const lying = buildZip(parts);
    const error = await refusedWith(lying, 'Lying.docx');
    expect(error.fields?.file).toMatch(/declared size|damaged/);
  });

  it('a billion-laughs XML part is refused (no DOCTYPE or entity is ever expanded)', async () => {
    const parts = { ...unzipSync(readFileSync(docs.docx)) };
    const lol = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties">&lol3;</cp:coreProperties>`;
    const error = await refusedWith(officeZip({ ...parts, 'docProps/core.xml': lol }), 'Laughs.docx');
    expect(error.fields?.file).toMatch(/DOCTYPE or entity in docProps\/core\.xml/);
  });

  it('a truncated PDF is refused', async () => {
    const pdf = readFileSync(docs.pdf);
    const error = await refusedWith(pdf.subarray(0, Math.floor(pdf.length / 2)), 'Half.pdf');
    expect(error.fields?.file).toMatch(/truncated|damaged|not a readable PDF/);
  });

  it('a file that is no document, a zip that is no Office document, and no file at all are refused', async () => {
    expect((await refusedWith(Buffer.from('just some text\n'), 'notes.docx')).fields?.file).toMatch(/not a \.docx, \.xlsx, \.pptx or \.pdf/);
    expect((await refusedWith(officeZip({ 'readme.txt': 'hello' }), 'archive.xlsx')).fields?.file).toMatch(/not an Office document/);
    const before = await tokenCount();
    const res = await fetch(`${s.adminUrl}/api/v1/tokens`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'own-document', name: 'no file' }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { fields: Record<string, string> } }).error.fields.file).toMatch(/is required/);
    expect(await tokenCount()).toBe(before);
    // Clients learn from the kinds list that this kind takes a file, and which.
    const kinds = (await (await fetch(`${s.adminUrl}/api/v1/kinds`, { headers: auth })).json()) as { items: { id: string; upload?: unknown }[] };
    expect(kinds.items.find((k) => k.id === 'own-document')?.upload).toEqual({ field: 'file', accept: '.docx,.xlsx,.pptx,.pdf' });
    expect(kinds.items.find((k) => k.id === 'word')?.upload).toBeUndefined();
  });

  it('a file larger than UPLOAD_MAX_BYTES is a 413; another kind given a file is a 400', async () => {
    await refusedWith(Buffer.alloc(MAX + 1, 0x41), 'Huge.pdf', 413);
    const before = await tokenCount();
    const form = new FormData();
    form.append('kind', 'web-bug');
    form.append('name', 'with a file');
    form.append('file', new Blob([readFileSync(docs.pdf)]), 'x.pdf');
    const res = await fetch(`${s.adminUrl}/api/v1/tokens`, { method: 'POST', headers: auth, body: form });
    expect(res.status).toBe(400);
    expect(await tokenCount()).toBe(before);
  });
});

describe('honeytrail plant --from-file', () => {
  it('beacons a folder of documents, one token per file recorded at its share path; a second run plants nothing new', { timeout: 180_000 }, async () => {
    const share = join(tmp.dir, 'share');
    mkdirSync(join(share, 'Q3'), { recursive: true });
    writeFileSync(join(share, 'Supplier payments.docx'), readFileSync(docs.docx));
    writeFileSync(join(share, 'Q3', 'Payroll.xlsx'), readFileSync(docs.xlsx));
    writeFileSync(join(share, 'Q3', 'Falcon.pptx'), readFileSync(docs.pptx));
    writeFileSync(join(share, 'Q3', 'Supplier payments.pdf'), readFileSync(docs.pdf));
    writeFileSync(join(share, 'Q3', 'notes.txt'), 'not a document');
    const out = join(tmp.dir, 'planted');
    const env = { PATH: process.env.PATH, HONEYTRAIL_SERVER: s.adminUrl, HONEYTRAIL_API_KEY: TEST_API_KEY, DATA_DIR: tmp.dir };
    const args = ['plant', '--from-file', share, '--dir', out, '--location', '\\\\fs01\\finance', '--host', 'FS01'];

    const first = await runCli(args, env, 120_000);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('summary: 4 planted');
    expect(readdirSync(out).sort()).toEqual(['Q3', 'Supplier payments.docx']);
    expect(readdirSync(join(out, 'Q3')).sort()).toEqual(['Falcon.pptx', 'Payroll.xlsx', 'Supplier payments.pdf']);
    const rows = await rawQuery<{ name: string; location: string; planted_host: string; planted_file: string }>(
      s.app.deps.db,
      "select name, location, planted_host, planted_file from tokens where kind = 'own-document' and planted_host = 'FS01' order by name",
    );
    expect(rows).toEqual([
      { name: 'Q3/Falcon.pptx', location: '\\\\fs01\\finance\\Q3', planted_host: 'FS01', planted_file: 'Falcon.pptx' },
      { name: 'Q3/Payroll.xlsx', location: '\\\\fs01\\finance\\Q3', planted_host: 'FS01', planted_file: 'Payroll.xlsx' },
      { name: 'Q3/Supplier payments.pdf', location: '\\\\fs01\\finance\\Q3', planted_host: 'FS01', planted_file: 'Supplier payments.pdf' },
      { name: 'Supplier payments.docx', location: '\\\\fs01\\finance', planted_host: 'FS01', planted_file: 'Supplier payments.docx' },
    ]);
    // The planted workbook is the original plus its beacon.
    expect(changedEntries(readFileSync(docs.xlsx), readFileSync(join(out, 'Q3', 'Payroll.xlsx')))).toHaveLength(5);

    const second = await runCli(args, env, 120_000);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('summary: 0 planted');
    expect(second.stdout.match(/\tskipped\t/g)).toHaveLength(4);
    expect(await rawQuery(s.app.deps.db, "select id from tokens where kind = 'own-document' and planted_host = 'FS01'")).toHaveLength(4);
  });
});

/** A zip of deflated entries whose headers say what `size` and `crc` give (true or not). */
function buildZip(entries: { name: string; data: Buffer; size: number; crc: number }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(e.crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(e.crc, 16);
    central.writeUInt32LE(e.data.length, 20);
    central.writeUInt32LE(e.size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    const record = Buffer.concat([local, name, e.data]);
    locals.push(record);
    centrals.push(Buffer.concat([central, name]));
    offset += record.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}
