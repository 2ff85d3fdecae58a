import { execFileSync } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { MAX_IMAGE_BYTES, sniffImage } from '../../src/tokens/custom-image.ts';
import { auth, startTestServer, type TestServer } from '../helpers.ts';

/**
 * custom-image: images made by real encoders (Chromium's canvas for PNG, JPEG and WebP;
 * netpbm for GIF) are uploaded through the JSON API, then loaded by Chromium through an
 * <img> tag: the bytes it receives are the bytes uploaded, with a static server's headers.
 */

let s: TestServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  s = await startTestServer();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30_000,
  });
  page = await browser.newPage();
});
afterAll(async () => {
  await browser?.close();
  await s?.stop();
});

/** Draw a gradient of w x h in Chromium and encode it with the browser's own encoder. */
async function canvasImage(type: 'png' | 'jpeg' | 'webp', w: number, h: number): Promise<Buffer> {
  // Runs in the page (a string, so the test's types need no DOM library).
  const dataUrl = await page.evaluate<string>(`(() => {
    const c = document.createElement('canvas');
    c.width = ${w};
    c.height = ${h};
    const g = c.getContext('2d');
    const grad = g.createLinearGradient(0, 0, ${w}, ${h});
    grad.addColorStop(0, '#1d3c78');
    grad.addColorStop(1, '#f2b630');
    g.fillStyle = grad;
    g.fillRect(0, 0, ${w}, ${h});
    return c.toDataURL('image/${type}', 0.9);
  })()`);
  return Buffer.from(dataUrl.replace(/^data:[^,]+,/, ''), 'base64');
}

function gifImage(w: number, h: number): Buffer {
  const ppm = execFileSync('ppmmake', ['rgb:20/50/a0', String(w), String(h)]);
  return execFileSync('ppmtogif', [], { input: ppm, stdio: ['pipe', 'pipe', 'ignore'] });
}

async function createToken(image: string): Promise<{ status: number; body: { token?: { id: string; params: Record<string, unknown> }; artifact?: { url: string }; error?: { fields?: Record<string, string> } } }> {
  const res = await fetch(`${s.adminUrl}/api/v1/tokens`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'custom-image', name: 'signature logo', params: { image } }),
  });
  return { status: res.status, body: (await res.json()) as never };
}

describe('custom-image kind', () => {
  const cases: [string, () => Promise<Buffer>, number, number][] = [
    ['png', () => canvasImage('png', 120, 40), 120, 40],
    ['jpeg', () => canvasImage('jpeg', 64, 48), 64, 48],
    ['webp', () => canvasImage('webp', 90, 30), 90, 30],
    ['gif', async () => gifImage(33, 17), 33, 17],
  ];

  it.each(cases)('Chromium loads the uploaded %s through <img>, byte for byte, with static-server headers', async (type, make, w, h) => {
    const bytes = await make();
    expect(sniffImage(bytes)).toEqual({ type, width: w, height: h });
    const created = await createToken(bytes.toString('base64'));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const { token, artifact } = created.body;
    // The bytes stay out of the API's answer; a summary says what was stored.
    expect(token?.params).toEqual({ image: `${type.toUpperCase()} ${w}x${h}, ${bytes.length} bytes`, type, width: w, height: h, bytes: bytes.length });
    const url = artifact?.url ?? '';

    const served = page.waitForResponse((r) => r.url() === url);
    await page.setContent(`<!doctype html><img id="i" src="${url}">`);
    const res = await served;
    expect(res.status()).toBe(200);
    expect((await res.body()).equals(bytes)).toBe(true);
    const headers = await res.allHeaders();
    expect(headers['content-type']).toBe(`image/${type}`);
    expect(headers['content-length']).toBe(String(bytes.length));
    expect(headers['accept-ranges']).toBe('bytes');
    expect(headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(new Date(headers['last-modified'] ?? '').getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(headers.server).toBe('nginx');
    await expect.poll(() => page.locator('#i').evaluate((i) => [(i as unknown as { naturalWidth: number }).naturalWidth, (i as unknown as { naturalHeight: number }).naturalHeight])).toEqual([w, h]);

    const hits = await listHits(s.app.deps.db, { tokenId: token?.id ?? '', limit: 5 });
    expect(hits).toHaveLength(1);
    expect(hits[0]?.userAgent).toMatch(/Chrome\//);
  });

  it('revalidates with 304, serves a byte range with 206 and 416 past the end, and HEAD without a body', async () => {
    const bytes = await canvasImage('png', 50, 50);
    const { body } = await createToken(bytes.toString('base64'));
    const url = body.artifact?.url ?? '';
    const first = await fetch(url);
    const etag = first.headers.get('etag') ?? '';
    const lastModified = first.headers.get('last-modified') ?? '';
    expect(Buffer.from(await first.arrayBuffer()).equals(bytes)).toBe(true);

    expect((await fetch(url, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await fetch(url, { headers: { 'if-modified-since': lastModified } })).status).toBe(304);
    expect((await fetch(url, { headers: { 'if-none-match': '"0-1"' } })).status).toBe(200);

    const part = await fetch(url, { headers: { range: 'bytes=8-23' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 8-23/${bytes.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(8, 24))).toBe(true);
    const tail = await fetch(url, { headers: { range: 'bytes=-10' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(bytes.length - 10))).toBe(true);
    expect((await fetch(url, { headers: { range: `bytes=${bytes.length}-` } })).status).toBe(416);

    const head = await fetch(url, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    // Every request was a load of the image, recorded.
    expect(await listHits(s.app.deps.db, { tokenId: body.token?.id ?? '', limit: 20 })).toHaveLength(8);
  });

  it('refuses what is not a bounded PNG, JPEG, GIF or WebP, naming params.image', async () => {
    const png = await canvasImage('png', 20, 10);
    const huge = Buffer.from(png);
    huge.writeUInt32BE(5000, 16); // IHDR width beyond the bound
    const zero = Buffer.from(png);
    zero.writeUInt32BE(0, 20);
    const oversize = Buffer.concat([png, Buffer.alloc(MAX_IMAGE_BYTES + 1 - png.length)]);
    const bad: [string, string][] = [
      ['text', Buffer.from('GIF87 not really an image at all').toString('base64')],
      ['svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>').toString('base64')],
      ['truncated jpeg', (await canvasImage('jpeg', 20, 20)).subarray(0, 30).toString('base64')],
      ['too wide', huge.toString('base64')],
      ['zero height', zero.toString('base64')],
      ['too large', oversize.toString('base64')],
      ['not base64', '!!!!'],
    ];
    for (const [label, image] of bad) {
      const res = await createToken(image);
      expect(res.status, label).toBe(400);
      expect(Object.keys(res.body.error?.fields ?? {}), label).toContain('params.image');
    }
  });
});
