import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { hashPassword } from '../../src/admin/passwords.ts';
import { insertAsset } from '../../src/db/queries/assets.ts';
import { insertExpectedRule } from '../../src/db/queries/expected.ts';
import { insertUserWithRole } from '../../src/db/queries/users.ts';
import { makeIncident } from '../factories.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';
import type { RouteIds } from './routes.ts';
import { launchChromium } from '../chromium.ts';

/**
 * The console suites' world (tests/admin/console*.test.ts): a server with an admin, a responder
 * and a viewer, one of each routed object, and Chromium. Each suite file gets its own, so the
 * files run side by side.
 */
export const PASSWORD = 'console test password 77';
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

export interface ConsoleWorld {
  s: TestServer;
  browser: Browser;
  ids: RouteIds;
}

/** Registers the hooks that build and tear down the world; its fields are there from the first test on. */
export function useConsoleWorld(): ConsoleWorld {
  const world = {} as ConsoleWorld;
  beforeAll(async () => {
    const s = await startTestServer();
    const db = s.app.deps.db;
    for (const role of ['admin', 'responder', 'viewer'] as const) await insertUserWithRole(db, `${role}@corp.example`, await hashPassword(PASSWORD), role);
    const spare = await insertUserWithRole(db, 'spare@corp.example', await hashPassword(PASSWORD), 'viewer');
    world.s = s;
    world.ids = {
      token: (await makeToken(db, s.config, { kind: 'web-bug', name: 'route token' })).token.id,
      incident: (await makeIncident(db)).id,
      asset: (await insertAsset(db, { label: 'WS-ROUTE', cidr: '10.9.9.9' })).id,
      rule: (await insertExpectedRule(db, { name: 'Nightly backup of FS01', enabled: true, sources: ['10.1.5.20'], hosts: [], users: [], decoys: ['\\\\FS01\\*'], schedule: 'daily 01:00-04:00 Europe/Berlin', evidence: ['touch'], tag: 'backup' })).id,
      user: spare.id,
      key: (await (await import('../../src/db/queries/api-keys.ts')).createApiKey(db, 'route key', 'test')).row.id,
    };
    world.browser = await launchChromium();
  });
  afterAll(async () => {
    await world.browser?.close();
    await world.s?.stop();
  });
  return world;
}

/** A signed-in page in its own context (axe is injected, so the context bypasses the CSP; the headers themselves are tested in auth.test.ts). */
export async function signedIn(world: ConsoleWorld, email: string, viewport = { width: 1366, height: 900 }): Promise<{ page: Page; context: BrowserContext }> {
  const context = await world.browser.newContext({ viewport, bypassCSP: true, timezoneId: 'Europe/Berlin' });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  await page.goto(`${world.s.adminUrl}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
  return { page, context };
}

/** axe-core's violations on the current page state (WCAG 2.0-2.2 A and AA rules). */
export async function axe(page: Page): Promise<string[]> {
  if (!(await page.evaluate("'axe' in window"))) await page.addScriptTag({ path: AXE });
  const result = (await page.evaluate("axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })")) as { violations: { id: string; nodes: { target: string[] }[] }[] };
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
