import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { tokenHostUrl } from '../../src/tokens/pdf.ts';
import { describeArtifact, renderArtifact } from '../../src/tokens/service.ts';
import { ask } from '../channels/dns-client.ts';
import { makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { inspectPdf, str } from './pdf-inspect.ts';

const run = promisify(execFile);
const ZONE = 'pdf.example.test';
let s: TestServer;
const tmp = tempDir();
beforeAll(async () => {
  s = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0' });
});
afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

async function rendered(params?: Record<string, unknown>) {
  const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'pdf', ...(params ? { params } : {}) });
  const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  const path = join(tmp.dir, `${token.id}.pdf`);
  writeFileSync(path, file.body);
  return { token, url: url ?? '', file, path };
}

describe('pdf artifact', () => {
  it('passes qpdf --check', async () => {
    const { path } = await rendered();
    const { stdout } = await run('qpdf', ['--check', path]);
    expect(stdout).toContain('No syntax or stream encoding errors found');
  });

  it('opens with a URI action to the token host and links the token URL as Writer writes a link', async () => {
    const { token, url, file, path } = await rendered();
    const pdf = inspectPdf(file.body, path);
    const host = `${token.hostLabel}.${ZONE}`;
    const raw = file.body.toString('latin1');
    // `strings` reads no token host: the open action's URI is a hex string (issue 14) ...
    expect(raw).not.toContain(host);
    // ... and the token URL stands once, in the /Link annotation, where every Writer export with a link has its URL.
    expect(raw.split(url).length).toBe(2);
    expect(raw).toMatch(new RegExp(`/Subtype/Link/Border\\[0 0 0\\]/Rect\\[[\\d. ]+\\]/Contents<FEFF[0-9A-F]+>/A<</Type/Action/S/URI/URI\\(${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)>>`));
    // The trailer carries a file identifier, as office suites write.
    expect(String((pdf.trailer['/ID'] as string[])[0])).toMatch(/^b:[0-9a-f]{32}$/);
    // What a reader acts on:
    const open = pdf.dict(pdf.catalog['/OpenAction']);
    expect(str(open['/S'])).toBe('/URI');
    expect(str(open['/URI'])).toBe(tokenHostUrl(s.config, token.hostLabel ?? '', token.urlPath ?? '/'));
    expect(tokenHostUrl(s.config, token.hostLabel ?? '', token.urlPath ?? '/')).toMatch(new RegExp(`^http://${host}:\\d+/`));
    const link = pdf.dict((pdf.pages[0]?.['/Annots'] as string[])[0]);
    expect(str(link['/Subtype'])).toBe('/Link');
    expect(str(pdf.dict(link['/A'])['/URI'])).toBe(url);
    expect(pdf.text.find((r) => r.text === str(link['/Contents']))).toBeDefined();
  });

  it('carries plausible, varied metadata and the requested title and author', async () => {
    const { file, path } = await rendered({ title: 'Q3 Budget Review', author: 'Sarah Mitchell' });
    const pdf = inspectPdf(file.body, path);
    expect(str(pdf.info['/Title'])).toBe('Q3 Budget Review');
    expect(str(pdf.info['/Author'])).toBe('Sarah Mitchell');
    expect(str(pdf.info['/Producer'])).toBe('LibreOffice 7.4');
    expect(str(pdf.info['/Creator'])).toBe('Writer');
    const [, y, mo, d, h, mi, sec] = /^D:(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)/.exec(str(pdf.info['/CreationDate'])) ?? [];
    expect(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec))).toBeLessThan(Date.now() + 86_400_000);
    expect(pdf.pages).toHaveLength(1);
    expect(pdf.text[0]?.text).toBe('Q3 Budget Review');
    expect(file.filename).toBe('Q3_Budget_Review.pdf');

    const a = await rendered();
    const b = await rendered();
    expect(a.file.body.equals(b.file.body)).toBe(false);
  });

  it('fires over DNS (the reader resolving the open action’s host) and over HTTP (the link), both read out of the file', async () => {
    const { token, file, path } = await rendered();
    const info = describeArtifact({ config: s.config }, token);
    expect(info.hostname).toBe(`${token.hostLabel}.${ZONE}`);
    const pdf = inspectPdf(file.body, path);
    const opened = new URL(str(pdf.dict(pdf.catalog['/OpenAction'])['/URI']));
    const reply = await ask(s.app.port('dns'), opened.hostname, 'AAAA');
    expect(reply?.rcode).toBe('NOERROR');
    const res = await fetch(str(pdf.dict(pdf.dict((pdf.pages[0]?.['/Annots'] as string[])[0])['/A'])['/URI']));
    expect(res.status).toBe(200);
    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5, order: 'asc' });
    expect(hits.map((h) => h.channel)).toEqual(['dns', 'http']);
  });
});
