import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderEmail } from '../../src/alerts/email.ts';
import { createAlertPipeline } from '../../src/alerts/pipeline.ts';
import { buildAlertView } from '../../src/alerts/view.ts';
import type { Db } from '../../src/db/client.ts';
import { listAlerts } from '../../src/db/queries/alerts.ts';
import { createHitRecorder, type HitEvent } from '../../src/hits/record-hit.ts';
import type { Token } from '../../src/tokens/kind.ts';
import { makeToken, silentLog, testConfig, testDb } from '../helpers.ts';

let t: ReturnType<typeof testDb>;
let db: Db;
beforeEach(() => {
  t = testDb();
  db = t.db;
});
afterEach(() => t.cleanup());

describe('alert view of a long trail', () => {
  it('lists every new hit, samples the trail, and still names every planted host and used credential', async () => {
    const config = testConfig(t.dir, { ALERT_WORKER_ENABLED: 'false', ALERT_TO: 'soc@corp.example', ADMIN_URL: 'https://ht.corp.example' });
    const p = createAlertPipeline({ db, config, log: silentLog });
    const r = createHitRecorder({ db, log: silentLog, correlator: p.correlator, classify: p.classify });
    const mk = async (kind: string, name: string, plantedHost: string, location: string) => (await makeToken(db, config, { kind, name, location, plantedHost })).token as Token;
    const a = await mk('web-bug', 'A', 'H1', '\\\\H1\\share');
    // B, an API key on H2's own disk: used from 10.4.4.4, it is a hop H2 → 10.4.4.4.
    const b = await mk('api-key', 'B', 'H2', 'C:\\svc\\sql.env');
    const hit = (token: Token, extra: Partial<HitEvent> = {}) => r.record({ token, channel: 'http', sourceIp: '10.4.4.4', method: 'GET', path: '/x', ...extra });
    for (let i = 0; i < 60; i++) await hit(a);
    await hit(b, { facts: { credential: 'svc_sql' } });
    for (let i = 0; i < 60; i++) await hit(a);
    const rows = await listAlerts(db, { limit: 5 });
    expect(rows).toHaveLength(1);
    const row = rows[0] ?? expect.fail('no alert row');
    expect(row.payload).toMatchObject({ hitCount: 121 });
    const view = await buildAlertView(db, config, row) ?? expect.fail('no view');
    expect(view.newHits).toHaveLength(121);
    expect(view.trail).toHaveLength(50);
    expect(view.trailMore).toBe(71);
    expect(view.severity).toBe('critical');
    const steps = view.nextSteps.join('\n');
    expect(steps).toContain('Check logon events on H2');
    expect(steps).toContain('Decoy credential svc_sql was used (planted on H2)');
    const mail = renderEmail(view);
    expect(mail.text).toContain('71 more event(s) in the middle of the trail are on the incident page.');
    expect(mail.subject).toBe(`[Honeytrail #${row.incidentId}] [CRITICAL] Lateral movement: H2 → 10.4.4.4 (credential planted on H2 ("B") used from 10.4.4.4)`);
    expect(view.path.text).toBe('H2 → 10.4.4.4');
    expect(mail.text).toContain('PATH BETWEEN MACHINES\n  H2 → 10.4.4.4');
  });
});
