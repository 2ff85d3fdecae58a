import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../src/drills/run.ts';
import { auth, makeToken, startTestServer, TEST_API_KEY, type TestServer } from '../helpers.ts';
import { getFrom, smtpSink, waitFor, webhookReceiver } from './support.ts';

/**
 * Purple-team drills (issue 20): a scenario replayed against the real listeners reports which
 * decoys fired, which alerts went out and how long each took, and leaves no real incident
 * behind: its intrusion never joins a real one, alerts say [DRILL], its decoys are retired.
 */

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/honeytrail.js');

let s: TestServer;
let sink: Awaited<ReturnType<typeof smtpSink>>;
let hook: Awaited<ReturnType<typeof webhookReceiver>>;
beforeAll(async () => {
  sink = await smtpSink();
  hook = await webhookReceiver();
  s = await startTestServer({
    SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
    ALERT_TO: 'soc@corp.example',
    WEBHOOK_URLS: hook.url,
    WEBHOOK_ALLOW_PRIVATE: '127.0.0.1',
    ALERT_POLL_MS: '50',
  });
});
afterAll(async () => {
  await s?.stop();
  await sink?.close();
  await hook?.close();
});

type RunJson = { id: string; status: string; report: DrillReport };

describe('purple-team drill', () => {
  it('replays "read a share, use a found password elsewhere": both decoys fire, one lateral intrusion, alerts delivered with latencies, nothing real left behind', async () => {
    const res = await request(s.adminUrl).post('/api/v1/drills').set(auth).send({ scenario: 'read-share-use-key-elsewhere' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const body = res.body as RunJson;
    const r = body.report;
    expect(body.status, r.gaps.join('; ')).toBe('passed');
    expect(r.steps.map((x) => [x.decoy.kind, x.outcome])).toEqual([
      ['word', 'fired'],
      ['credentials', 'fired'],
    ]);
    for (const step of r.steps) {
      expect(step.recordedMs).toBeGreaterThanOrEqual(0);
      expect(step.correlatedMs).toBeGreaterThan(0);
      expect(step.correlatedMs).toBeLessThan(10_000);
    }
    // One intrusion, concluded lateral (the password was planted on WS-DRILL01 and used from here), the techniques named.
    expect(r.incidents).toHaveLength(1);
    const [inc] = r.incidents;
    expect(inc?.lateral).toBe(true);
    expect(inc?.techniques).toEqual(expect.arrayContaining(['T1039', 'T1078']));
    // Alerts went out to both channels, each with the time it took.
    expect(r.alertsConfigured).toBe(true);
    const sent = r.alerts.filter((a) => a.status === 'sent');
    expect(sent.map((a) => a.channel).sort()).toEqual(expect.arrayContaining(['email', 'webhook']));
    for (const a of sent) expect(a.sentAfterMs).toBeGreaterThan(0);
    // What reached the team says it is the drill's.
    const mail = await waitFor(() => sink.mails.find((m) => m.mail.subject?.includes(body.id)), 10_000, 'the drill mail');
    expect(mail.mail.subject).toMatch(new RegExp(`^\\[DRILL ${body.id}\\] \\[Honeytrail #${inc?.id}\\]`));
    const posted = await waitFor(() => hook.requests.map((q) => JSON.parse(q.body) as { incident: { id: number; drill: string | null } }).find((p) => p.incident.id === inc?.id), 10_000, 'the drill webhook');
    expect(posted.incident.drill).toBe(body.id);

    // The run is stored and readable; the drill's incident is closed and labelled; its decoys are retired.
    const stored = await request(s.adminUrl).get(`/api/v1/drills/${body.id}`).set(auth);
    expect(stored.status).toBe(200);
    expect((stored.body as RunJson).report.steps).toHaveLength(2);
    const incident = await request(s.adminUrl).get(`/api/v1/incidents/${inc?.id}`).set(auth);
    expect(incident.body.status).toBe('closed');
    expect(incident.body.actorLabel).toContain(`[drill ${body.id}]`);
    const open = await request(s.adminUrl).get('/api/v1/incidents?status=open').set(auth);
    expect(open.body.items).toEqual([]);
    const tokens = await request(s.adminUrl).get('/api/v1/tokens?limit=100').set(auth);
    expect((tokens.body.items as { tags: string[] }[]).filter((t) => t.tags.some((x) => x.startsWith('drill:')))).toEqual([]);

    // A real touch from the same machine afterwards opens a real incident of its own: the drill joined nothing.
    const real = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', name: 'real decoy after the drill', location: '\\\\FS01\\hr' });
    expect(await getFrom(real.url as string)).toBe(200);
    const realIncident = await waitFor(async () => {
      const list = await request(s.adminUrl).get('/api/v1/incidents?status=open').set(auth);
      return (list.body.items as { id: number; actorLabel: string; hitCount: number }[])[0];
    }, 10_000, 'the real incident');
    expect(realIncident.id).not.toBe(inc?.id);
    expect(realIncident.actorLabel).not.toContain('drill');
    expect(realIncident.hitCount).toBe(1);
    const drillAfter = await request(s.adminUrl).get(`/api/v1/incidents/${inc?.id}`).set(auth);
    expect(drillAfter.body.hitCount).toBe(2);
    expect(drillAfter.body.mergedInto ?? null).toBeNull();
  });

  it('runs "share-recon" and "name-lookup" (DNS) from the CLI, prints what fired and alerted, and exits 0', async () => {
    const env = { PATH: process.env.PATH, HONEYTRAIL_SERVER: s.adminUrl, HONEYTRAIL_API_KEY: TEST_API_KEY };
    const out = await run(process.execPath, [BIN, 'drill', '--scenario', 'share-recon', '--wait', '15'], { env, timeout: 60_000 }).catch((e: { code: number; stdout: string; stderr: string }) => {
      throw new Error(`exit ${e.code}\n${e.stdout}\n${e.stderr}`);
    });
    expect(out.stdout).toMatch(/: PASSED/);
    expect(out.stdout).toMatch(/fired\s+T1039\s+Server inventory \(drill\) \(excel\) recorded \d+ ms, correlated \d+ ms, incident #\d+/);
    expect(out.stdout).toMatch(/fired\s+T1039\s+Network diagram \(drill\) \(word\)/);
    expect(out.stdout).toMatch(/sent\s+email\s+soc@corp\.example \(first\) sent \d+ ms after the first step/);
    const dns = await run(process.execPath, [BIN, 'drill', '--scenario', 'name-lookup', '--json'], { env, timeout: 60_000 }).catch((e: { code: number; stdout: string }) => {
      throw new Error(`exit ${e.code}\n${e.stdout}`);
    });
    const viaDns = JSON.parse(dns.stdout) as RunJson;
    expect(viaDns.status, viaDns.report.gaps.join('; ')).toBe('passed');
    expect(viaDns.report.steps[0]?.outcome).toBe('fired');
    const list = await run(process.execPath, [BIN, 'drill', '--list'], { env, timeout: 60_000 });
    expect(list.stdout).toMatch(/^read-share-use-key-elsewhere\t/m);
  }, 120_000);

  it('refuses an unknown scenario and reserves the drill tag for drills', async () => {
    const bad = await request(s.adminUrl).post('/api/v1/drills').set(auth).send({ scenario: 'nope' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/read-share-use-key-elsewhere/);
    const tagged = await request(s.adminUrl).post('/api/v1/tokens').set(auth).send({ kind: 'web-bug', name: 'not a drill', tags: ['drill:abc'] });
    expect(tagged.status).toBe(400);
    expect(JSON.stringify(tagged.body)).toMatch(/reserved for purple-team drills/);
  });
});
