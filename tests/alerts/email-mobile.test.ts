import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderEmail } from '../../src/alerts/email.ts';
import { buildAlertView } from '../../src/alerts/view.ts';
import { insertAsset } from '../../src/db/queries/assets.ts';
import { intrusionBed, type Bed } from '../hits/bed.ts';
import { launchChromium } from '../chromium.ts';

/**
 * The alert mail on a phone: the HTML part rendered by Chromium (Debian's, via playwright-core)
 * in a 390 px wide viewport, as a mail app shows it. Nothing may stick out sideways, however
 * long the paths, user agents and names an intruder sends.
 */
let browser: Browser;
let bed: Bed;
beforeAll(async () => {
  browser = await launchChromium(['--disable-quic']);
  bed = await intrusionBed();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await bed?.cleanup();
});

describe('alert mail on a 390 px screen', () => {
  it('fits the width (one fluid column, long attacker text wraps) and keeps every section readable', async () => {
    await insertAsset(bed.db, { cidr: '10.30.0.10', hostname: 'JUMP01', label: 'JUMP01', segment: 'Admin' });
    const long = 'A'.repeat(300);
    const share = await bed.token(`Quarterly ${long}`, { kind: 'word', location: `\\\\FS01\\finance\\${'very-long-folder-name-'.repeat(12)}`, plantedHost: 'FS01' });
    const keys = await bed.token('keys', { kind: 'aws-keys', location: 'C:\\Users\\m.keller\\.aws', plantedHost: 'WS-22' });
    await bed.hit({ token: share, sourceIp: '10.30.0.10', userAgent: `LibreOffice/7.4 ${'x'.repeat(400)}`, path: `/${'p'.repeat(500)}` });
    await bed.hit({ token: keys, sourceIp: '10.30.0.10', userAgent: 'aws-cli/2.15.0 Python/3.11.6', facts: { credential: 'AKIAEXAMPLE00000001', details: { signed: true, service: 'sts', action: 'GetCallerIdentity', region: 'eu-west-1' } } });
    const [row] = await bed.alerts();
    const view = (await buildAlertView(bed.db, bed.config, row ?? expect.fail('no alert'))) ?? expect.fail('no view');
    const { html } = renderEmail(view);

    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    try {
      await page.setContent(html);
      // Evaluated in the page (the test's own TypeScript has no DOM types).
      const { scrollWidth, widest } = (await page.evaluate(
        '({ scrollWidth: document.documentElement.scrollWidth, widest: Math.max(...[...document.querySelectorAll("body *")].map((e) => e.getBoundingClientRect().right)) })',
      )) as { scrollWidth: number; widest: number };
      expect(scrollWidth).toBeLessThanOrEqual(390);
      expect(widest).toBeLessThanOrEqual(390);
      const text = await page.locator('body').innerText();
      for (const heading of ['Path between machines', 'Why CRITICAL', 'Where the decoy was planted', 'Who touched it', 'Next steps']) expect(text).toContain(heading);
      expect(text).toContain('WS-22 → JUMP01 (10.30.0.10)');
    } finally {
      await page.close();
    }
  });
});
