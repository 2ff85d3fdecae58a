import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { getToken, listTokens } from '../../src/db/queries/tokens.ts';
import { MAX_IMAGE_BYTES, sniffImage } from '../../src/tokens/custom-image.ts';
import { makeAdmin, ADMIN } from '../admin/helpers.ts';
import { auth, startTestServer, type TestServer } from '../helpers.ts';
import { launchChromium } from '../chromium.ts';

/**
 * custom-image: images made by real encoders (Chromium's canvas for PNG, JPEG and WebP; netpbm
 * for GIF) are uploaded through the JSON API and the admin form's file picker, then loaded by
 * Chromium through an <img> tag: the bytes it receives are the bytes uploaded. Conditional and
 * range requests through node's http client get the static-file answers of the listener's nginx
 * framing (the same file from a real nginx: tests/channels/nginx-differential.test.ts).
 */

let s: TestServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  s = await startTestServer();
  browser = await launchChromium();
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

interface Created {
  status: number;
  body: { token?: { id: string; params: Record<string, unknown> }; artifact?: { url: string; contentType?: string }; error?: { fields?: Record<string, string> } };
}

async function createToken(image: string): Promise<Created> {
  const res = await fetch(`${s.adminUrl}/api/v1/tokens`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'custom-image', name: 'signature logo', params: { image } }),
  });
  return { status: res.status, body: (await res.json()) as Created['body'] };
}

/** One request through node's http client: status, headers and body as received. */
function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const hitsOf = async (id: string) => listHits(s.app.deps.db, { tokenId: id, limit: 50 });

describe('custom-image kind', () => {
  const cases: [string, () => Promise<Buffer>, number, number][] = [
    ['png', () => canvasImage('png', 120, 40), 120, 40],
    ['jpeg', () => canvasImage('jpeg', 64, 48), 64, 48],
    ['webp', () => canvasImage('webp', 90, 30), 90, 30],
    ['gif', async () => gifImage(33, 17), 33, 17],
  ];

  it.each(cases)('Chromium loads the uploaded %s through <img>, byte for byte, with a static file server\'s headers', async (type, make, w, h) => {
    const bytes = await make();
    expect(sniffImage(bytes)).toEqual({ type, width: w, height: h });
    const created = await createToken(bytes.toString('base64'));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const { token, artifact } = created.body;
    // The bytes stay out of the API's answer; a summary says what was stored.
    expect(token?.params).toMatchObject({ image: `${type.toUpperCase()} ${w}x${h}, ${bytes.length} bytes`, type, width: w, height: h, bytes: bytes.length });
    expect(token?.params).not.toHaveProperty('_image');
    const url = artifact?.url ?? '';
    // The file name's extension is the one nginx's mime.types maps to this type.
    expect(new URL(url).pathname).toMatch(type === 'jpeg' ? /\.jpe?g$/ : new RegExp(`\\.${type}$`));

    const served = page.waitForResponse((r) => r.url() === url);
    await page.setContent(`<!doctype html><img id="i" src="${url}">`);
    const res = await served;
    expect(res.status()).toBe(200);
    expect((await res.body()).equals(bytes)).toBe(true);
    const headers = await res.allHeaders();
    expect(headers).toMatchObject({ 'content-type': `image/${type}`, 'content-length': String(bytes.length), 'accept-ranges': 'bytes', server: 'nginx' });
    expect(headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    await expect.poll(() => page.locator('#i').evaluate((i) => [(i as unknown as { naturalWidth: number }).naturalWidth, (i as unknown as { naturalHeight: number }).naturalHeight])).toEqual([w, h]);

    const hits = await hitsOf(token?.id ?? '');
    expect(hits).toHaveLength(1);
    expect(hits[0]?.userAgent).toMatch(/Chrome\//);
  });

  it('answers conditional, range, HEAD and POST requests as nginx does for a static file, and records each', async () => {
    const bytes = await canvasImage('png', 50, 50);
    const { body } = await createToken(bytes.toString('base64'));
    const url = body.artifact?.url ?? '';
    const id = body.token?.id ?? '';
    const token = await getToken(s.app.deps.db, id);
    const seconds = Math.floor((token?.createdAt.getTime() ?? 0) / 1000);

    const first = await get(url);
    expect(first.status).toBe(200);
    expect(first.body.equals(bytes)).toBe(true);
    // nginx's validators: the file time (the token's creation) and the length, in hex.
    expect(first.headers.etag).toBe(`"${seconds.toString(16)}-${bytes.length.toString(16)}"`);
    expect(first.headers['last-modified']).toBe(new Date(seconds * 1000).toUTCString());
    const etag = String(first.headers.etag);
    const lastModified = String(first.headers['last-modified']);

    const revalidated = await get(url, { 'if-none-match': etag });
    expect([revalidated.status, revalidated.body.length, revalidated.headers['content-type']]).toEqual([304, 0, undefined]);
    expect((await get(url, { 'if-modified-since': lastModified })).status).toBe(304);
    expect((await get(url, { 'if-none-match': '"0-1"' })).status).toBe(200);

    const part = await get(url, { range: 'bytes=8-23' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 8-23/${bytes.length}`);
    expect(part.body.equals(bytes.subarray(8, 24))).toBe(true);
    const tail = await get(url, { range: 'bytes=-10' });
    expect(tail.body.equals(bytes.subarray(bytes.length - 10))).toBe(true);
    const past = await get(url, { range: `bytes=${bytes.length}-` });
    expect([past.status, past.headers['content-range']]).toEqual([416, `bytes */${bytes.length}`]);

    const head = await get(url, {}, 'HEAD');
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([200, String(bytes.length), 0]);
    const post = await get(url, {}, 'POST');
    expect(post.status).toBe(405);

    // Every request was a load of the image (or a try), recorded; the revalidations say so.
    const hits = await hitsOf(id);
    expect(hits.reduce((n, h) => n + h.repeatCount, 0)).toBe(9);
    expect(hits.filter((h) => h.details?.revalidated === true).length).toBeGreaterThan(0);
  });

  it('takes an image of the largest size through the JSON API (its base64 fits the body limit)', async () => {
    const png = await canvasImage('png', 16, 16);
    // Bytes after IEND are ignored by decoders; the file is still the same PNG, at the size bound.
    const largest = Buffer.concat([png, Buffer.alloc(MAX_IMAGE_BYTES - png.length, 0x20)]);
    const created = await createToken(largest.toString('base64'));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const res = await get(created.body.artifact?.url ?? '');
    expect(res.body.equals(largest)).toBe(true);
  });

  it('refuses what is not a bounded PNG, JPEG, GIF or WebP with a 400 naming params.image, and stores nothing', async () => {
    const png = await canvasImage('png', 20, 10);
    const huge = Buffer.from(png);
    huge.writeUInt32BE(5000, 16); // IHDR width beyond the bound
    const zero = Buffer.from(png);
    zero.writeUInt32BE(0, 20);
    const oversize = Buffer.concat([png, Buffer.alloc(MAX_IMAGE_BYTES + 1 - png.length)]);
    const bad: [string, string][] = [
      ['text', Buffer.from('GIF87 not really an image at all').toString('base64')],
      ['svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>').toString('base64')],
      ['html', Buffer.from('<html><script>alert(1)</script></html>').toString('base64')],
      ['truncated jpeg', (await canvasImage('jpeg', 20, 20)).subarray(0, 30).toString('base64')],
      ['too wide', huge.toString('base64')],
      ['zero height', zero.toString('base64')],
      ['too large', oversize.toString('base64')],
      ['not base64', '!!!!'],
      ['empty', ''],
    ];
    const before = (await listTokens(s.app.deps.db, { limit: 1, offset: 0 })).total;
    for (const [label, image] of bad) {
      const res = await createToken(image);
      expect([res.status, Object.keys(res.body.error?.fields ?? {})], label).toEqual([400, ['params.image']]);
    }
    expect((await listTokens(s.app.deps.db, { limit: 1, offset: 0 })).total).toBe(before);
  });

  it('rotation makes a new URL serving the same image', async () => {
    const bytes = gifImage(7, 5);
    const { body } = await createToken(bytes.toString('base64'));
    const res = await fetch(`${s.adminUrl}/api/v1/tokens/${body.token?.id ?? ''}/rotate`, { method: 'POST', headers: auth });
    const rotated = (await res.json()) as { artifact?: { url: string }; token?: { params: Record<string, unknown> } };
    expect(res.status, JSON.stringify(rotated)).toBe(201);
    expect(rotated.artifact?.url).not.toBe(body.artifact?.url);
    expect(rotated.token?.params).toEqual(body.token?.params);
    expect((await get(rotated.artifact?.url ?? '')).body.equals(bytes)).toBe(true);
  });

  it('the admin form takes the image from a file picker, in Chromium', async () => {
    const bytes = await canvasImage('webp', 40, 20);
    await makeAdmin(s.app.deps.db);
    const context = await browser.newContext();
    const admin = await context.newPage();
    admin.setDefaultTimeout(10_000);
    await admin.goto(`${s.adminUrl}/login`);
    await admin.getByLabel('Email').fill(ADMIN.email);
    await admin.getByLabel('Password').fill(ADMIN.password);
    await admin.getByRole('button', { name: /sign in/i }).click();
    await admin.waitForURL((u) => !u.pathname.startsWith('/login'));
    await admin.goto(`${s.adminUrl}/tokens/new?kind=custom-image`);
    await admin.getByLabel('Name (memo)').fill('letterhead logo');
    await admin.locator('#f-params-image-file').setInputFiles({ name: 'logo.webp', mimeType: 'image/webp', buffer: bytes });
    await expect.poll(() => admin.locator('#f-params-image').inputValue()).toMatch(/^data:image\/webp;base64,/);
    await admin.getByRole('button', { name: 'Create token' }).click();
    await admin.waitForURL((u) => /^\/tokens\/[0-9a-z]+/.test(u.pathname) && !u.pathname.endsWith('/new'));
    const { items } = await listTokens(s.app.deps.db, { kind: 'custom-image', q: 'letterhead', limit: 5, offset: 0 });
    expect(items).toHaveLength(1);
    const path = items[0]?.urlPath ?? '';
    expect(path).toMatch(/\.webp(\?|$)/);
    expect((await get(`${s.publicUrl}${path}`)).body.equals(bytes)).toBe(true);
    await context.close();
  });
});
