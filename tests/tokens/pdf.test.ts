import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PDFDocument } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { tokenHostUrl } from '../../src/tokens/pdf.ts';
import { describeArtifact, renderArtifact } from '../../src/tokens/service.ts';
import { ask } from '../channels/dns-client.ts';
import { makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';

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

  it('opens with a URI action to the token host and links the token URL', async () => {
    const { token, url, path } = await rendered();
    const expanded = join(tmp.dir, `${token.id}.qdf.pdf`);
    await run('qpdf', ['--qdf', '--object-streams=disable', path, expanded]);
    const text = readFileSync(expanded, 'latin1');
    const host = `${token.hostLabel}.${ZONE}`;
    // Packed in compressed object streams: `strings` on the file reads no token host or URL (issue 14) ...
    expect(readFileSync(path, 'latin1')).not.toContain(host);
    expect(readFileSync(path, 'latin1')).not.toContain(url);
    expect(readFileSync(path, 'latin1')).toMatch(/\/Type\s*\/ObjStm/);
    // ... and the trailer carries a file identifier, as office suites write.
    expect(text).toMatch(/\/ID \[\s*<[0-9a-f]{32}>\s*<[0-9a-f]{32}>\s*\]/i);
    // What a reader sees once the streams are expanded:
    expect(text).toContain(host);
    expect(text).toMatch(/\/OpenAction \d+ 0 R/);
    expect(text).toContain(`/URI (${tokenHostUrl(s.config, token.hostLabel ?? '', token.urlPath ?? '/')})`);
    expect(tokenHostUrl(s.config, token.hostLabel ?? '', token.urlPath ?? '/')).toMatch(new RegExp(`^http://${host}:\\d+/`));
    expect(text).toContain(`/URI (${url})`);
    expect(text).toMatch(/\/Subtype \/Link/);
  });

  it('carries plausible, varied metadata and the requested title and author', async () => {
    const { file } = await rendered({ title: 'Q3 Budget Review', author: 'Sarah Mitchell' });
    const doc = await PDFDocument.load(file.body, { updateMetadata: false });
    expect(doc.getTitle()).toBe('Q3 Budget Review');
    expect(doc.getAuthor()).toBe('Sarah Mitchell');
    expect(doc.getProducer()).toMatch(/Microsoft|LibreOffice/);
    expect(doc.getCreationDate()?.getTime()).toBeLessThan(Date.now());
    expect(doc.getPageCount()).toBe(1);
    expect(file.filename).toBe('Q3_Budget_Review.pdf');

    const a = await rendered();
    const b = await rendered();
    expect(a.file.body.equals(b.file.body)).toBe(false);
  });

  it('fires over DNS (the reader resolving the host) and over HTTP (the link)', async () => {
    const { token, url } = await rendered();
    const info = describeArtifact({ config: s.config }, token);
    expect(info.hostname).toBe(`${token.hostLabel}.${ZONE}`);
    const reply = await ask(s.app.port('dns'), `${token.hostLabel}.${ZONE}`, 'AAAA');
    expect(reply?.rcode).toBe('NOERROR');
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5, order: 'asc' });
    expect(hits.map((h) => h.channel)).toEqual(['dns', 'http']);
  });
});
