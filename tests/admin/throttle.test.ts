import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUi } from '../../src/admin/router.ts';
import { createLoginThrottle, type ThrottleOptions } from '../../src/admin/throttle.ts';
import { compileTrust } from '../../src/channels/proxy.ts';
import { startTestServer, type TestServer } from '../helpers.ts';
import { ADMIN, csrfOf, makeAdmin } from './helpers.ts';

/**
 * Sign-in throttling (issue 15): attempts are counted before the password check, so parallel
 * requests cannot pass the limit; limits are per (account, address) plus a per-account slowdown
 * that known-good contexts (a device cookie, an address signed in from before) skip, so failures
 * elsewhere never lock the owner out. Real HTTP on 127.0.0.1; client addresses through a trusted
 * X-Forwarded-For.
 */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
  await makeAdmin(s.app.deps.db);
});
afterAll(() => s.stop());

/** The admin UI alone, behind a trusted proxy, with its own throttle. */
async function adminListener(throttle?: ThrottleOptions): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.set('trust proxy', compileTrust('loopback'));
  app.use(adminUi(s.app.deps, { throttle }));
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A browser at one client address: keeps its cookies. */
class Browser {
  private cookies = new Map<string, string>();
  private csrf = '';
  constructor(
    private readonly base: string,
    readonly ip: string,
  ) {}

  hasCookie(name: string): boolean {
    return this.cookies.has(name);
  }

  /** Take over another browser's cookie (the owner's device cookie, carried or stolen). */
  adopt(name: string, from: Browser): void {
    const value = from.cookies.get(name);
    if (value) this.cookies.set(name, value);
  }

  private keep(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const eq = pair.indexOf('=');
      const value = pair.slice(eq + 1);
      if (value) this.cookies.set(pair.slice(0, eq), value);
      else this.cookies.delete(pair.slice(0, eq));
    }
  }

  private headers(): Record<string, string> {
    return { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '), 'x-forwarded-for': this.ip };
  }

  async open(): Promise<this> {
    const res = await fetch(`${this.base}/login`, { headers: this.headers() });
    this.keep(res);
    this.csrf = csrfOf(await res.text());
    return this;
  }

  /** POST the sign-in form; resolves with the status and Retry-After. */
  async signIn(password: string, email = ADMIN.email): Promise<{ status: number; retryAfter: number }> {
    const res = await fetch(`${this.base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { ...this.headers(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email, password, _csrf: this.csrf }).toString(),
    });
    this.keep(res);
    await res.arrayBuffer();
    return { status: res.status, retryAfter: Number(res.headers.get('retry-after') ?? 0) };
  }
}

const browser = (url: string, ip: string) => new Browser(url, ip).open();
const count = (statuses: number[], status: number) => statuses.filter((x) => x === status).length;

describe('sign-in attempts are counted before the password check', () => {
  it('15 parallel wrong passwords get the 5 tries of the limit; the right one after them is refused too', async () => {
    const l = await adminListener();
    try {
      const b = await browser(l.url, '203.0.113.1');
      const statuses = (await Promise.all(Array.from({ length: 15 }, (_, i) => b.signIn(`wrong-${i}`)))).map((r) => r.status);
      expect(count(statuses, 401)).toBe(5);
      expect(count(statuses, 429)).toBe(10);
      expect((await b.signIn(ADMIN.password)).status).toBe(429);
    } finally {
      await l.close();
    }
  });

  it('a burst with the right password in it runs the password check five times at most', async () => {
    const l = await adminListener();
    try {
      const b = await browser(l.url, '203.0.113.2');
      const burst = (await Promise.all([...Array.from({ length: 9 }, (_, i) => b.signIn(`wrong-${i}`)), b.signIn(ADMIN.password)])).map((r) => r.status);
      expect(count(burst, 401) + count(burst, 303)).toBe(5);
      expect(count(burst, 429)).toBe(5);
    } finally {
      await l.close();
    }
  });
});

describe('lock-out cannot be used as a weapon', () => {
  it('five failures from one address do not lock the owner out from another', async () => {
    const l = await adminListener();
    try {
      const attacker = await browser(l.url, '203.0.113.10');
      for (let i = 0; i < 5; i++) expect((await attacker.signIn(`guess-${i}`)).status).toBe(401);
      expect((await attacker.signIn(ADMIN.password)).status).toBe(429);
      const owner = await browser(l.url, '198.51.100.7');
      expect((await owner.signIn(ADMIN.password)).status).toBe(303);
    } finally {
      await l.close();
    }
  });

  it('guessing from many addresses slows unknown contexts down (never for good) while known-good ones sign in at once', async () => {
    // The throttle's clock moves only when the test says: a loaded machine hashing passwords must not outlast the slowdown.
    let clock = Date.now();
    const l = await adminListener({ slowdownAfter: 5, slowdownMaxMs: 60_000, now: () => clock });
    try {
      // The owner signed in before from the office: a known address, and a device cookie in that browser.
      const owner = await browser(l.url, '192.0.2.10');
      expect((await owner.signIn(ADMIN.password)).status).toBe(303);
      expect(owner.hasCookie('ht_device')).toBe(true);

      for (let i = 0; i < 5; i++) expect((await (await browser(l.url, `203.0.113.${20 + i}`)).signIn(`guess-${i}`)).status).toBe(401);
      const slowed = await (await browser(l.url, '203.0.113.40')).signIn('guess-x');
      expect(slowed.status).toBe(429);
      expect(slowed.retryAfter).toBeGreaterThanOrEqual(1);
      expect(slowed.retryAfter).toBeLessThanOrEqual(2);

      // Known-good: the device cookie from a new address, and the known address in a new browser.
      const travelling = await browser(l.url, '203.0.113.99');
      travelling.adopt('ht_device', owner);
      expect((await travelling.signIn(ADMIN.password)).status).toBe(303);
      expect((await (await browser(l.url, '192.0.2.10')).signIn(ADMIN.password)).status).toBe(303);

      // An unknown context is only slowed: after the wait it may try again, and the right password works.
      const stranger = await browser(l.url, '198.51.100.50');
      const first = await stranger.signIn(ADMIN.password);
      expect(first.status).toBe(429);
      clock += first.retryAfter * 1000 + 100;
      expect((await stranger.signIn(ADMIN.password)).status).toBe(303);
    } finally {
      await l.close();
    }
  });

  it('a device cookie has a failure limit of its own, then counts as unknown', async () => {
    // The throttle's clock stands still: the account's 1 s slowdown cannot run out while a loaded machine hashes the thief's tries.
    const stopped = Date.now();
    const l = await adminListener({ slowdownAfter: 5, slowdownMaxMs: 60_000, now: () => stopped });
    try {
      const owner = await browser(l.url, '192.0.2.77');
      expect((await owner.signIn(ADMIN.password)).status).toBe(303);
      for (let i = 0; i < 5; i++) expect((await (await browser(l.url, `203.0.113.${60 + i}`)).signIn(`guess-${i}`)).status).toBe(401);
      const thief = await browser(l.url, '203.0.113.70');
      thief.adopt('ht_device', owner);
      for (let i = 0; i < 5; i++) expect((await thief.signIn(`stolen-${i}`)).status).toBe(401);
      expect((await thief.signIn(ADMIN.password)).status).toBe(429);
    } finally {
      await l.close();
    }
  });
});

describe('throttle counts', () => {
  it('the account slowdown doubles per failure up to its cap and ends with the window', () => {
    let t = 1_000_000;
    const th = createLoginThrottle({ slowdownAfter: 2, slowdownMaxMs: 8_000, windowMs: 60_000, now: () => t });
    const from = (i: number) => ({ account: 'a@corp.example', address: `10.0.0.${i}` });
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const g = th.begin(from(i));
      if (g.ok) {
        waits.push(0);
        continue;
      }
      waits.push(g.retryAfter);
      t += g.retryAfter * 1000;
      expect(th.begin(from(i)).ok).toBe(true);
    }
    expect(waits).toEqual([0, 0, 1, 2, 4, 8, 8, 8]);
    t += 60_001;
    expect(th.begin(from(99)).ok).toBe(true);
  });

  it('a success takes its count back; a known address skips the slowdown but not its pair limit', () => {
    let t = 0;
    const th = createLoginThrottle({ perAccountAddress: 2, slowdownAfter: 1, now: () => t });
    const ctx = { account: 'b@corp.example', address: '10.1.1.1' };
    for (let i = 0; i < 5; i++) {
      const g = th.begin(ctx);
      expect(g.ok).toBe(true);
      if (g.ok) g.attempt.succeeded();
      t += 10;
    }
    expect(th.begin(ctx).ok).toBe(true);
    expect(th.begin({ ...ctx, address: '10.1.1.2' }).ok).toBe(false);
    expect(th.begin({ ...ctx, address: '10.1.1.2', knownAddress: true }).ok).toBe(true);
    expect(th.begin({ ...ctx, address: '10.1.1.2', knownAddress: true }).ok).toBe(true);
    expect(th.begin({ ...ctx, address: '10.1.1.2', knownAddress: true }).ok).toBe(false);
  });
});
