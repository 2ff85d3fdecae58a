import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { browserFacts } from '../../src/tokens/slow-redirect.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { launchChromium } from '../chromium.ts';

/**
 * slow-redirect in Debian's Chromium: the browser, given a locale, time zone and screen,
 * opens the token URL, posts what it reveals and lands on the target (served by the test
 * through request interception, since the target must be https). The hit holds the same
 * facts the landed page reads from the same browser.
 */

let s: TestServer;
let browser: Browser;
beforeAll(async () => {
  s = await startTestServer();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await s?.stop();
});

const READ_FACTS = `(() => {
  let vendor = null, renderer = null;
  try {
    const gl = document.createElement('canvas').getContext('webgl');
    const ext = gl && gl.getExtension('WEBGL_debug_renderer_info');
    if (ext) { vendor = gl.getParameter(ext.UNMASKED_VENDOR_WEBGL); renderer = gl.getParameter(ext.UNMASKED_RENDERER_WEBGL); }
  } catch (e) {}
  return { languages: navigator.languages, platform: navigator.platform, timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    screen: { width: screen.width, height: screen.height, colorDepth: screen.colorDepth }, webglVendor: vendor, webglRenderer: renderer, cores: navigator.hardwareConcurrency };
})()`;

describe('slow-redirect kind', () => {
  it('Chromium posts languages, screen, time zone, platform and WebGL renderer, then lands on the target', async () => {
    const target = `https://intranet.example.com/wiki/Finance-${Date.now()}`;
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'slow-redirect', params: { target } });
    const context = await browser.newContext({ locale: 'de-CH', timezoneId: 'Asia/Tokyo', screen: { width: 1680, height: 1050 }, viewport: { width: 1200, height: 800 } });
    await context.route('https://intranet.example.com/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Finance</title><h1>Finance wiki</h1>' }));
    const page = await context.newPage();
    await page.goto(url ?? '');
    await page.waitForURL(target, { timeout: 10_000 });
    expect(await page.locator('h1').textContent()).toBe('Finance wiki');
    const seen = (await page.evaluate(READ_FACTS)) as Record<string, unknown>;
    expect(seen).toMatchObject({ languages: ['de-CH'], timeZone: 'Asia/Tokyo', screen: { width: 1680, height: 1050 } });

    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    expect(hits.map((h) => h.method).sort()).toEqual(['GET', 'POST']);
    const posted = hits.find((h) => h.method === 'POST');
    expect(posted?.userAgent).toMatch(/Chrome\//);
    expect(posted?.details?.browser).toEqual(seen);
    await context.close();
  });

  it('forwards without JavaScript too (meta refresh), recording the visit', async () => {
    const target = `https://intranet.example.com/wiki/NoJs-${Date.now()}`;
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'slow-redirect', params: { target } });
    const context = await browser.newContext({ javaScriptEnabled: false });
    await context.route('https://intranet.example.com/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>landed</h1>' }));
    const page = await context.newPage();
    await page.goto(url ?? '');
    await page.waitForURL(target, { timeout: 10_000 });
    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    expect(hits.map((h) => h.method)).toEqual(['GET']);
    await context.close();
  });

  it('keeps only bounded, known facts from a posted body', () => {
    expect(browserFacts(Buffer.from('not json'))).toBeNull();
    expect(browserFacts(Buffer.from('[1,2]'))).toBeNull();
    expect(browserFacts(Buffer.alloc(5000, 0x20))).toBeNull();
    const f = browserFacts(Buffer.from(JSON.stringify({ languages: Array(12).fill('x'.repeat(250)), timeZone: 7, evil: '<script>', screen: { width: 1e309 } })));
    expect(f?.languages).toHaveLength(10);
    expect((f?.languages as string[])[0]).toHaveLength(200);
    expect(f).not.toHaveProperty('evil');
    expect(f).toMatchObject({ timeZone: null, screen: { width: null } });
  });
});
