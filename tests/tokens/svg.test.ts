import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { launchChromium } from '../chromium.ts';

/**
 * The svg kind against real renderers: Debian's Chromium (opening the file fires, for both
 * the image and the stylesheet variant; an SVG shown through <img> does not) and librsvg's
 * rsvg-convert (renders the drawing but loads nothing remote: recorded as observed).
 */

let s: TestServer;
let browser: Browser;
const tmp = tempDir();

beforeAll(async () => {
  s = await startTestServer();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await s?.stop();
  tmp.cleanup();
});

async function svgFile(via: 'image' | 'style'): Promise<{ id: string; file: string; url: string; body: string }> {
  const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'svg', params: { via } });
  const art = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  expect(art.contentType).toBe('image/svg+xml');
  expect(art.filename).toMatch(/^[\w.-]+\.svg$/);
  const file = join(tmp.dir, `${token.id}.svg`);
  writeFileSync(file, art.body);
  return { id: token.id, file, url: url ?? '', body: art.body.toString() };
}

const hitCount = async (id: string): Promise<number> => (await listHits(s.app.deps.db, { tokenId: id, limit: 10 })).length;

describe('svg kind', () => {
  it('is a well-formed SVG document naming the token URL once, without the token id in any visible text', async () => {
    const { file, url, body, id } = await svgFile('image');
    const lint = spawnSync('xmllint', ['--noout', file], { encoding: 'utf8' });
    expect(lint.status, lint.stderr).toBe(0);
    expect(body.split(url.replace(/&/g, '&amp;')).length - 1).toBe(1);
    const text = [...body.matchAll(/<(?:text|title)[^>]*>([^<]*)</g)].map((m) => m[1]).join(' ');
    expect(text).not.toContain(id);
  });

  it.each(['image', 'style'] as const)('fires once when Chromium opens the file (via %s), with the browser as the client', async (via) => {
    const { id, file } = await svgFile(via);
    const page = await browser.newPage();
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    await expect.poll(() => hitCount(id), { timeout: 10_000 }).toBe(1);
    const [hit] = await listHits(s.app.deps.db, { tokenId: id, limit: 5 });
    expect(hit?.userAgent).toMatch(/Chrome\//);
    // The drawing itself still renders (the title text is laid out).
    expect(await page.locator('text').first().textContent()).toMatch(/network/i);
    await page.close();
  });

  it('does not fire when the SVG is shown through an <img> tag (browsers load no sub-resources for SVG images)', async () => {
    const { id, file } = await svgFile('image');
    const html = join(tmp.dir, `${id}.html`);
    writeFileSync(html, `<!doctype html><img id="d" src="${pathToFileURL(file).href}">`);
    const page = await browser.newPage();
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
    expect(await page.locator('#d').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
    await page.waitForTimeout(1000);
    expect(await hitCount(id)).toBe(0);
    await page.close();
  });

  it.each(['image', 'style'] as const)('rsvg-convert renders the drawing (via %s) but fetches nothing: librsvg loads no remote resources', async (via) => {
    const { id, file, url } = await svgFile(via);
    const png = join(tmp.dir, `${id}.png`);
    const r = spawnSync('rsvg-convert', ['--output', png, file], { encoding: 'utf8', timeout: 15_000 });
    expect(r.status, r.stderr).toBe(0);
    // rsvg-convert is synchronous: any fetch would have been made (and recorded) before it exited.
    await new Promise((done) => setTimeout(done, 300));
    expect(await hitCount(id)).toBe(0);
    // The control: the same token URL records a hit when fetched, answering what the drawing asks for.
    const res = await fetch(url);
    expect(res.headers.get('content-type')).toBe(via === 'style' ? 'text/css' : 'image/png');
    expect(await hitCount(id)).toBe(1);
  });
});
