import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { auth, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { apiPost, call, createAndDownload, expectWellFormed, savedName } from './ooxml.ts';

let s: TestServer;
let tmp: ReturnType<typeof tempDir>;
beforeAll(async () => {
  s = await startTestServer();
  tmp = tempDir();
});
afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

/** Decode a QR code with a real decoder (zbar), from a PNG file. */
function zbar(file: string): string {
  const r = spawnSync('zbarimg', ['--quiet', '--raw', file], { encoding: 'utf8', timeout: 20_000 });
  if (r.error) throw r.error;
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe('qr kind', () => {
  it('downloads a PNG that a real decoder reads back as the token URL', async () => {
    const d = await createAndDownload(s.adminUrl, 'qr', { format: 'png', size: 400, errorCorrection: 'Q' });
    expect(d.contentType).toBe('image/png');
    expect(savedName(d.disposition)).toMatch(/^[a-z-]+\.png$/);
    expect(d.body.subarray(1, 4).toString()).toBe('PNG');
    expect(d.body.readUInt32BE(16)).toBe(400);
    const file = join(tmp.dir, 'code.png');
    writeFileSync(file, d.body);
    expect(zbar(file)).toBe(d.url);
    expect(d.url.startsWith(s.config.PUBLIC_URL)).toBe(true);
    expect(d.url).not.toContain(d.id);
  });

  it('downloads an SVG that renders (librsvg) to a code that decodes to the token URL', async () => {
    const d = await createAndDownload(s.adminUrl, 'qr', { format: 'svg', filename: 'Wi-Fi guest.svg' });
    expect(d.contentType).toMatch(/^image\/svg\+xml/);
    expect(savedName(d.disposition)).toBe('Wi-Fi guest.svg');
    const svg = d.body.toString();
    expectWellFormed('qr.svg', svg);
    const png = join(tmp.dir, 'svg.png');
    const r = spawnSync('rsvg-convert', ['--width', '600', '--background-color', 'white', '--output', png], { input: d.body, timeout: 20_000 });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(zbar(png)).toBe(d.url);
  });

  it('one token downloads as PNG and as SVG (?format=), both decoding to its URL; other formats are a 400 naming the field', async () => {
    const d = await createAndDownload(s.adminUrl, 'qr', { format: 'png', filename: 'server-room.png' });
    const token = JSON.parse((await call(`${s.adminUrl}/api/v1/tokens/${d.id}`, { headers: auth })).body.toString()) as { artifact: { formats: { format: string; download: string }[] } };
    expect(token.artifact.formats.map((f) => f.format)).toEqual(['png', 'svg']);
    const svg = await call(`${s.adminUrl}${token.artifact.formats[1]?.download}`, { headers: auth });
    expect(svg.status).toBe(200);
    expect(String(svg.headers['content-type'])).toMatch(/^image\/svg\+xml/);
    expect(savedName(String(svg.headers['content-disposition']))).toBe('server-room.svg');
    const png = join(tmp.dir, 'alt.png');
    const r = spawnSync('rsvg-convert', ['--width', '600', '--background-color', 'white', '--output', png], { input: svg.body, timeout: 20_000 });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(zbar(png)).toBe(d.url);

    const bad = await call(`${s.adminUrl}/api/v1/tokens/${d.id}/artifact?format=pdf`, { headers: auth });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body.toString()).error.fields.format).toBe('must be one of png, svg');
    const word = await createAndDownload(s.adminUrl, 'word', {});
    const single = await call(`${s.adminUrl}/api/v1/tokens/${word.id}/artifact?format=svg`, { headers: auth });
    expect(single.status).toBe(400);
    expect(JSON.parse(single.body.toString()).error.fields.format).toMatch(/one format only/);
  });

  it('a scan records the hit and shows a bland page, or forwards to the chosen page', async () => {
    const phone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';
    const plain = await createAndDownload(s.adminUrl, 'qr', {});
    const page = await call(plain.url, { headers: { 'user-agent': phone, accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html');
    expect(page.body.toString()).not.toMatch(/honeytrail|token/i);

    const fwd = await createAndDownload(s.adminUrl, 'qr', { target: 'https://intranet.example.com/wifi' });
    const res = await call(fwd.url, { headers: { 'user-agent': phone } });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('https://intranet.example.com/wifi');

    for (const d of [plain, fwd]) {
      const hits = await listHits(s.app.deps.db, { tokenId: d.id, limit: 5 });
      expect(hits).toHaveLength(1);
      expect(hits[0]?.userAgent).toBe(phone);
    }
  });

  it('rejects bad params with field messages', async () => {
    const bad = await apiPost(s.adminUrl, '/tokens', { kind: 'qr', name: 'x', params: { format: 'gif', size: 10, margin: 0, target: 'http://example.com/' } });
    expect(bad.status).toBe(400);
    const { error } = JSON.parse(bad.body.toString()) as { error: { fields: Record<string, string> } };
    expect(Object.keys(error.fields).sort()).toEqual(['params.format', 'params.margin', 'params.size', 'params.target']);
  });
});
