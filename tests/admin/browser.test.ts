import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFirstAdmin } from '../../src/admin/setup.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import { KINDS } from '../../src/tokens/registry.ts';
import { paramsJsonSchema } from '../../src/tokens/registry.ts';
import { getFrom } from '../alerts/support.ts';
import { makeAlert, makeIncident } from '../factories.ts';
import { silentLog, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { launchChromium } from '../chromium.ts';

/**
 * The admin UI in a real browser (Debian chromium via playwright-core): first-run setup,
 * sign-in, a token of every kind created through the form and its artifact downloaded, a
 * hostile hit shown as text, an incident acknowledged, an API key revoked, sign-out.
 * One browser launch for the whole file; screenshots go to test-artifacts/ (not committed).
 */

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const HOSTILE_NAME = '<img src=x onerror=alert(1)>';
const HOSTILE_UA = 'Mozilla/5.0 "><img src=y onerror=alert(2)><script>alert(3)</script>';
const EMAIL = 'first.admin@corp.example';
const PASSWORD = 'a very long admin password';

let s: TestServer;
let browser: Browser;
let page: Page;
let downloads: { dir: string; cleanup: () => void };
const dialogs: string[] = [];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  downloads = tempDir('honeytrail-dl-');
  s = await startTestServer();
  browser = await launchChromium();
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1366, height: 820 }, timezoneId: 'Europe/Berlin' });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
});

afterAll(async () => {
  await browser?.close();
  await s?.stop();
  downloads?.cleanup();
});

/** Fill one params field from an example value, by the control the form rendered. */
async function fillParam(key: string, value: unknown): Promise<void> {
  const field = page.locator(`[name="params.${key}"]`);
  // A value the kind generates is entered by ticking "Choose my own", as a user would.
  const own = page.locator(`[name="own.params.${key}"]`);
  if (await own.count()) await own.setChecked(true);
  const tag = await field.evaluate((el) => el.tagName.toLowerCase());
  const type = await field.getAttribute('type');
  if (tag === 'select') await field.selectOption(String(value));
  else if (type === 'checkbox') await field.setChecked(value === true);
  else await field.fill(Array.isArray(value) ? value.map(String).join('\n') : typeof value === 'object' ? JSON.stringify(value) : String(value));
}

describe('admin UI in a real browser', () => {
  it('first-run setup, sign out and sign in with the keyboard', async () => {
    const run = await ensureFirstAdmin(s.app.deps.db, s.config, silentLog, s.adminUrl);
    if (run.kind !== 'setup') throw new Error('expected a setup link');
    await page.goto(run.url);
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password (12+ characters)').fill(PASSWORD);
    await page.getByLabel('Repeat password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create admin' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Dashboard');
    expect(await page.locator('.flash').textContent()).toContain('Welcome');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login/);
    await page.goto(`${s.adminUrl}/tokens`);
    await page.waitForURL(/\/login\?next=/);
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${s.adminUrl}/tokens`);
    expect(await page.locator('h1').textContent()).toBe('Tokens');
  });

  it('creates a token of every kind through the form and downloads its artifact', async () => {
    for (const kind of KINDS) {
      await page.goto(`${s.adminUrl}/tokens/new?kind=${kind.id}`);
      const schema = paramsJsonSchema(kind) as { properties?: Record<string, unknown> };
      for (const key of Object.keys(schema.properties ?? {})) {
        expect(await page.locator(`label[for="f-params-${key}"]`).count(), `${kind.id}.${key} label`).toBe(1);
      }
      await page.getByLabel('Name (memo)').fill(`browser ${kind.id}`);
      await page.getByLabel('Where it is planted').fill(`\\\\fs01\\share\\${kind.id}`);
      for (const [key, value] of Object.entries(kind.example)) await fillParam(key, value);
      // A kind made from the defender's document: choose the file, as a user would.
      const upload = kind.upload ? await kind.upload.example() : undefined;
      if (upload) await page.getByLabel('Document').setInputFiles({ name: upload.filename, mimeType: 'application/octet-stream', buffer: upload.body });
      await page.getByRole('button', { name: 'Create token' }).click();
      await page.waitForURL(/\/tokens\/[0-9a-z]{24}\/created$/);
      expect(await page.locator('h1').textContent(), kind.id).toBe('Token created');
      const download = page.locator('#download');
      if (kind.render) {
        const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
        const saved = `${downloads.dir}/${kind.id}-${file.suggestedFilename()}`;
        await file.saveAs(saved);
        expect(readFileSync(saved).length, kind.id).toBeGreaterThan(0);
        expect(await download.textContent()).toContain(file.suggestedFilename());
      } else {
        expect(await download.count(), kind.id).toBe(0);
      }
      const plant = await page.locator('dl.plant').textContent();
      expect(plant?.trim().length, kind.id).toBeGreaterThan(0);
    }
    // A form and a download per kind: the time grows with the registry (16 kinds passed 30 s on a loaded CI machine).
  }, KINDS.length * 5_000);

  it('shows inline errors in the form', async () => {
    await page.goto(`${s.adminUrl}/tokens/new?kind=web-bug`);
    await page.getByLabel('Alert recipients').fill('not-an-email');
    await page.getByRole('button', { name: 'Create token' }).click();
    expect(await page.locator('#f-name-err').textContent()).toBe('is required');
    expect(await page.locator('#f-alertEmails-err').textContent()).toContain('must be an email address');
    expect(await page.getByLabel('Alert recipients').inputValue()).toBe('not-an-email');
  });

  it('renders a hostile token name and hit as text, and shows the hit on the token page', async () => {
    await page.goto(`${s.adminUrl}/tokens/new?kind=web-bug`);
    await page.getByLabel('Name (memo)').fill(HOSTILE_NAME);
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.waitForURL(/\/created$/);
    const url = (await page.locator('#artifact-url').textContent()) ?? '';
    const res = await fetch(url, { headers: { 'user-agent': HOSTILE_UA } });
    expect(res.status).toBe(200);

    await page.getByRole('link', { name: 'Token details and settings' }).click();
    expect(await page.locator('h1').textContent()).toBe(HOSTILE_NAME);
    const rows = page.locator('tr.hit');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().locator('td.ua').textContent()).toBe(HOSTILE_UA);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(1);
    const time = page.locator('tr.hit time').first();
    expect(await time.getAttribute('data-local')).toBe('1');
    expect(await time.getAttribute('title')).toMatch(/UTC$/);
    expect(await time.textContent()).not.toMatch(/UTC$/);

    await page.goto(`${s.adminUrl}/tokens`);
    expect(await page.getByRole('link', { name: HOSTILE_NAME }).count()).toBe(1);
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('plants a share decoy and a decoy on a workstation\u2019s disk through the form; one source touches both; the pipeline\u2019s intrusion shows the hop', async () => {
    const urls: string[] = [];
    const ids: string[] = [];
    const planted = { FS01: '\\\\FS01\\share\\payroll-2026.xlsx', 'WS-IT-02': 'C:\\Users\\it\\vpn-accounts.txt' } as const;
    for (const [name, host] of [['payroll-2026.xlsx', 'FS01'], ['vpn-accounts.txt', 'WS-IT-02']] as const) {
      await page.goto(`${s.adminUrl}/tokens/new?kind=web-bug`);
      await page.getByLabel('Name (memo)').fill(name);
      await page.getByLabel('Where it is planted').fill(planted[host]);
      await page.getByLabel('Planted on host').fill(host);
      await page.getByRole('button', { name: 'Create token' }).click();
      await page.waitForURL(/\/tokens\/([0-9a-z]{24})\/created$/);
      ids.push(/\/tokens\/([0-9a-z]{24})\//.exec(page.url())?.[1] ?? '');
      urls.push((await page.locator('#artifact-url').textContent()) ?? '');
    }
    for (const url of urls) expect(await getFrom(url, '127.0.0.9')).toBe(200);

    // The incidents list, as the analyst reaches it: the lateral-movement incident of 127.0.0.9.
    await page.goto(`${s.adminUrl}/incidents`);
    const row = page.locator('tbody tr', { hasText: '127.0.0.9' });
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.locator('.pill').textContent()).toBe('lateral');
    expect(await row.locator('.sev').textContent()).toBe('critical');
    await row.getByRole('link').click();
    await page.waitForURL(/\/incidents\/\d+$/);
    expect(await page.locator('.timeline li').count()).toBe(2);
    const timeline = (await page.locator('.timeline').textContent()) ?? '';
    expect(timeline.indexOf('payroll-2026.xlsx')).toBeLessThan(timeline.indexOf('vpn-accounts.txt'));
    for (const text of ['FS01', 'WS-IT-02', 'C:\\Users\\it\\vpn-accounts.txt', 'fetched the link']) expect(timeline).toContain(text);
    expect(await page.locator('.meta').first().textContent()).toContain('lateral movement');
    expect(await page.locator('body').textContent()).toContain('T1005 Data from Local System');
    // The path as a picture, drawn by the server: both machines and the hop between them.
    const graph = page.locator('svg.path-graph');
    expect(await graph.count()).toBe(1);
    expect(await graph.textContent()).toContain('WS-IT-02');
    expect(await graph.locator('path[marker-end]').count()).toBe(1);
    expect(await page.locator('#path-text').textContent()).toBe('WS-IT-02 → 127.0.0.9');
    await page.screenshot({ path: `${ARTIFACTS}intrusion-path.png`, fullPage: true });

    // And from the token's own page: the hit, with its source.
    await page.goto(`${s.adminUrl}/tokens/${ids[1]}`);
    expect(await page.locator('tr.hit', { hasText: '127.0.0.9' }).count()).toBe(1);
    expect(dialogs).toEqual([]);
  });

  it('shows an incident trail and acknowledges it; screenshots dashboard and incident', async () => {
    const hits = await listHits(s.app.deps.db, { limit: 10 });
    const incident = await makeIncident(s.app.deps.db, { hits, severity: 'high', lateral: true, techniques: ['T1083', 'T1552.001'], actorLabel: '10.20.4.17 (WS-ACCT-07)' });
    await makeAlert(s.app.deps.db, incident.id, { status: 'failed', lastError: 'connect ECONNREFUSED 127.0.0.1:25', sentAt: null });
    await page.goto(`${s.adminUrl}/incidents/${incident.id}`);
    expect(await page.locator('#incident-status').textContent()).toBe('open');
    expect(await page.locator('.timeline li').count()).toBe(hits.length);
    expect(await page.locator('.timeline').textContent()).toContain(HOSTILE_UA);
    expect(await page.locator('img').count()).toBe(0);
    await page.screenshot({ path: `${ARTIFACTS}incident.png`, fullPage: true });
    await page.getByRole('button', { name: 'Acknowledge' }).click();
    await expect.poll(() => page.locator('#incident-status').textContent()).toBe('acknowledged');

    await page.goto(`${s.adminUrl}/`);
    // This incident, and the intrusion of 127.0.0.9's touches above (a touch from a first-seen machine).
    expect(await page.locator('.card.sev-high .num').textContent()).toBe('2');
    expect(await page.locator('.card.sev-critical .num').textContent()).toBe('1'); // the previous test's intrusion
    expect(await page.locator('tr.hit').count()).toBeGreaterThan(0);
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    expect(dialogs).toEqual([]);
  });

  it('creates an API key, shows it once, and revokes it', async () => {
    await page.goto(`${s.adminUrl}/api-keys`);
    await page.getByLabel('Name').fill('browser key');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = ((await page.locator('#new-key').textContent()) ?? '').trim();
    expect(key).toMatch(/^ht_/);
    const call = () => fetch(`${s.adminUrl}/api/v1/kinds`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status);
    expect(await call()).toBe(200);
    await page.goto(`${s.adminUrl}/api-keys`);
    expect(await page.locator('body').textContent()).not.toContain(key);
    // Revoking asks first (issue 19): the link opens a confirmation page.
    await page.getByRole('link', { name: 'Revoke browser key' }).click();
    await page.getByRole('button', { name: 'Revoke key' }).click();
    await page.waitForURL(/msg=key_revoked/);
    expect(await call()).toBe(401);
  });

  it('disables every listed token with select-all and a bulk action', async () => {
    await page.goto(`${s.adminUrl}/tokens`);
    const rows = await page.locator('tbody input[name="ids"]').count();
    expect(rows).toBeGreaterThan(1);
    await page.getByLabel('Select all rows').check();
    await page.getByLabel('With selected').selectOption('disable');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/msg=bulk_done/);
    expect(await page.locator('.pill-off').count()).toBe(rows);
  });

  it('signs out', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login\?msg=logged_out/);
    await page.goto(`${s.adminUrl}/`);
    await page.waitForURL(/\/login/);
    expect(await page.locator('h1').textContent()).toBe('Sign in');
  });
});
