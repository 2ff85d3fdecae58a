import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { listAlerts } from '../../src/db/queries/alerts.ts';
import { makeToken, startTestServer } from '../helpers.ts';
import { getFrom, waitFor } from './support.ts';

/** A webhook endpoint whose behaviour the test scripts: answer with a status, or never answer. */
async function scriptedHook(behave: (n: number, req: IncomingMessage, res: ServerResponse) => void) {
  let n = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    req.resume();
    behave(++n, req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    calls: () => n,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('webhook faults', () => {
  it('an erroring endpoint (HTTP 500) is retried with backoff until it accepts; the alert is sent once it does', async () => {
    const hook = await scriptedHook((n, _req, res) => res.writeHead(n <= 2 ? 500 : 204).end());
    const srv = await startTestServer({ WEBHOOK_URLS: hook.url, WEBHOOK_ALLOW_PRIVATE: '127.0.0.1', ALERT_POLL_MS: '50', ALERT_RETRY_BASE_MS: '100' });
    cleanups.push(() => hook.close(), () => srv.stop());
    const { url } = await makeToken(srv.app.deps.db, srv.config, { kind: 'web-bug' });
    await getFrom(url ?? '', '127.0.0.71');
    const sent = await waitFor(async () => (await listAlerts(srv.app.deps.db, { status: 'sent', limit: 5 }))[0], 20_000, 'the webhook alert to be sent');
    expect(sent.attempts).toBe(3);
    expect(hook.calls()).toBe(3);
  });

  it('a hanging endpoint times out (5 s), is recorded as failed with the reason, and the listeners stay responsive meanwhile', async () => {
    const hook = await scriptedHook(() => {
      /* never answers */
    });
    const srv = await startTestServer({ WEBHOOK_URLS: hook.url, WEBHOOK_ALLOW_PRIVATE: '127.0.0.1', ALERT_POLL_MS: '50', ALERT_RETRY_BASE_MS: '60000' });
    cleanups.push(() => hook.close(), () => srv.stop());
    const { url } = await makeToken(srv.app.deps.db, srv.config, { kind: 'web-bug' });
    await getFrom(url ?? '', '127.0.0.72');
    await waitFor(() => hook.calls() === 1, 5000, 'the webhook call');
    // While the delivery hangs, triggers are still recorded and answered at once.
    const t = performance.now();
    expect(await getFrom(url ?? '', '127.0.0.73')).toBe(200);
    // Not a speed check: a trigger waiting on the hung delivery would take the full 5 s timeout.
    expect(performance.now() - t).toBeLessThan(4000);
    const failed = await waitFor(async () => (await listAlerts(srv.app.deps.db, { status: 'failed', limit: 5 }))[0], 15_000, 'the timed-out attempt to be recorded');
    expect(failed.lastError).toMatch(/time|abort/i);
    expect(failed.attempts).toBe(1);
  });
});
