import { afterEach, describe, expect, it } from 'vitest';
import { claimDue, finishAlert, listAlerts } from '../../src/db/queries/alerts.ts';
import { backoffMs, createAlertWorker } from '../../src/alerts/worker.ts';
import { createLogger } from '../../src/logger.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { getFrom, smtpSink, waitFor } from './support.ts';

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
const db = (s: TestServer) => s.app.deps.db;

describe('outbox: digests, retries, dead letters, claims', () => {
  it('the first hit alerts at once; later hits within ALERT_DIGEST_SECONDS fold into one digest listing every one', async () => {
    const sink = await smtpSink();
    const srv = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${sink.port}`, ALERT_TO: 'soc@corp.example', ALERT_POLL_MS: '50', ALERT_DIGEST_SECONDS: '2' });
    cleanups.push(() => sink.close(), () => srv.stop());
    const a = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'decoy A', location: 'share A' });
    const b = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'decoy B', location: 'share A' });
    const t0 = Date.now();
    await getFrom(a.url ?? '', '127.0.0.5');
    await waitFor(() => sink.mails.length >= 1, 10_000, 'first mail');
    for (const u of [a.url, b.url, a.url, b.url]) await getFrom(u ?? '', '127.0.0.5');
    await waitFor(() => sink.mails.length >= 2, 10_000, 'digest');
    expect((sink.mails[1]?.acceptedAt ?? 0) - t0).toBeGreaterThanOrEqual(2000); // held for the digest window
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.mails).toHaveLength(2);
    const digest = sink.mails[1]?.mail ?? expect.fail('no digest');
    const first = sink.mails[0]?.mail ?? expect.fail('no first mail');
    expect(digest.subject).toMatch(/^\[Honeytrail #\d+\] \[HIGH\] Update \(\+4\): /);
    // One intrusion, one thread: the digest answers the first mail and keeps its subject prefix.
    expect(digest.inReplyTo).toBe(first.messageId);
    expect(digest.references).toEqual(first.messageId);
    expect(digest.subject?.slice(0, 16)).toBe(first.subject?.slice(0, 16));
    expect(first.inReplyTo).toBeUndefined();
    const text = digest.text ?? '';
    const section = text.slice(text.indexOf('NEW SINCE THE LAST MESSAGE'), text.indexOf('TRAIL ('));
    expect(section).toContain('NEW SINCE THE LAST MESSAGE (4 event(s))');
    expect(section.match(/decoy A/g)).toHaveLength(2);
    expect(section.match(/decoy B/g)).toHaveLength(2);
    const rows = await listAlerts(db(srv), { limit: 10 });
    expect(rows.map((r) => [r.kind, r.status])).toEqual([
      ['digest', 'sent'],
      ['first', 'sent'],
    ]);
  });

  it('gives up after ALERT_DEAD_AFTER: status dead, listed by the API', async () => {
    // Port 1 (tcpmux) has no listener on any machine this runs on. A port from freePort() is
    // released again and another test's mail sink, started in parallel, can be handed it.
    const srv = await startTestServer({ SMTP_URL: 'smtp://127.0.0.1:1', ALERT_TO: 'soc@corp.example', ALERT_POLL_MS: '50', ALERT_RETRY_BASE_MS: '50', ALERT_DEAD_AFTER: '400ms' });
    cleanups.push(() => srv.stop());
    const { url } = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'dead letter' });
    await getFrom(url ?? '');
    const dead = await waitFor(async () => (await listAlerts(db(srv), { status: 'dead', limit: 5 }))[0], 10_000, 'dead alert');
    expect(dead.attempts).toBeGreaterThanOrEqual(2);
    expect(dead.lastError).toMatch(/ECONNREFUSED|connect/i);
    const res = await fetch(`${srv.adminUrl}/api/v1/alerts?status=dead`, { headers: { Authorization: `Bearer ${srv.config.HONEYTRAIL_API_KEY}` } });
    const body = (await res.json()) as { items: { id: number; status: string; lastResult: { ok: boolean } }[] };
    expect(body.items).toHaveLength(1);
    expect(body.items[0]).toMatchObject({ id: dead.id, status: 'dead', lastResult: { ok: false } });
    const bad = await fetch(`${srv.adminUrl}/api/v1/alerts?status=lost`, { headers: { Authorization: `Bearer ${srv.config.HONEYTRAIL_API_KEY}` } });
    expect(bad.status).toBe(400);
  });

  it('logs each failed attempt at warn with its retry time, and a dead alert at error', async () => {
    const srv = await startTestServer({ SMTP_URL: 'smtp://127.0.0.1:1', ALERT_TO: 'soc@corp.example', ALERT_WORKER_ENABLED: 'false', ALERT_RETRY_BASE_MS: '10', ALERT_DEAD_AFTER: '300ms' });
    cleanups.push(() => srv.stop());
    const lines: { level: number; msg: string; alertId?: number; retryAt?: string; error?: string }[] = [];
    const log = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
    const worker = createAlertWorker({ db: db(srv), config: srv.config, log });
    const { url } = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'logged dead letter' });
    await getFrom(url ?? '');
    const [row] = await waitFor(async () => (await listAlerts(db(srv), { limit: 5 })).filter((a) => a.status === 'pending'), 5000, 'queued alert');
    expect(await worker.runOnce()).toBeGreaterThanOrEqual(1);
    const retry = lines.find((l) => l.msg === 'alert delivery failed; will retry');
    expect(retry).toMatchObject({ level: 40, alertId: row?.id });
    expect(Date.parse(retry?.retryAt ?? '')).toBeGreaterThan(Date.now() - 1000);
    await new Promise((r) => setTimeout(r, 350));
    await waitFor(async () => (await worker.runOnce(), (await listAlerts(db(srv), { status: 'dead', limit: 5 })).length), 5000, 'dead alert');
    const dead = lines.find((l) => l.msg === 'alert gave up (dead): it was never delivered');
    expect(dead).toMatchObject({ level: 50, alertId: row?.id });
    expect(dead?.error).toMatch(/ECONNREFUSED|connect/i);
    await worker.stop();
  });

  it('claims are compare-and-swap: a row goes to one worker; only the claimant can finish it; an expired lease is reclaimed', async () => {
    // SQLite's claim (compare-and-swap UPDATE); PostgreSQL's SKIP LOCKED claim: tests/hits/pg-concurrency.test.ts.
    const srv = await startTestServer({ ALERT_TO: 'soc@corp.example', ALERT_WORKER_ENABLED: 'false' }, undefined, { sqlite: true });
    cleanups.push(() => srv.stop());
    const { url } = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'claims' });
    await getFrom(url ?? '');
    const now = Date.now();
    const one = claimDue(db(srv), 'w1', now, 1000, 10);
    const two = claimDue(db(srv), 'w2', now, 1000, 10);
    expect(one).toHaveLength(1);
    expect(two).toHaveLength(0);
    const row = one[0] ?? expect.fail('no row');
    expect(await finishAlert(db(srv), row.id, 'w2', { status: 'sent' })).toBe(false);
    // w1 dies; after the lease w2 may take it over, and w1 can no longer finish it.
    const taken = claimDue(db(srv), 'w2', now + 2000, 1000, 10);
    expect(taken.map((r) => [r.id, r.attempts])).toEqual([[row.id, 2]]);
    expect(await finishAlert(db(srv), row.id, 'w1', { status: 'sent' })).toBe(false);
    expect(await finishAlert(db(srv), row.id, 'w2', { status: 'sent', sentAt: Date.now() })).toBe(true);
    expect(await listAlerts(db(srv), { status: 'sent', limit: 5 })).toHaveLength(1);
  });

  it('backoff doubles per attempt with jitter in [0.5, 1.5) and caps at an hour', () => {
    expect(backoffMs(1, 1000, () => 0.5)).toBe(1000);
    expect(backoffMs(3, 1000, () => 0.5)).toBe(4000);
    expect(backoffMs(3, 1000, () => 0)).toBe(2000);
    expect(backoffMs(3, 1000, () => 0.999)).toBe(5996);
    expect(backoffMs(40, 1000, () => 0.5)).toBe(3_600_000);
  });
});

describe('escalation and the standalone worker', () => {
  it('a rise in severity sends the waiting digest at once instead of after ALERT_DIGEST_SECONDS', async () => {
    const sink = await smtpSink();
    const srv = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${sink.port}`, ALERT_TO: 'soc@corp.example', ALERT_POLL_MS: '50', ALERT_DIGEST_SECONDS: '3600' });
    cleanups.push(() => sink.close(), () => srv.stop());
    const a = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'A', plantedHost: 'H1' });
    // B lives on H2's own disk: touched from 127.0.0.6, it shows the intrusion reached H2's files (a hop).
    const b = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'B', plantedHost: 'H2', location: 'C:\\Users\\hr\\notes.url' });
    await getFrom(a.url ?? '', '127.0.0.6');
    await waitFor(() => sink.mails.length >= 1, 10_000, 'first mail');
    await getFrom(a.url ?? '', '127.0.0.6'); // same severity: waits for the hourly digest
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.mails).toHaveLength(1);
    await getFrom(b.url ?? '', '127.0.0.6'); // a hop: critical, goes out now with both hits
    const m = await waitFor(() => sink.mails[1], 10_000, 'escalated digest');
    expect(m.mail.subject).toMatch(/^\[Honeytrail #\d+\] \[CRITICAL\] Update \(\+2\): Lateral movement: H2 → 127\.0\.0\.6/);
  });
});
