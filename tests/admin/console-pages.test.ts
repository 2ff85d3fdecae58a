import { describe, expect, it } from 'vitest';
import { makeIncident } from '../factories.ts';
import { axe, signedIn, useConsoleWorld } from './console-world.ts';

/**
 * Every console page as wide as a 390 px phone and at a desktop width, signed in and signed out,
 * with axe-core on each; focus ring and border contrast (issue 19). Its own file so that it runs
 * beside tests/admin/console.test.ts: Chromium walking thirty pages twice is the longest test.
 */
const world = useConsoleWorld();
/** In-page probe (plain JavaScript: the test's TypeScript has no DOM types): contrast of the input border, its focus ring and a button's focus ring. */
const CONTRAST_PROBE = String.raw`() => {
      const rgb = (c) => (c.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
      const lum = (c) => {
        const [r = 0, g = 0, b = 0] = rgb(c).map((v) => v / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const ratio = (a, b) => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);
      const bgOf = (el) => {
        for (let e = el; e; e = e.parentElement) {
          const c = getComputedStyle(e).backgroundColor;
          if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c;
        }
        return 'rgb(255, 255, 255)';
      };
      const input = document.getElementById('f-name');
      const out = {};
      if (input) out.inputBorder = ratio(getComputedStyle(input).borderTopColor, bgOf(input.parentElement));
      input && input.focus();
      if (input) out.focusRing = ratio(getComputedStyle(input).outlineColor, bgOf(input.parentElement));
      const button = document.querySelector('main button');
      button && button.focus();
      if (button) out.buttonFocus = ratio(getComputedStyle(button).outlineColor, bgOf(button.parentElement));
      return out;
    }`;

describe('every page: phones, axe, contrast', () => {
  const pages = () => [
    '/', '/tokens', '/tokens?q=nothing-matches', '/tokens/new', '/tokens/new?kind=credentials', `/tokens/${world.ids.token}`, `/tokens/${world.ids.token}/created`, `/tokens/${world.ids.token}/delete`,
    '/incidents', `/incidents/${world.ids.incident}`, '/incidents/abc', '/assets', `/assets/${world.ids.asset}`, `/assets/${world.ids.asset}/delete`,
    '/expected-activity', `/expected-activity/${world.ids.rule}`, `/expected-activity/${world.ids.rule}/delete`, '/admins', `/admins/${world.ids.user}`, `/admins/${world.ids.user}/delete`,
    '/api-keys', `/api-keys/${world.ids.key}/revoke`, '/settings', '/audit', '/account', '/account/mfa/disable', '/no-such-page',
    '/intel/feeds', `/tokens/${world.ids.token}/rotate`,
  ];

  it('is exactly as wide as a 390 px phone and has no axe violations, signed in and signed out', async () => {
    for (const viewport of [{ width: 390, height: 844 }, { width: 1366, height: 900 }]) {
      const { page, context } = await signedIn(world, 'admin@corp.example', viewport);
      const incident = await makeIncident(world.s.app.deps.db, { actorLabel: 'WS-VERY-LONG-WORKSTATION-NAME-0001.finance.corp.example (10.20.4.17)' });
      for (const path of [...pages(), `/incidents/${incident.id}`]) {
        const res = await page.goto(`${world.s.adminUrl}${path}`);
        expect(res?.status(), path).toBeLessThan(path === '/incidents/abc' || path === '/no-such-page' ? 405 : 400);
        if (path === '/incidents/abc') expect(res?.status()).toBe(404);
        if (viewport.width === 390) expect(await page.evaluate('document.documentElement.scrollWidth'), path).toBe(390);
        expect(await axe(page), `${path} at ${viewport.width}px`).toEqual([]);
      }
      await context.close();
    }
    const context = await world.browser.newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true });
    const page = await context.newPage();
    await page.goto(`${world.s.adminUrl}/login`);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBe(390);
    expect(await axe(page)).toEqual([]);
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await axe(page)).toEqual([]);
    await context.close();
  }, 180_000);

  it('focus rings and input borders reach 3:1 against what is behind them (WCAG 2.2 1.4.11, 2.4.13)', async () => {
    const { page, context } = await signedIn(world, 'admin@corp.example');
    await page.goto(`${world.s.adminUrl}/tokens/new?kind=web-bug`);
    const ratios = (await page.evaluate(`(${CONTRAST_PROBE})()`)) as Record<string, number>;
    expect(Object.keys(ratios)).toEqual(['inputBorder', 'focusRing', 'buttonFocus']);
    for (const [what, r] of Object.entries(ratios)) expect(r, what).toBeGreaterThanOrEqual(3);
    await context.close();
  });
});
