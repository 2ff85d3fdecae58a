import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { createAndDownload, savedName } from './ooxml.ts';
import { soffice } from '../soffice.ts';

/**
 * The real consumer: headless LibreOffice opens the generated documents (converting them, which
 * loads them exactly as opening does) while the server runs, and the linked image fetch must
 * land as a hit for that token with LibreOffice's user agent. One conversion per format: it is
 * slow on small machines.
 */

const CONVERT_TIMEOUT_MS = 150_000;

let s: TestServer;
let tmp: ReturnType<typeof tempDir>;
beforeAll(async () => {
  // PUBLIC_URL defaults to http://127.0.0.1:<public port>, which LibreOffice can reach.
  s = await startTestServer();
  tmp = tempDir('honeytrail-lo-');
});
afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

/**
 * Convert with a fresh profile, asynchronously (the server answering LibreOffice's fetch runs in
 * this process), killing the process group we started if it outlives the timeout.
 */
function convert(file: string, format: string): Promise<{ code: number | null; output: string }> {
  return soffice(tmp.dir, ['--convert-to', format, file], join(tmp.dir, 'out'), CONVERT_TIMEOUT_MS);
}

async function libreOfficeHits(tokenId: string) {
  return (await listHits(s.app.deps.db, { tokenId, limit: 20 })).filter((h) => /LibreOffice/.test(h.userAgent ?? ''));
}

describe('LibreOffice opens the documents and calls home', () => {
  it('a .docx: loads cleanly with its content and records a GET of the token image with LibreOffice’s user agent', { timeout: CONVERT_TIMEOUT_MS + 30_000 }, async () => {
    const d = await createAndDownload(s.adminUrl, 'word', { theme: 'vpn-access', company: 'Brightwater Holdings' });
    const file = join(tmp.dir, savedName(d.disposition));
    writeFileSync(file, d.body);
    expect(await libreOfficeHits(d.id)).toHaveLength(0);

    const r = await convert(file, 'txt:Text');
    expect(r.code, r.output).toBe(0);
    const text = readFileSync(join(tmp.dir, 'out', savedName(d.disposition).replace(/\.docx$/, '.txt')), 'utf8');
    expect(text).toContain('Remote access (VPN) accounts');
    expect(text).toContain('Initial password');
    expect(text).toContain('Brightwater Holdings');

    const hits = await libreOfficeHits(d.id);
    const get = hits.find((h) => h.method === 'GET');
    expect(get, JSON.stringify(hits)).toBeDefined();
    expect(get?.userAgent).toMatch(/^LibreOffice \d/);
    expect(get?.details).toEqual({ opener: 'LibreOffice', request: 'image' });
    expect(get?.sourceIp).toBe('127.0.0.1');
    expect(`${s.config.PUBLIC_URL}${get?.path}${get?.query ? `?${get.query}` : ''}`).toBe(d.url);
  });

  it('an .xlsx: loads cleanly with its rows and records a GET of the token image with LibreOffice’s user agent', { timeout: CONVERT_TIMEOUT_MS + 30_000 }, async () => {
    const d = await createAndDownload(s.adminUrl, 'excel', { theme: 'network-passwords', filename: 'accounts.xlsx' });
    const file = join(tmp.dir, 'accounts.xlsx');
    writeFileSync(file, d.body);

    const r = await convert(file, 'csv');
    expect(r.code, r.output).toBe(0);
    const csv = readFileSync(join(tmp.dir, 'out', 'accounts.csv'), 'utf8').split('\n');
    expect(csv[0]).toBe('System,Host,Username,Password,Notes');
    expect(csv.filter((l) => l.trim() !== '').length).toBeGreaterThan(7);

    const get = (await libreOfficeHits(d.id)).find((h) => h.method === 'GET');
    expect(get).toBeDefined();
    expect(get?.details).toEqual({ opener: 'LibreOffice', request: 'image' });
    expect(`${s.config.PUBLIC_URL}${get?.path}${get?.query ? `?${get.query}` : ''}`).toBe(d.url);
  });
});
