import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAlertPipeline } from '../../src/alerts/pipeline.ts';
import type { Db } from '../../src/db/client.ts';
import { insertAsset } from '../../src/db/queries/assets.ts';
import { listAlerts } from '../../src/db/queries/alerts.ts';
import { getIncident, listIncidents, setIncidentStatus } from '../../src/db/queries/incidents.ts';
import type { HitRow } from '../../src/db/schema.ts';
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

function recorder(env: Record<string, string> = {}) {
  const config = testConfig(t.dir, { ALERT_WORKER_ENABLED: 'false', ALERT_TO: 'soc@corp.example', ...env });
  const p = createAlertPipeline({ db, config, log: silentLog });
  const r = createHitRecorder({ db, log: silentLog, correlator: p.correlator, classify: p.classify });
  return { config, hit: (e: Omit<HitEvent, 'token'> & { token: unknown }): Promise<HitRow> => r.record(e as HitEvent) };
}

async function token(name: string, extra: Record<string, unknown> = {}): Promise<Token> {
  const { token } = await makeToken(db, testConfig(t.dir), { kind: 'web-bug', name, ...extra });
  return token as Token;
}

const incidentOf = async (h: HitRow) => (await getIncident(db, h.incidentId ?? -1)) ?? expect.fail('hit has no incident');

describe('trail: actors, incidents, lateral movement, severity', () => {
  it('keys decoded identities by their computer (labelled DOMAIN\\user@COMPUTER) and DNS sources as resolvers, never as the actor address', async () => {
    const { hit } = recorder();
    const tok = await token('folder');
    const a = await hit({ token: tok, channel: 'dns', sourceIp: '10.0.0.53', qname: 'x.example', facts: { actor: { user: 'alice', host: 'WS-ACCT-07', domain: 'CORP' } } });
    expect(await incidentOf(a)).toMatchObject({ actorKey: 'host:ws-acct-07', actorLabel: 'CORP\\alice@WS-ACCT-07', severity: 'medium' });
    const dns = await hit({ token: tok, channel: 'dns', sourceIp: '10.0.0.53', qname: 'y.example' });
    const web = await hit({ token: tok, channel: 'http', sourceIp: '10.0.0.53' });
    expect(await incidentOf(dns)).toMatchObject({ actorKey: 'resolver:10.0.0.53', actorLabel: 'DNS resolver 10.0.0.53' });
    expect((await incidentOf(web)).actorKey).toBe('ip:10.0.0.53');
    expect(new Set([a.incidentId, dns.incidentId, web.incidentId]).size).toBe(3);
  });

  it('joins what a machine revealed through a token and what its address touched into one trail', async () => {
    const { hit } = recorder();
    await insertAsset(db, { cidr: '10.20.9.17', hostname: 'ws-hr-03.corp.example', label: 'WS-HR-03', segment: 'HR VLAN' });
    const folder = await token('HR folder', { location: '\\\\fs02\\hr', plantedHost: 'FS02' });
    const bookmark = await token('Payroll bookmark', { location: 'Edge favourites', plantedHost: 'WS-HR-03' });
    const seen = await hit({ token: folder, channel: 'dns', sourceIp: '10.0.0.53', qname: 'q.example', facts: { actor: { user: 'bob', host: 'WS-HR-03', domain: 'CORP' } } });
    const fetched = await hit({ token: bookmark, channel: 'http', sourceIp: '10.20.9.17' });
    expect(fetched.incidentId).toBe(seen.incidentId);
    expect(await incidentOf(fetched)).toMatchObject({ actorKey: 'host:ws-hr-03', tokenCount: 2, hostCount: 2, lateral: true });
  });

  it('maps source addresses through the asset map to a host actor', async () => {
    const { hit } = recorder();
    await insertAsset(db, { cidr: '10.20.4.0/24', label: 'Finance clients', segment: 'Finance VLAN' });
    await insertAsset(db, { cidr: '10.20.4.17', hostname: 'WS-ACCT-07', label: 'WS-ACCT-07', segment: 'Finance VLAN' });
    const tok = await token('bookmark');
    const h = await hit({ token: tok, channel: 'http', sourceIp: '10.20.4.17' });
    expect(await incidentOf(h)).toMatchObject({ actorKey: 'host:ws-acct-07', actorLabel: '10.20.4.17 (WS-ACCT-07, Finance VLAN)' });
    const other = await hit({ token: tok, channel: 'http', sourceIp: '10.20.4.99' });
    expect(await incidentOf(other)).toMatchObject({ actorKey: 'ip:10.20.4.99', actorLabel: '10.20.4.99 (Finance clients, Finance VLAN)' });
  });

  it('one actor within TRAIL_WINDOW is one incident; later, or after closing, a new one', async () => {
    const { hit } = recorder({ TRAIL_WINDOW: '1h' });
    const tok = await token('t');
    const t0 = new Date('2026-01-01T10:00:00Z');
    const a = await hit({ token: tok, channel: 'http', sourceIp: '10.1.1.1', at: t0 });
    const b = await hit({ token: tok, channel: 'http', sourceIp: '10.1.1.1', at: new Date(t0.getTime() + 59 * 60_000) });
    expect(b.incidentId).toBe(a.incidentId);
    expect(await incidentOf(b)).toMatchObject({ hitCount: 2, tokenCount: 1 });
    const c = await hit({ token: tok, channel: 'http', sourceIp: '10.1.1.1', at: new Date(t0.getTime() + 3 * 3600_000) });
    expect(c.incidentId).not.toBe(a.incidentId);
    await setIncidentStatus(db, c.incidentId ?? 0, 'closed');
    const d = await hit({ token: tok, channel: 'http', sourceIp: '10.1.1.1', at: new Date(t0.getTime() + 3 * 3600_000 + 1000) });
    expect(d.incidentId).not.toBe(c.incidentId);
  });

  it('two planted hosts -> lateral, high; three hosts -> critical; techniques collected', async () => {
    const { hit } = recorder();
    const [a, b, c] = await Promise.all([
      token('a', { location: '\\\\fs01\\a', plantedHost: 'FS01' }),
      token('b', { location: '\\\\fs02\\b', plantedHost: 'FS02' }),
      token('c', { location: 'C:\\c', plantedHost: 'WS-HR-02' }),
    ]);
    const h1 = await hit({ token: a, channel: 'http', sourceIp: '10.9.9.9' });
    expect(await incidentOf(h1)).toMatchObject({ severity: 'medium', lateral: false });
    await hit({ token: a, channel: 'http', sourceIp: '10.9.9.9' });
    const h2 = await hit({ token: b, channel: 'http', sourceIp: '10.9.9.9' });
    expect(await incidentOf(h2)).toMatchObject({ severity: 'high', lateral: true, hostCount: 2, locationCount: 2, tokenCount: 2, hitCount: 3 });
    expect((await incidentOf(h2)).summary).toContain('decoys on 2 different hosts touched');
    const h3 = await hit({ token: c, channel: 'http', sourceIp: '10.9.9.9' });
    expect(await incidentOf(h3)).toMatchObject({ severity: 'critical', hostCount: 3 });
    expect((await incidentOf(h3)).techniques).toEqual(['T1021', 'T1083', 'T1213']);
  });

  it('a credential used away from its planted host is lateral (high); plus another touch is critical', async () => {
    const { hit } = recorder();
    await insertAsset(db, { cidr: '10.5.0.10', hostname: 'FS01', label: 'FS01', segment: 'Servers' });
    const cred = await token('db creds', { location: 'C:\\deploy\\db.ini', plantedHost: 'FS01' });
    const other = await token('other', { location: 'C:\\other', plantedHost: 'FS01' });
    // Used on the host it was planted on: credential use (high) but not lateral.
    const home = await hit({ token: cred, channel: 'http', sourceIp: '10.5.0.10', facts: { credential: 'svc_backup' } });
    expect(await incidentOf(home)).toMatchObject({ severity: 'high', lateral: false });
    expect((await incidentOf(home)).techniques).toContain('T1078');
    // Used from elsewhere: lateral.
    const away = await hit({ token: cred, channel: 'http', sourceIp: '10.7.7.7', facts: { credential: 'svc_backup' } });
    expect(await incidentOf(away)).toMatchObject({ severity: 'high', lateral: true });
    expect((await incidentOf(away)).summary).toContain('credential planted on FS01 used from 10.7.7.7');
    const more = await hit({ token: other, channel: 'http', sourceIp: '10.7.7.7' });
    expect((await incidentOf(more)).severity).toBe('critical');
  });

  it('a source in another network segment than the decoy is lateral', async () => {
    const { hit } = recorder();
    await insertAsset(db, { hostname: 'FS-FIN', label: 'FS-FIN', segment: 'Finance VLAN' });
    await insertAsset(db, { cidr: '10.30.0.0/16', label: 'Guest Wi-Fi', segment: 'Guest' });
    const tok = await token('finance', { location: '\\\\fs-fin\\board', plantedHost: 'FS-FIN' });
    const h = await hit({ token: tok, channel: 'http', sourceIp: '10.30.1.2' });
    expect(await incidentOf(h)).toMatchObject({ lateral: true, severity: 'high' });
    expect((await incidentOf(h)).summary).toBe('source in segment Guest, decoy planted in Finance VLAN');
  });

  it('queues one first alert per target, folds later hits into one digest, and none for non-alerting hits', async () => {
    const { hit } = recorder();
    const tok = await token('t', { alertEmails: ['owner@corp.example'] });
    await hit({ token: tok, channel: 'http', sourceIp: '10.2.2.2' });
    for (let i = 0; i < 3; i++) await hit({ token: tok, channel: 'http', sourceIp: '10.2.2.2' });
    await hit({ token: tok, channel: 'http', sourceIp: '10.2.2.2', userAgent: 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)' });
    const rows = await listAlerts(db, { limit: 20 });
    // Nothing claimed them yet, so the later hits fold into the pending first rows.
    expect(rows.map((r) => [r.kind, r.target, (r.payload as { hitCount: number }).hitCount]).sort()).toEqual([
      ['first', 'owner@corp.example', 4],
      ['first', 'soc@corp.example', 4],
    ]);
  });
});

describe('classification', () => {
  it('known scanners, ignore lists and DNS echoes are stored with their classification and do not alert', async () => {
    const { hit } = recorder({ IGNORE_CIDRS: '192.0.2.0/24', SCANNER_UA_EXTRA: 'CorpVulnScan' });
    const tok = await token('t', { ignoreCidrs: ['198.51.100.7'] });
    const cases: [Partial<HitEvent>, string][] = [
      [{ userAgent: 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)' }, 'scanner'],
      [{ userAgent: 'facebookexternalhit/1.1' }, 'scanner'],
      [{ userAgent: 'Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)' }, 'scanner'],
      [{ userAgent: 'Twitterbot/1.0' }, 'scanner'],
      [{ userAgent: 'Mozilla/4.0 (compatible; ms-office; MSOffice 16) SkypeUriPreview Preview/0.5' }, 'scanner'],
      [{ userAgent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' }, 'scanner'],
      [{ userAgent: 'corpvulnscan/2.1' }, 'scanner'],
      [{ userAgent: 'Mozilla/5.0', sourceIp: '148.163.130.5' }, 'scanner'], // Proofpoint network
      [{ sourceIp: '192.0.2.44' }, 'ignored'],
      [{ sourceIp: '198.51.100.7' }, 'ignored'],
      [{ userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edge/120', sourceIp: '10.0.0.8' }, 'alert'],
    ];
    for (const [e, want] of cases) {
      const h = await hit({ token: tok, channel: 'http', sourceIp: '10.0.0.9', ...e });
      expect([e, h.classification]).toEqual([e, want]);
    }
    const scannerHit = await hit({ token: tok, channel: 'http', sourceIp: '10.0.0.77', userAgent: 'Twitterbot/1.0' });
    expect(scannerHit.details).toMatchObject({ classifiedBy: 'Twitter/X card' });
    expect(await incidentOf(scannerHit)).toMatchObject({ severity: 'low', tokenCount: 0, hitCount: 1 });
    expect(await listAlerts(db, { incidentId: scannerHit.incidentId ?? 0, limit: 5 })).toHaveLength(0);
  });

  it('DNS echo: the same name for the same token within DNS_ECHO_WINDOW is an echo', async () => {
    const { hit } = recorder({ DNS_ECHO_WINDOW: '5m' });
    const tok = await token('dns');
    const t0 = Date.parse('2026-01-01T10:00:00Z');
    const at = (s: number) => new Date(t0 + s * 1000);
    const q = (s: number, qname = 'abc.t.example') => hit({ token: tok, channel: 'dns', sourceIp: '10.0.0.53', qname, qtype: 'A', at: at(s) });
    expect((await q(0)).classification).toBe('alert');
    expect((await q(30)).classification).toBe('echo');
    expect((await q(40, 'other.t.example')).classification).toBe('alert');
    expect((await q(30 + 301)).classification).toBe('alert');
  });

  it("respects a kind's own classification and alerts on configured extra classifications", async () => {
    const { hit } = recorder({ ALERT_ON_CLASSIFICATIONS: 'alert,scanner' });
    const tok = await token('t');
    const noise = await hit({ token: tok, channel: 'http', sourceIp: '10.0.0.1', userAgent: 'Mozilla/5.0', facts: { classification: 'noise' } });
    expect(noise.classification).toBe('noise');
    const kindSaysAlert = await hit({ token: tok, channel: 'http', sourceIp: '10.0.0.2', userAgent: 'Twitterbot/1.0', facts: { classification: 'alert' } });
    expect(kindSaysAlert.classification).toBe('alert');
    const scanner = await hit({ token: tok, channel: 'http', sourceIp: '10.0.0.3', userAgent: 'Twitterbot/1.0' });
    expect(scanner.classification).toBe('scanner');
    expect(await listAlerts(db, { incidentId: noise.incidentId ?? 0, limit: 5 })).toHaveLength(0);
    expect(await listAlerts(db, { incidentId: scanner.incidentId ?? 0, limit: 5 })).toHaveLength(1);
    expect((await listIncidents(db, { limit: 10 })).total).toBe(3);
  });
});
