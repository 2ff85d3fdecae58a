import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { insertAsset } from '../../src/db/queries/assets.ts';
import { listIncidents } from '../../src/db/queries/incidents.ts';
import type { AlertRow } from '../../src/db/schema.ts';
import { shared } from '../../src/db/store.ts';
import type { AlertPayload } from '../../src/hits/paging.ts';
import { rawQuery } from '../helpers.ts';
import { intrusionBed, type Bed } from './bed.ts';

/**
 * The paging policy (DESIGN section 6) on this pass's database: one thread per intrusion,
 * digests spaced from the last mail sent, escalations at once, floods grouped, a cap on new
 * pages a minute. Deliveries are simulated by marking outbox rows sent.
 */
let bed: Bed;
afterEach(async () => bed?.cleanup());

const payload = (r: AlertRow) => r.payload as AlertPayload;
const emails = (rows: AlertRow[]) => rows.filter((r) => r.channel === 'email' && r.target === 'soc@corp.example');

/** What a worker does when it delivers: the row is sent at `at`. */
async function markSent(b: Bed, rows: AlertRow[], at: Date): Promise<void> {
  const { db, t } = shared(b.db);
  for (const r of rows) await db.update(t.alerts).set({ status: 'sent', sentAt: at, claimedBy: null }).where(eq(t.alerts.id, r.id));
}

describe('paging: one intrusion, one thread', () => {
  it('the first hit pages at once; later routine hits fold into the waiting row; after a mail, a digest is due ALERT_DIGEST_SECONDS after that mail was sent', async () => {
    const b = (bed = await intrusionBed({ ALERT_DIGEST_SECONDS: '300' }));
    const tok = await b.token('t', { alertEmails: ['owner@corp.example'] });
    const first = await b.hit({ token: tok, sourceIp: '10.2.2.2' });
    for (let i = 0; i < 3; i++) await b.hit({ token: tok, sourceIp: '10.2.2.2', path: `/p${i}` });
    let rows = await b.alerts();
    expect(rows.map((r) => [r.kind, r.target, r.thread, payload(r).hitCount]).sort()).toEqual([
      ['first', 'owner@corp.example', `incident:${first.incidentId}`, 4],
      ['first', 'soc@corp.example', `incident:${first.incidentId}`, 4],
    ]);
    expect(rows.every((r) => r.nextAttemptAt.getTime() <= Date.now())).toBe(true);
    // Sent ten seconds ago; the next routine hit waits for 300 s after that send, not after the first row's schedule.
    const sentAt = new Date(Date.now() - 10_000);
    await markSent(b, rows, sentAt);
    const later = await b.hit({ token: tok, sourceIp: '10.2.2.2', path: '/later' });
    rows = emails(await b.alerts());
    const digest = rows[rows.length - 1] ?? expect.fail('no digest');
    expect(digest).toMatchObject({ kind: 'digest', thread: `incident:${later.incidentId}` });
    expect(digest.nextAttemptAt.getTime()).toBe(sentAt.getTime() + 300_000);
  });

  it('the first use of each planted credential pages at once, even when the intrusion is critical already', async () => {
    const b = (bed = await intrusionBed({ ALERT_DIGEST_SECONDS: '300' }));
    await insertAsset(b.db, { cidr: '10.30.0.10', hostname: 'JUMP01', label: 'JUMP01' });
    const keys = await b.token('aws', { kind: 'aws-keys', location: 'C:\\Users\\m\\.aws', plantedHost: 'WS-22' });
    const portal = await b.token('portal', { kind: 'credentials', location: 'C:\\Users\\m\\vpn.txt', plantedHost: 'WS-22' });
    const use = await b.hit({ token: keys, sourceIp: '10.30.0.10', facts: { credential: 'AKIAEXAMPLE', details: { signed: true, service: 'sts', action: 'GetCallerIdentity' } } });
    expect((await b.incidentOf(use)).severity).toBe('critical');
    await markSent(b, await b.alerts(), new Date());
    // The same credential again: routine, folded into a digest due later.
    await b.hit({ token: keys, sourceIp: '10.30.0.10', path: '/again', facts: { credential: 'AKIAEXAMPLE', details: { signed: true, service: 'sts', action: 'GetCallerIdentity' } } });
    let rows = emails(await b.alerts());
    expect(rows[rows.length - 1]?.nextAttemptAt.getTime()).toBeGreaterThan(Date.now() + 200_000);
    // Another planted credential used: the waiting digest goes out now, marked why.
    const before = Date.now();
    await b.hit({ token: portal, sourceIp: '10.30.0.10', method: 'POST', facts: { credential: 'adm-x', details: { portal: 'credential-use', via: 'form', outcome: 'mfa-pending' } } });
    rows = emails(await b.alerts());
    const last = rows[rows.length - 1] ?? expect.fail('no row');
    expect(last.nextAttemptAt.getTime()).toBeLessThanOrEqual(Date.now());
    expect(last.nextAttemptAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(payload(last)).toMatchObject({ escalated: true, hitCount: 2 });
    expect(payload(last).urgent).toContain('credential');
  });
});

describe('paging: floods page once, everything stays stored', () => {
  it('15 sources on one web bug: ALERT_GROUP_AFTER pages of their own, the rest in one grouped thread', async () => {
    const b = (bed = await intrusionBed({ ALERT_GROUP_AFTER: '3' }));
    const tok = await b.token('leaked link');
    for (let i = 1; i <= 15; i++) await b.hit({ token: tok, sourceIp: `10.77.0.${i}` });
    const rows = emails(await b.alerts());
    expect(rows.filter((r) => r.kind === 'first')).toHaveLength(3);
    const groups = rows.filter((r) => r.kind === 'group');
    expect(groups).toHaveLength(1);
    expect(groups[0]?.thread).toBe(`group:decoy:${tok.id}`);
    expect(payload(groups[0] as AlertRow)).toMatchObject({ incidentCount: 12 });
    expect((await listIncidents(b.db, { limit: 50 })).total).toBe(15);
    const stored = await rawQuery<{ n: number }>(b.db, 'select count(*) as n from hits');
    expect(stored[0]?.n).toBe(15);
  });

  it('30 invented computer names through one resolver: grouped too (names the attacker chose open no page each)', async () => {
    const b = (bed = await intrusionBed({ ALERT_GROUP_AFTER: '3' }));
    const folder = await b.token('folder', { kind: 'windows-folder', location: '\\\\fs01\\finance' });
    for (let i = 0; i < 30; i++) {
      await b.hit({ token: folder, channel: 'dns', sourceIp: '10.0.0.53', qname: `n${i}.example`, qtype: 'A', facts: { actor: { user: `u${i}`, host: `FAKE-${i}`, domain: 'X' } } });
    }
    const rows = emails(await b.alerts());
    expect(rows.filter((r) => r.kind === 'first')).toHaveLength(3);
    expect(rows.filter((r) => r.kind === 'group')).toHaveLength(1);
    expect((await listIncidents(b.db, { limit: 50 })).total).toBe(30);
  });

  it('beyond ALERT_FIRST_PER_MINUTE new intrusions a minute, they page as one summary', async () => {
    const b = (bed = await intrusionBed({ ALERT_FIRST_PER_MINUTE: '5', ALERT_GROUP_AFTER: '100' }));
    for (let i = 1; i <= 9; i++) await b.hit({ token: await b.token(`d${i}`), sourceIp: `10.88.0.${i}` });
    const rows = emails(await b.alerts());
    expect(rows.filter((r) => r.kind === 'first')).toHaveLength(5);
    const overflow = rows.filter((r) => r.thread === 'group:overflow');
    expect(overflow).toHaveLength(1);
    expect(payload(overflow[0] as AlertRow).incidentCount).toBe(4);
  });

  it('a grouped intrusion that escalates leaves the group and pages on its own at once', async () => {
    const b = (bed = await intrusionBed({ ALERT_GROUP_AFTER: '1' }));
    const link = await b.token('link');
    const keys = await b.token('keys', { kind: 'aws-keys' });
    await b.hit({ token: link, sourceIp: '10.66.0.1' });
    const grouped = await b.hit({ token: link, sourceIp: '10.66.0.2' });
    expect((await b.incidentOf(grouped)).alertGroup).toBe(`group:decoy:${link.id}`);
    await b.hit({ token: keys, sourceIp: '10.66.0.2', facts: { credential: 'AKIAEXAMPLE', details: { signed: true } } });
    const inc = await b.incidentOf(grouped);
    expect(inc.alertGroup).toBeNull();
    const own = emails(await b.alerts()).filter((r) => r.thread === `incident:${inc.id}`);
    expect(own).toHaveLength(1);
    expect(own[0]).toMatchObject({ kind: 'first' });
    expect(payload(own[0] as AlertRow).urgent).toEqual(expect.arrayContaining(['opened', 'credential']));
  });

  it('digests count flood-folded repeats', async () => {
    const b = (bed = await intrusionBed({}, { flood: true }));
    const tok = await b.token('t');
    const first = await b.hit({ token: tok, sourceIp: '10.2.2.3' });
    await markSent(b, await b.alerts(), new Date());
    // The flood gate stores 5 identical hits as rows, then counts the rest on the last row.
    for (let i = 0; i < 29; i++) await b.hit({ token: tok, sourceIp: '10.2.2.3' });
    const inc = await b.incidentOf(first);
    expect(inc.hitCount).toBe(30);
    const digest = emails(await b.alerts()).find((r) => r.kind === 'digest') ?? expect.fail('no digest');
    expect(payload(digest).hitCount + (payload(digest).repeats ?? 0)).toBe(29);
  });
});
