import { afterEach, describe, expect, it } from 'vitest';
import { insertAsset } from '../../src/db/queries/assets.ts';
import { getIncident, listIncidents, setIncidentStatus } from '../../src/db/queries/incidents.ts';
import type { HitRow } from '../../src/db/schema.ts';
import { preloadIpOwners } from '../../src/hits/ip-owner.ts';
import type { HitEvent } from '../../src/hits/record-hit.ts';
import { rawQuery } from '../helpers.ts';
import { intrusionBed, type Bed } from './bed.ts';

/**
 * The intrusion logic (DESIGN section 5) on this pass's database (SQLite, or PostgreSQL under
 * `npm run test:pg`): one suite, both dialects. Hosts are simulated with source addresses in
 * the asset map and with the names a folder lookup reports.
 */
const DAY = 24 * 3600 * 1000;
let bed: Bed;
afterEach(async () => bed?.cleanup());

async function setup(env: Record<string, string> = {}, flood = false): Promise<Bed> {
  bed = await intrusionBed(env, { flood });
  return bed;
}

/** The asset map of the story: a workstation, two file servers, a jump host. */
async function assets(b: Bed): Promise<void> {
  await insertAsset(b.db, { cidr: '10.20.4.22', hostname: 'WS-22', label: 'WS-22', segment: 'Clients' });
  await insertAsset(b.db, { cidr: '10.20.4.30', hostname: 'WS-30', label: 'WS-30', segment: 'Clients' });
  await insertAsset(b.db, { cidr: '10.10.0.11', hostname: 'FS01', label: 'FS01', segment: 'Servers' });
  await insertAsset(b.db, { cidr: '10.10.0.12', hostname: 'FS02', label: 'FS02', segment: 'Servers' });
  await insertAsset(b.db, { cidr: '10.30.0.10', hostname: 'JUMP01', label: 'JUMP01', segment: 'Admin' });
}

const folder = (user: string, host: string, domain = 'CORP'): Partial<HitEvent> => ({
  channel: 'dns',
  sourceIp: '10.0.0.53',
  qname: `${user}.${host}.${domain}.ini.example`,
  qtype: 'A',
  facts: { actor: { user, host, domain } },
});

const keys = async (b: Bed, id: number) => (await b.entities(id)).map((e) => e.key).sort();

describe('intrusions: who, and what links hits', () => {
  it('a folder lookup is keyed by the computer it reports (claimed), its resolver is a relay, and the actor has no address', async () => {
    const b = await setup();
    const tok = await b.token('folder', { kind: 'windows-folder', location: '\\\\fs01\\finance' });
    const h = await b.hit({ token: tok, ...folder('m.keller', 'WS-22') });
    const inc = await b.incidentOf(h);
    // A touch (medium) from a machine never seen before (first-seen: a step up).
    expect(inc).toMatchObject({ actorKey: 'host:ws-22', severity: 'high', lateral: false, machineCount: 1 });
    expect(inc.reasons.map((r) => r.code)).toEqual(['touch', 'first-seen']);
    expect(inc.actorLabel).toContain('CORP\\m.keller on WS-22');
    expect(inc.actorLabel).toContain('reported by the attacker');
    const ents = await b.entities(inc.id);
    expect(ents.find((e) => e.key === 'host:ws-22')).toMatchObject({ claimed: true });
    expect(ents.find((e) => e.key === 'user:m.keller')).toMatchObject({ claimed: true, label: 'CORP\\m.keller' });
    expect(ents.find((e) => e.key === 'relay:10.0.0.53')).toMatchObject({ kind: 'relay' });
    // The resolver's address names no machine of the intrusion.
    expect(ents.some((e) => e.key === 'ip:10.0.0.53')).toBe(false);
  });

  it('lookups that name nobody stay apart per decoy: one resolver does not tie the whole site together', async () => {
    const b = await setup();
    const [x, y] = [await b.token('x', { kind: 'dns' }), await b.token('y', { kind: 'dns' })];
    const a = await b.hit({ token: x, channel: 'dns', sourceIp: '10.0.0.53', qname: 'a.example', qtype: 'A' });
    const a2 = await b.hit({ token: x, channel: 'dns', sourceIp: '10.0.0.53', qname: 'b.example', qtype: 'A' });
    const c = await b.hit({ token: y, channel: 'dns', sourceIp: '10.0.0.53', qname: 'c.example', qtype: 'A' });
    expect(a2.incidentId).toBe(a.incidentId);
    expect(c.incidentId).not.toBe(a.incidentId);
    expect((await b.incidentOf(a)).actorKey).toBe(`via:10.0.0.53:${x.id}`);
  });

  it('what a machine reported through a token and what its address touched are one intrusion on one machine', async () => {
    const b = await setup();
    await insertAsset(b.db, { cidr: '10.20.9.17', hostname: 'ws-hr-03.corp.example', label: 'WS-HR-03', segment: 'HR VLAN' });
    const shareFolder = await b.token('HR folder', { kind: 'windows-folder', location: '\\\\fs02\\hr', plantedHost: 'FS02' });
    const bookmark = await b.token('Payroll bookmark', { location: 'Edge favourites', plantedHost: 'WS-HR-03' });
    const seen = await b.hit({ token: shareFolder, ...folder('bob', 'WS-HR-03') });
    const fetched = await b.hit({ token: bookmark, channel: 'http', sourceIp: '10.20.9.17', userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36' });
    expect(fetched.incidentId).toBe(seen.incidentId);
    // Its own bookmark on its own disk, and a share folder: collection and discovery on one machine, not a hop.
    expect(await b.incidentOf(fetched)).toMatchObject({ tokenCount: 2, machineCount: 1, lateral: false, severity: 'high' });
    // The machine is first-seen once: its address joining its name is not a second new machine.
    expect((await b.incidentOf(fetched)).reasons.filter((r) => r.code === 'first-seen')).toHaveLength(1);
  });

  it('one intrusion within TRAIL_WINDOW; later, or after closing, a new one', async () => {
    const b = await setup({ TRAIL_WINDOW: '1h' });
    const tok = await b.token('t');
    const t0 = Date.parse('2026-01-01T10:00:00Z');
    const at = (min: number) => new Date(t0 + min * 60_000);
    const a = await b.hit({ token: tok, channel: 'http', sourceIp: '10.1.1.1', at: at(0) });
    const c1 = await b.hit({ token: tok, channel: 'http', sourceIp: '10.1.1.1', at: at(59) });
    expect(c1.incidentId).toBe(a.incidentId);
    expect(await b.incidentOf(c1)).toMatchObject({ hitCount: 2, tokenCount: 1 });
    const c = await b.hit({ token: tok, channel: 'http', sourceIp: '10.1.1.1', at: at(180) });
    expect(c.incidentId).not.toBe(a.incidentId);
    await setIncidentStatus(b.db, c.incidentId ?? 0, 'closed');
    const d = await b.hit({ token: tok, channel: 'http', sourceIp: '10.1.1.1', at: at(181) });
    expect(d.incidentId).not.toBe(c.incidentId);
  });
});

describe('intrusions: lateral movement is a hop', () => {
  it('reading decoys on two file servers from one workstation is collection, not lateral movement; folders of one share are one location', async () => {
    const b = await setup();
    await assets(b);
    const q3 = await b.token('Q3', { kind: 'word', location: '\\\\FS01\\finance\\Q3', plantedHost: 'FS01' });
    const payroll = await b.token('Payroll', { kind: 'word', location: '\\\\fs01\\Finance\\Payroll', plantedHost: 'FS01' });
    const board = await b.token('Board', { kind: 'excel', location: '\\\\fs02\\board', plantedHost: 'FS02' });
    let last: HitRow | undefined;
    for (const tok of [q3, payroll, board]) last = await b.hit({ token: tok, channel: 'http', sourceIp: '10.20.4.22', method: 'GET', path: '/x.png', userAgent: 'LibreOffice 7.4' });
    const inc = await b.incidentOf(last as HitRow);
    expect(inc).toMatchObject({ lateral: false, severity: 'high', tokenCount: 3, locationCount: 2, hostCount: 2, machineCount: 1, summary: null });
    expect(inc.techniques).toEqual(['T1039']);
    expect(inc.reasons.map((r) => r.code)).toEqual(['touch', 'first-seen', 'touch', 'touch']);
    expect(inc.reasons.some((r) => /segment/.test(r.text))).toBe(false);
  });

  it('a credential planted on WS-22 used from JUMP01 joins WS-22\'s intrusion and records the hop WS-22 → JUMP01', async () => {
    const b = await setup();
    await assets(b);
    const share = await b.token('share folder', { kind: 'windows-folder', location: '\\\\fs01\\finance' });
    const keysTok = await b.token('AWS keys', { kind: 'aws-keys', location: 'C:\\Users\\m.keller\\.aws', plantedHost: 'WS-22' });
    const browse = await b.hit({ token: share, ...folder('m.keller', 'WS-22') });
    const use = await b.hit({
      token: keysTok,
      channel: 'http',
      sourceIp: '10.30.0.10',
      userAgent: 'aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0',
      facts: { credential: 'AKIAEXAMPLE000000001', details: { signed: true, service: 'sts', region: 'eu-west-1', action: 'GetCallerIdentity' } },
    });
    expect(use.incidentId).toBe(browse.incidentId);
    const inc = await b.incidentOf(use);
    expect(inc).toMatchObject({ lateral: true, severity: 'critical', machineCount: 2 });
    expect(inc.summary).toBe('credential planted on WS-22 ("AWS keys") used from JUMP01');
    expect(inc.techniques).toEqual(expect.arrayContaining(['T1021', 'T1033', 'T1078.004', 'T1083', 'T1135', 'T1552.001']));
    expect(await keys(b, inc.id)).toEqual(
      expect.arrayContaining(['host:jump01', 'host:ws-22', 'hop:host:ws-22>host:jump01', `cred:${keysTok.id}`, 'user:m.keller', 'relay:10.0.0.53']),
    );
    const use2 = inc.reasons.find((r) => r.code === 'credential-used');
    expect(use2?.text).toContain('aws-cli/2.15.0 called sts:GetCallerIdentity in eu-west-1 with key AKIA…0001');
  });

  it('names the host a credential was taken from even when that host never fired', async () => {
    const b = await setup();
    await assets(b);
    const creds = await b.token('db creds', { kind: 'api-key', location: 'C:\\deploy\\db.env', plantedHost: 'WS-30' });
    const h = await b.hit({ token: creds, channel: 'http', sourceIp: '10.30.0.10', facts: { credential: 'sk_live_abc…wxyz', details: { method: 'GET', endpoint: '/v1/charges' } } });
    const inc = await b.incidentOf(h);
    expect(inc).toMatchObject({ lateral: true, severity: 'critical', machineCount: 2 });
    const ents = await b.entities(inc.id);
    expect(ents.find((e) => e.key === 'host:ws-30')).toMatchObject({ claimed: false, data: expect.objectContaining({ plantedHere: creds.id }) });
    // WS-30 firing later joins the same intrusion.
    const other = await b.token('bookmark');
    const later = await b.hit({ token: other, channel: 'http', sourceIp: '10.20.4.30' });
    expect(later.incidentId).toBe(h.incidentId);
  });

  it('a credential used on the host it was planted on is credential use, not a hop; from a share it proves nothing about the server', async () => {
    const b = await setup();
    await assets(b);
    const local = await b.token('local creds', { kind: 'api-key', location: 'C:\\app\\.env', plantedHost: 'JUMP01' });
    const onShare = await b.token('share creds', { kind: 'api-key', location: '\\\\fs01\\it\\.env', plantedHost: 'FS01' });
    const home = await b.hit({ token: local, channel: 'http', sourceIp: '10.30.0.10', facts: { credential: 'sk_a' } });
    // Credential use (high) by a machine never seen before (first-seen): critical, and no hop.
    expect(await b.incidentOf(home)).toMatchObject({ lateral: false, severity: 'critical' });
    const fromShare = await b.hit({ token: onShare, channel: 'http', sourceIp: '10.30.0.10', facts: { credential: 'sk_b' } });
    expect(await b.incidentOf(fromShare)).toMatchObject({ lateral: false, severity: 'critical', machineCount: 1 });
    expect((await b.incidentOf(fromShare)).reasons.map((r) => r.code)).toEqual(['credential-used', 'first-seen', 'credential-used']);
  });

  it('the same user identity on a second host is a hop; the same user mailing a decoy joins without one', async () => {
    const b = await setup();
    const share = await b.token('share folder', { kind: 'windows-folder', location: '\\\\fs01\\finance' });
    const mailbox = await b.token('mailbox', { kind: 'email' });
    const first = await b.hit({ token: share, ...folder('m.keller', 'WS-22') });
    const mail = await b.hit({
      token: mailbox,
      channel: 'smtp',
      sourceIp: '10.0.0.25',
      mailFrom: 'm.keller@corp.example',
      mailTo: 'j.hartmann@corp.example',
      mailSubject: 'invoice',
    });
    expect(mail.incidentId).toBe(first.incidentId);
    expect(await b.incidentOf(mail)).toMatchObject({ lateral: false, machineCount: 1, severity: 'high' });
    const second = await b.hit({ token: share, ...folder('m.keller', 'WS-30') });
    expect(second.incidentId).toBe(first.incidentId);
    const inc = await b.incidentOf(second);
    expect(inc).toMatchObject({ lateral: true, severity: 'critical', machineCount: 2 });
    expect(inc.summary).toContain('the intrusion, seen on WS-22, reached WS-30 (user CORP\\m.keller)');
    expect(inc.summary).toContain('host names reported by the attacker');
    expect((await b.entities(inc.id)).find((e) => e.kind === 'hop')).toMatchObject({ claimed: true, label: 'WS-22 → WS-30' });
  });

  it('generic account names never tie hits together', async () => {
    const b = await setup();
    const share = await b.token('share folder', { kind: 'windows-folder', location: '\\\\fs01\\finance' });
    const a = await b.hit({ token: share, ...folder('Administrator', 'WS-22') });
    const c = await b.hit({ token: share, ...folder('administrator', 'WS-30') });
    expect(c.incidentId).not.toBe(a.incidentId);
  });

  it('a hit that links two intrusions merges the newer into the older: hits, entities and waiting alerts move, the child points to its parent', async () => {
    const b = await setup();
    await assets(b);
    const share = await b.token('share folder', { kind: 'windows-folder', location: '\\\\fs01\\finance' });
    const bookmark = await b.token('jump bookmark', { location: 'C:\\Users\\adm\\Favorites', plantedHost: 'JUMP01' });
    const portal = await b.token('vpn creds', { kind: 'credentials', location: '\\\\fs01\\it\\vpn.txt', plantedHost: 'FS01' });
    const older = await b.hit({ token: share, ...folder('m.keller', 'WS-22') });
    const newer = await b.hit({ token: bookmark, channel: 'http', sourceIp: '10.30.0.10' });
    expect(newer.incidentId).not.toBe(older.incidentId);
    // The planted password tried from JUMP01 with the user name m.keller: this hit names both.
    const bridge = await b.hit({
      token: portal,
      channel: 'http',
      sourceIp: '10.30.0.10',
      method: 'POST',
      facts: { details: { portal: 'planted-password-other-user', via: 'form', username: 'm.keller', usernameMatched: false, passwordMatched: true } },
    });
    expect(bridge.incidentId).toBe(older.incidentId);
    const parent = await b.incidentOf(bridge);
    expect(parent).toMatchObject({ lateral: true, severity: 'critical', hitCount: 3, tokenCount: 3, machineCount: 2 });
    expect(parent.reasons.find((r) => r.code === 'merge')?.text).toContain(`joined incident #${newer.incidentId}`);
    expect(parent.summary).toContain('the intrusion, seen on WS-22, reached JUMP01 (user CORP\\m.keller)');
    const child = (await getIncident(b.db, newer.incidentId ?? 0)) ?? expect.fail('child gone');
    expect(child.mergedInto).toBe(parent.id);
    const moved = await rawQuery<{ n: number }>(b.db, 'select count(*) as n from hits where incident_id = ?', child.id);
    expect(moved[0]?.n).toBe(0);
    expect(await keys(b, child.id)).toEqual([]);
    expect(await keys(b, parent.id)).toEqual(expect.arrayContaining(['host:jump01', 'host:ws-22', `decoy:${bookmark.id}`]));
    // Lists hide the merged child; waiting alerts of the child moved to the parent's thread.
    const list = await listIncidents(b.db, { limit: 10 });
    expect(list.items.map((i) => i.id)).toEqual([parent.id]);
    const rows = await b.alerts();
    expect(rows.every((r) => r.incidentId === parent.id)).toBe(true);
    expect(rows.every((r) => r.thread === `incident:${parent.id}`)).toBe(true);
  });
});

describe('intrusions: severity from evidence, then context', () => {
  it('touch < credential found < credential used < hop; threat intel raises a step; reasons are deduplicated', async () => {
    const b = await setup();
    await assets(b);
    const bug = await b.token('bug');
    // Every source here touched a decoy before (outside the trail window): no first-seen context.
    for (const ip of ['10.5.5.1', '10.5.5.2', '10.6.6.6']) await b.hit({ token: bug, channel: 'http', sourceIp: ip, at: new Date(Date.now() - 3 * DAY) });
    const touch = await b.hit({ token: bug, channel: 'http', sourceIp: '10.5.5.1' });
    expect((await b.incidentOf(touch)).severity).toBe('medium');
    expect((await b.incidentOf(touch)).reasons.map((r) => r.code)).toEqual(['touch']);
    const portal = await b.token('portal', { kind: 'credentials' });
    const found = await b.hit({ token: portal, channel: 'http', sourceIp: '10.5.5.2', facts: { details: { portal: 'login-page', method: 'GET' } } });
    expect(await b.incidentOf(found)).toMatchObject({ severity: 'high' });
    expect((await b.incidentOf(found)).techniques).toEqual(['T1552.001']);
    const used = await b.hit({ token: portal, channel: 'http', sourceIp: '10.5.5.2', facts: { credential: 'adm-x', details: { portal: 'credential-use', via: 'form', outcome: 'mfa-pending' } } });
    const inc = await b.incidentOf(used);
    expect(inc.severity).toBe('high');
    expect(inc.reasons.find((r) => r.code === 'credential-used')?.text).toContain('signed in to the VPN portal as adm-x; MFA prompt shown');
    // 100 hits over 20 decoys: a short list of reasons, one per piece of evidence and at most a few per kind.
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => b.token(`d${i}`, { location: `\\\\fs0${i % 2}\\s${i}`, plantedHost: `FS0${i % 2}` })));
    let last: HitRow | undefined;
    for (let i = 0; i < 100; i++) last = await b.hit({ token: many[i % 20] as never, channel: 'http', sourceIp: '10.6.6.6', path: `/p${i}` });
    const big = await b.incidentOf(last as HitRow);
    expect(big.reasons).toHaveLength(3);
    expect(new Set(big.reasons.map((r) => r.text)).size).toBe(3);
  });

  it('the same touch off-hours, from a first-seen machine, from a public address or on a critical asset is a step worse, each reason named', async () => {
    await preloadIpOwners();
    const b = await setup({ WORKING_HOURS: 'Mon-Fri 08:00-18:00 Europe/Berlin', WORKING_HOURS_SEGMENTS: 'OT=daily 00:00-24:00 UTC' });
    await assets(b);
    await insertAsset(b.db, { cidr: '10.40.0.5', hostname: 'PAY01', label: 'PAY01', segment: 'Payments', criticality: 'critical' });
    await insertAsset(b.db, { cidr: '10.50.0.0/24', label: 'Plant floor', segment: 'OT' });
    const bug = await b.token('bug');
    // Wednesday 25 November 2026, 10:00 in Berlin (09:00 UTC), and the Sunday after at 02:14.
    const wednesday = new Date('2026-11-25T09:00:00Z');
    const sunday = new Date('2026-11-29T01:14:00Z');
    const known = ['10.5.5.1', '10.5.5.3', '8.8.8.8', '10.40.0.5', '10.50.0.7', '10.5.5.4'];
    for (const ip of known) await b.hit({ token: bug, channel: 'http', sourceIp: ip, at: new Date(wednesday.getTime() - 5 * DAY) });
    const touch = async (sourceIp: string, at: Date, extra: Partial<HitEvent> = {}) => b.incidentOf(await b.hit({ token: bug, channel: 'http', sourceIp, at, ...extra }));
    const codes = (i: { reasons: { code: string }[] }) => i.reasons.map((r) => r.code);

    // The baseline: a machine seen before, inside working hours, inside the organisation.
    const base = await touch('10.5.5.1', wednesday);
    expect([base.severity, codes(base)]).toEqual(['medium', ['touch']]);

    const night = await touch('10.5.5.3', sunday);
    expect([night.severity, codes(night)]).toEqual(['high', ['touch', 'off-hours']]);
    expect(night.reasons[1]?.text).toBe('at Sun 02:14 Europe/Berlin, outside the working hours (Mon-Fri 08:00-18:00 Europe/Berlin)');

    const fresh = await touch('10.5.5.9', wednesday);
    expect([fresh.severity, codes(fresh)]).toEqual(['high', ['touch', 'first-seen']]);
    expect(fresh.reasons[1]?.text).toBe('10.5.5.9 had touched no decoy or honey service in the 30 days before');

    const outside = await touch('8.8.8.8', wednesday);
    expect([outside.severity, codes(outside)]).toEqual(['high', ['touch', 'external']]);
    // The owner from the shipped offline database (npm package @ip-location-db), no lookup over the network.
    expect(outside.reasons[1]?.text).toBe("source 8.8.8.8 is outside the organisation's networks (a public address; AS15169 Google LLC, US)");

    const payments = await touch('10.40.0.5', wednesday);
    expect([payments.severity, codes(payments)]).toEqual(['high', ['touch', 'sensitive']]);
    expect(payments.reasons[1]?.text).toBe('source PAY01 in segment Payments is marked critical in the asset map');

    // A segment with its own hours (the plant floor works around the clock): Sunday night is not off-hours there.
    const plant = await touch('10.50.0.7', sunday);
    expect([plant.severity, codes(plant)]).toEqual(['medium', ['touch']]);

    // All of it at once: a touch tops out at high; the same context on a credential used is critical.
    const worst = await touch('203.0.113.77', sunday);
    expect([worst.severity, codes(worst)]).toEqual(['high', ['touch', 'off-hours', 'first-seen']]);
    const cloud = await touch('9.9.9.9', sunday);
    expect([cloud.severity, codes(cloud)]).toEqual(['high', ['touch', 'external', 'off-hours', 'first-seen']]);
    const keys = await b.token('keys', { kind: 'aws-keys' });
    const usedAtNight = await b.incidentOf(await b.hit({ token: keys, channel: 'http', sourceIp: '10.5.5.4', at: sunday, facts: { credential: 'AKIAEXAMPLE', details: { signed: true } } }));
    expect([usedAtNight.severity, codes(usedAtNight)]).toEqual(['critical', ['credential-used', 'off-hours']]);

    // A host name the attacker's machine reports is not made familiar by naming a host seen on the network.
    const folderTok = await b.token('folder', { kind: 'windows-folder', location: '\\\\fs01\\finance' });
    await touch('10.10.0.11', new Date(wednesday.getTime() - 4 * DAY));
    const spoofed = await b.incidentOf(await b.hit({ token: folderTok, ...folder('m.keller', 'FS01'), at: wednesday }));
    expect(codes(spoofed)).toContain('first-seen');
  });
});

describe('classification: no attacker-controlled field alone silences a hit', () => {
  it('a scanner word in the user agent is only a hint; a published scanner network is a scanner; a planted secret always alerts', async () => {
    const b = await setup({ IGNORE_CIDRS: '192.0.2.0/24', SCANNER_UA_EXTRA: 'CorpVulnScan' });
    const tok = await b.token('t', { ignoreCidrs: ['198.51.100.7'] });
    const keysTok = await b.token('keys', { kind: 'aws-keys' });
    const cases: [Partial<HitEvent>, string][] = [
      [{ userAgent: 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)' }, 'alert'],
      [{ userAgent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' }, 'alert'],
      [{ userAgent: 'corpvulnscan/2.1' }, 'alert'],
      [{ userAgent: 'Mozilla/5.0 (Windows NT 10.0) Chrome/120', sourceIp: '148.163.130.5' }, 'scanner'], // Proofpoint network
      [{ userAgent: 'Mozilla/5.0 (Windows NT 10.0) Edge/120', sourceIp: '40.107.22.33' }, 'scanner'], // Exchange Online Protection
      [{ sourceIp: '192.0.2.44' }, 'ignored'],
      [{ sourceIp: '198.51.100.7' }, 'ignored'],
      [{ userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edge/120', sourceIp: '10.0.0.8' }, 'alert'],
    ];
    for (const [e, want] of cases) {
      const h = await b.hit({ token: tok, channel: 'http', sourceIp: '10.0.0.9', ...e });
      expect([e, h.classification]).toEqual([e, want]);
    }
    const hinted = await b.hit({ token: tok, channel: 'http', sourceIp: '10.0.0.77', userAgent: 'Twitterbot/1.0' });
    expect(hinted.details).toMatchObject({ scannerHint: 'Twitter/X card' });
    // Not lowered by the hint: a touch from a first-seen machine, like any other.
    expect((await b.incidentOf(hinted)).severity).toBe('high');
    // The planted AWS key used with a crawler's user agent, even from a scanner network: an alert.
    const used = await b.hit({ token: keysTok, channel: 'http', sourceIp: '148.163.130.9', userAgent: 'Googlebot/2.1 proofpoint', facts: { credential: 'AKIAEXAMPLE', details: { signed: true } } });
    expect(used.classification).toBe('alert');
    expect((await b.incidentOf(used)).severity).toBe('critical');
  });

  it('IGNORE_CIDRS wins over a kind\'s own verdict (a probe from an ignored range is ignored)', async () => {
    const b = await setup({ IGNORE_CIDRS: '10.99.0.0/16' });
    const keysTok = await b.token('keys', { kind: 'aws-keys' });
    const probe = await b.hit({ token: keysTok, channel: 'http', sourceIp: '10.99.1.1', facts: { classification: 'probe', details: { signed: true, keyId: 'AKIAOTHER' } } });
    expect(probe.classification).toBe('ignored');
    const elsewhere = await b.hit({ token: keysTok, channel: 'http', sourceIp: '10.98.1.1', facts: { classification: 'probe', details: { signed: true, keyId: 'AKIAOTHER' } } });
    expect(elsewhere.classification).toBe('probe');
  });

  it('a DNS echo is the same name through the same resolver; another resolver asking alerts', async () => {
    const b = await setup({ DNS_ECHO_WINDOW: '5m' });
    const tok = await b.token('dns', { kind: 'dns' });
    const t0 = Date.parse('2026-01-01T10:00:00Z');
    const q = (s: number, resolver = '10.0.0.53', qname = 'abc.t.example') => b.hit({ token: tok, channel: 'dns', sourceIp: resolver, qname, qtype: 'A', at: new Date(t0 + s * 1000) });
    expect((await q(0)).classification).toBe('alert');
    expect((await q(30)).classification).toBe('echo');
    expect((await q(35, '10.0.0.54')).classification).toBe('alert');
    expect((await q(40, '10.0.0.53', 'other.t.example')).classification).toBe('alert');
    expect((await q(30 + 301)).classification).toBe('alert');
  });
});
