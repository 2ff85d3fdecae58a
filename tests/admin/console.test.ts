import type { Page } from 'playwright-core';
import { Secret, TOTP } from 'otpauth';
import { beforeAll, describe, expect, it } from 'vitest';
import { POLICY, ROLE_PERMISSIONS } from '../../src/access.ts';
import { listApiKeys } from '../../src/db/queries/api-keys.ts';
import { insertAsset, listAssets } from '../../src/db/queries/assets.ts';
import { listAudit } from '../../src/db/queries/audit.ts';
import { listTokens } from '../../src/db/queries/tokens.ts';
import { getUser, listUsers } from '../../src/db/queries/users.ts';
import { makeToken, type TestServer } from '../helpers.ts';
import { axe, PASSWORD, signedIn as signedInAs, useConsoleWorld } from './console-world.ts';
import { concrete, UI_KEYS, type RouteIds } from './routes.ts';

/**
 * The console a security team expects (issue 19), in Chromium: role denials on every route,
 * TOTP enrolment and sign-in with a code computed here, search by every key, reloads after
 * POSTs creating nothing, confirmation pages, focus on the error summary after a failed submit.
 * Every page at phone width with axe-core, and contrast: tests/admin/console-pages.test.ts.
 */

const world = useConsoleWorld();
let s: TestServer;
let ids: RouteIds;
const db = () => s.app.deps.db;
beforeAll(() => {
  ({ s, ids } = world);
});
const signedIn = (email: string, viewport?: { width: number; height: number }) => signedInAs(world, email, viewport);

const csrfOf = (page: Page) => page.locator('input[name="_csrf"]').first().inputValue();

describe('roles in the browser', () => {
  it.each(['viewer', 'responder'] as const)('a %s is refused every route its role lacks, and is not offered it', async (role) => {
    const { page, context } = await signedIn(`${role}@corp.example`);
    const allowed = new Set<string>(ROLE_PERMISSIONS[role]);
    const csrf = await csrfOf(page);
    for (const key of UI_KEYS) {
      const permission = POLICY[key as keyof typeof POLICY];
      if (permission === 'public' || allowed.has(permission)) continue;
      const { method, path } = concrete(key, ids);
      const status =
        method === 'GET'
          ? ((await page.goto(`${s.adminUrl}${path}`))?.status() ?? 0)
          : await page.evaluate(async ({ p, c }) => (await fetch(p, { method: 'POST', body: new URLSearchParams({ _csrf: c }), redirect: 'manual' })).status, { p: path, c: csrf });
      expect(status, `${role} ${key}`).toBe(403);
    }
    await page.goto(`${s.adminUrl}/`);
    const nav = (await page.locator('nav[aria-label="Main"]').textContent()) ?? '';
    for (const hidden of ['Settings', 'People', 'API keys', 'Audit log']) expect(nav).not.toContain(hidden);
    expect(await page.getByRole('link', { name: 'New token' }).count()).toBe(role === 'viewer' ? 0 : 1);
    await context.close();
  });
});

describe('multi-factor sign-in', () => {
  it('enrols an authenticator from the QR page, then signs in with a code computed here; a replayed code is refused; a recovery code works once', async () => {
    const { page, context } = await signedIn('responder@corp.example');
    await page.goto(`${s.adminUrl}/account`);
    await page.getByRole('link', { name: 'Set up an authenticator app' }).click();
    expect(await page.locator('.qr svg').count()).toBe(1);
    expect(await axe(page)).toEqual([]);
    const secret = ((await page.locator('#totp-secret').textContent()) ?? '').replace(/\s+/g, '');
    const totp = new TOTP({ secret: Secret.fromBase32(secret) });
    await page.getByLabel('Code from the app').fill('000000');
    await page.getByRole('button', { name: 'Turn on' }).click();
    expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('error-summary');
    const code = totp.generate();
    await page.getByLabel('Code from the app').fill(code);
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.waitForURL(/\/account\/recovery-codes/);
    const codes = await page.locator('#recovery-codes code').allTextContents();
    expect(codes).toHaveLength(10);
    expect(await axe(page)).toEqual([]);
    await page.reload();
    expect(await page.locator('#recovery-codes').count()).toBe(0); // shown once

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Email').fill('responder@corp.example');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/login\/mfa/);
    expect(await axe(page)).toEqual([]);
    // The password alone opens nothing.
    await page.goto(`${s.adminUrl}/tokens`);
    await page.waitForURL(/\/login\/mfa/);
    await page.getByLabel('Code').fill(code); // the enrolment code: used already
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.locator('#code-err').textContent()).toContain('not right');
    expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('error-summary');
    // The next time step's code, as the app would show it 30 s later.
    await page.getByLabel('Code').fill(totp.generate({ timestamp: Date.now() + 30_000 }));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${s.adminUrl}/`);
    expect(await page.locator('h1').textContent()).toBe('Dashboard');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Email').fill('responder@corp.example');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Code').fill(codes[0] ?? '');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/account\?msg=recovery_used/);
    expect((await getUser(db(), (await listUsers(db())).find((u) => u.email === 'responder@corp.example')?.id ?? ''))?.recoveryCodes).toHaveLength(9);
    await context.close();
  });
});

describe('search', () => {
  it('finds a decoy from the header box by name, place, host, id, AWS key id, API key, service account, portal user, mailbox and address', async () => {
    const aws = (await makeToken(db(), s.config, { kind: 'aws-keys', name: 'aws decoy', location: '\\\\fs05\\devops\\keys', plantedHost: 'BUILD-07' })).token;
    const api = (await makeToken(db(), s.config, { kind: 'api-key', name: 'api decoy' })).token;
    const kube = (await makeToken(db(), s.config, { kind: 'kubeconfig', name: 'kube decoy', params: { namespace: 'deploy', serviceAccount: 'argo-sync' } })).token;
    const cred = (await makeToken(db(), s.config, { kind: 'credentials', name: 'portal decoy', params: { username: 'rbrennan' } })).token;
    const mail = (await makeToken(db(), s.config, { kind: 'email', name: 'mail decoy', params: { localPart: 'j.hartmann.payroll' } })).token;
    const cases: [string, string][] = [
      ['aws decoy', aws.id],
      ['fs05\\devops', aws.id],
      ['build-07', aws.id],
      [aws.id, aws.id],
      [String(aws.params.accessKeyId), aws.id],
      [String(api.params.key), api.id],
      ['system:serviceaccount:deploy:argo-sync', kube.id],
      ['rbrennan', cred.id],
      ['j.hartmann.payroll', mail.id],
      [`j.hartmann.payroll@${s.config.MAIL_DOMAIN}`, mail.id],
    ];
    const { page, context } = await signedIn('viewer@corp.example');
    for (const [q, id] of cases) {
      await page.getByLabel('Find a token').fill(q);
      await page.getByRole('button', { name: 'Find' }).click();
      await page.waitForURL(/\/tokens\?q=/);
      expect(await page.locator(`a[href="/tokens/${id}"]`).count(), q).toBe(1);
    }
    expect(await axe(page)).toEqual([]);
    await context.close();
  });
});

describe('forms', () => {
  it('shows generated values as generated, takes a chosen one strictly, and never replaces it', async () => {
    const { page, context } = await signedIn('admin@corp.example');
    await page.goto(`${s.adminUrl}/tokens/new?kind=aws-keys`);
    const order = await page.locator('form.stack label').allTextContents();
    expect(order.slice(0, 3).map((l) => l.replace(/\s*\*$/, '').trim())).toEqual(['Name (memo)', 'Where it is planted', 'Planted on host']);
    expect(await page.locator('#f-params-accessKeyId').isVisible()).toBe(false);
    expect(await page.locator('#f-params-accessKeyId-generated').textContent()).toContain('Generated');
    await page.getByLabel('Name (memo)').fill('chosen key');
    await page.getByLabel('Planted on host').fill('bad host!!');
    await page.locator('#f-params-accessKeyId-own').check();
    await page.locator('#f-params-accessKeyId').fill('NOTAKEY');
    await page.getByRole('button', { name: 'Create token' }).click();
    expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('error-summary');
    expect(await page.locator('#f-params-accessKeyId-err').textContent()).toContain('must be an AWS access key id');
    expect(await page.locator('#f-plantedHost-err').textContent()).toContain('must be a host name');
    expect(await axe(page)).toEqual([]);
    await page.getByLabel('Planted on host').fill('WS-ACCT-07');
    await page.locator('#f-params-accessKeyId').fill('AKIAIOSFODNN7EXAMPL2');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.waitForURL(/\/created$/);
    const id = /\/tokens\/([0-9a-z]{24})\//.exec(page.url())?.[1] ?? '';
    expect((await listTokens(db(), { q: id, limit: 5, offset: 0 })).items[0]?.params.accessKeyId).toBe('AKIAIOSFODNN7EXAMPL2');
    // Copy buttons, added by the script next to each value to plant.
    expect(await page.locator('.copy-button').count()).toBeGreaterThan(0);
    await context.close();
  });

  it('a reload after every POST creates nothing', async () => {
    const { page, context } = await signedIn('admin@corp.example');
    const counts = async () => ({
      tokens: (await listTokens(db(), { limit: 1, offset: 0 })).total,
      keys: (await listApiKeys(db())).length,
      assets: (await listAssets(db())).total,
      users: (await listUsers(db())).length,
      audit: (await listAudit(db(), 10_000, 0)).length,
    });
    const submitThenReload = async (fill: () => Promise<void>, button: string) => {
      await fill();
      await page.getByRole('button', { name: button, exact: true }).click();
      await page.waitForLoadState('load');
      const before = await counts();
      await page.reload();
      expect(await counts(), `${button} then reload`).toEqual(before);
    };
    await page.goto(`${s.adminUrl}/tokens/new?kind=web-bug`);
    await submitThenReload(() => page.getByLabel('Name (memo)').fill('reload token'), 'Create token');
    await page.goto(`${s.adminUrl}/api-keys`);
    await submitThenReload(() => page.getByLabel('Name').fill('reload key'), 'Create key');
    expect(await page.locator('#shown-already').count()).toBe(1);
    await page.goto(`${s.adminUrl}/assets`);
    await submitThenReload(async () => {
      await page.getByLabel('Label').fill('WS-RELOAD');
      await page.getByLabel('Address or CIDR').fill('10.1.2.3');
    }, 'Add asset');
    await page.goto(`${s.adminUrl}/admins`);
    await submitThenReload(async () => {
      await page.getByLabel('Email').fill('reload@corp.example');
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByLabel('Repeat password').fill(PASSWORD);
    }, 'Add person');
    await page.goto(`${s.adminUrl}/settings`);
    await submitThenReload(() => page.getByLabel('Send a test alert to').fill('soc@corp.example'), 'Send test email');
    await page.goto(`${s.adminUrl}/incidents/${ids.incident}`);
    await submitThenReload(async () => {}, 'Acknowledge');
    await page.goto(`${s.adminUrl}/tokens/${ids.token}`);
    await submitThenReload(async () => {}, 'Save settings');
    await context.close();
  });

  it('asks before every destructive action: revoke a key, remove an account, delete a map entry, bulk delete', async () => {
    await insertAsset(db(), { label: 'WS-DELETE', cidr: '10.9.9.10' });
    const { page, context } = await signedIn('admin@corp.example');
    const before = { keys: (await listApiKeys(db())).filter((k) => !k.revokedAt).length, users: (await listUsers(db())).length, assets: (await listAssets(db())).total };
    await page.goto(`${s.adminUrl}/api-keys`);
    await page.getByRole('link', { name: 'Revoke route key' }).click();
    expect(await page.locator('h1').textContent()).toContain('Revoke the API key');
    expect(await axe(page)).toEqual([]);
    await page.goto(`${s.adminUrl}/admins`);
    await page.getByRole('link', { name: 'Remove spare@corp.example' }).click();
    expect(await page.locator('h1').textContent()).toBe('Remove spare@corp.example?');
    await page.goto(`${s.adminUrl}/assets`);
    await page.getByRole('link', { name: 'Delete WS-DELETE' }).click();
    expect(await page.locator('h1').textContent()).toContain('Delete "WS-DELETE"');
    expect({ keys: (await listApiKeys(db())).filter((k) => !k.revokedAt).length, users: (await listUsers(db())).length, assets: (await listAssets(db())).total }).toEqual(before);
    await page.getByRole('button', { name: 'Delete entry' }).click();
    await page.waitForURL(/msg=deleted/);
    expect((await listAssets(db())).total).toBe(before.assets - 1);
    await page.goto(`${s.adminUrl}/tokens`);
    await page.getByRole('button', { name: 'Apply' }).click();
    expect(await page.locator('.flash').textContent()).toBe('Select at least one token first.');
    await page.locator('tbody input[name="ids"]').first().check();
    await page.getByLabel('With selected').selectOption('delete');
    await page.getByRole('button', { name: 'Apply' }).click();
    expect(await page.locator('h1').textContent()).toBe('Delete 1 token?');
    await context.close();
  });
});
