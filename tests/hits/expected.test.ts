import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { insertAsset } from '../../src/db/queries/assets.ts';
import { listAudit } from '../../src/db/queries/audit.ts';
import { allExpectedRules, insertExpectedRule } from '../../src/db/queries/expected.ts';
import { ExpectedFileError, syncExpectedFile } from '../../src/hits/expected-file.ts';
import type { HitEvent } from '../../src/hits/record-hit.ts';
import { tempDir } from '../helpers.ts';
import { intrusionBed, type Bed } from './bed.ts';

/**
 * Expected activity (issue 20) on this pass's database: a rule absorbs what it describes (who,
 * when, what) and nothing else; names the touching machine reports never qualify alone.
 */
let bed: Bed;
afterEach(async () => bed?.cleanup());

// Thursday 26 November 2026 in Berlin (UTC+1): 02:00 is inside the backup window, 10:00 is not.
const at = (hhmm: string) => new Date(`2026-11-26T${hhmm}:00+01:00`);
const rule = (r: Partial<Parameters<typeof insertExpectedRule>[1]> & { name: string }) =>
  insertExpectedRule(bed.db, { enabled: true, sources: [], hosts: [], users: [], decoys: ['*'], evidence: ['touch'], schedule: null, tag: null, note: null, ...r });

describe('expected activity', () => {
  it('absorbs a nightly scan, but not a credential use inside it, a decoy outside its scope, another time or another source', async () => {
    bed = await intrusionBed();
    const b = bed;
    await insertAsset(b.db, { cidr: '10.1.5.20', hostname: 'BACKUP01', label: 'BACKUP01', segment: 'Servers' });
    const backup = await rule({ name: 'nightly backup', sources: ['10.1.5.20'], decoys: ['\\\\FS01\\*'], schedule: 'daily 01:00-04:00 Europe/Berlin', tag: 'backup' });
    const q3 = await b.token('Q3 forecast', { kind: 'word', location: '\\\\fs01\\Finance\\Q3.docx', plantedHost: 'FS01' });
    const board = await b.token('Board minutes', { kind: 'word', location: '//FS01/board/minutes.docx', plantedHost: 'FS01' });
    const keys = await b.token('deploy keys', { kind: 'aws-keys', location: '\\\\FS01\\it\\aws.txt', plantedHost: 'FS01' });
    const hr = await b.token('HR list', { kind: 'word', location: '\\\\FS02\\hr\\list.docx', plantedHost: 'FS02' });
    const read = (token: typeof q3, hhmm: string, extra: Partial<HitEvent> = {}) =>
      b.hit({ token, channel: 'http', sourceIp: '10.1.5.20', method: 'GET', path: '/x.png', userAgent: 'Microsoft Office Word 2016', at: at(hhmm), ...extra });

    // The nightly scan: two decoys on FS01 (either slash), read inside the window. Stored, expected, with the rule; nothing paged.
    for (const h of [await read(q3, '02:00'), await read(board, '02:05')]) {
      expect(h).toMatchObject({ classification: 'expected', expectedRuleId: backup.id });
      expect(h.details?.classifiedBy).toBe(`expected activity: rule "nightly backup" (#${backup.id}) [backup]`);
      expect((await b.incidentOf(h)).severity).toBe('low');
    }
    expect(await b.alerts()).toEqual([]);

    // Inside the same window, the planted AWS key on FS01 used from the backup server: a credential use is never covered.
    const used = await read(keys, '02:10', { path: '/', facts: { credential: 'AKIAEXAMPLE', details: { signed: true } } });
    expect(used.classification).toBe('alert');
    expect(used.expectedRuleId).toBeNull();
    expect(used.details?.unusualForRule).toMatchObject({ id: backup.id, name: 'nightly backup', why: 'a planted credential was used, which no rule covers' });
    const inc = await b.incidentOf(used);
    expect(inc.reasons.map((r) => r.code)).toContain('credential-used');
    expect(inc.reasons.find((r) => r.code === 'unusual')?.text).toBe(`who and when match expected-activity rule "nightly backup" (#${backup.id}), but a planted credential was used, which no rule covers`);
    expect((await b.alerts()).length).toBeGreaterThan(0);

    // A decoy outside the rule's scope, inside the window: alerts and says so.
    const outside = await read(hr, '02:20');
    expect(outside.classification).toBe('alert');
    expect((outside.details?.unusualForRule as { why: string }).why).toBe('decoy "HR list" at \\\\FS02\\hr\\list.docx is outside the rule\'s scope (\\\\FS01\\*)');

    // The same read at 10:00, or from another machine at 02:00: not the rule's, plain alerts.
    const daytime = await read(q3, '10:00');
    expect(daytime).toMatchObject({ classification: 'alert', expectedRuleId: null });
    expect(daytime.details?.unusualForRule).toBeUndefined();
    const stranger = await read(q3, '02:00', { sourceIp: '10.7.7.7' });
    expect(stranger.classification).toBe('alert');
  });

  it('a host name counts as the network map names the address that connected; a name the machine reports never qualifies alone', async () => {
    bed = await intrusionBed();
    const b = bed;
    await insertAsset(b.db, { cidr: '10.1.7.7', hostname: 'AV01', label: 'AV01' });
    const av = await rule({ name: 'antivirus scan', hosts: ['AV*'], decoys: ['*'], tag: 'antivirus' });
    const viaResolver = await rule({ name: 'AV01 via the AV resolver', sources: ['10.1.7.53'], hosts: ['AV01'], decoys: ['kind:windows-folder'] });
    const bug = await b.token('bookmark', { location: '\\\\fs01\\it\\links.url' });
    const folder = await b.token('IT folder', { kind: 'windows-folder', location: '\\\\fs01\\it' });
    // Observed: the address that connected is AV01 in the map.
    expect(await b.hit({ token: bug, channel: 'http', sourceIp: '10.1.7.7' })).toMatchObject({ classification: 'expected', expectedRuleId: av.id });
    // Reported: a desktop.ini lookup naming AV01 through the ordinary resolver. Anyone can write AV01 into a lookup.
    const lookup = (resolver: string) =>
      b.hit({ token: folder, channel: 'dns', sourceIp: resolver, qname: 'svc-av.AV01.CORP.ini.example', qtype: 'A', facts: { actor: { user: 'svc-av', host: 'AV01', domain: 'CORP' } } });
    expect((await lookup('10.0.0.53')).classification).toBe('alert');
    // Reported AND carried by the resolver the rule names (a network fact): the rule's.
    expect(await lookup('10.1.7.53')).toMatchObject({ classification: 'expected', expectedRuleId: viaResolver.id });
  });

  it('rules from a file: created, updated and removed with it, audited; an invalid file changes nothing and names the rule and field', async () => {
    bed = await intrusionBed();
    const dir = tempDir();
    const file = join(dir.dir, 'expected.json');
    try {
      writeFileSync(file, JSON.stringify({ rules: [{ name: 'backup', sources: ['10.1.5.20'], decoys: ['\\\\FS01\\*'], schedule: 'daily 01:00-04:00 UTC' }, { name: 'av', hosts: ['AV01'], decoys: ['*'] }] }));
      expect(await syncExpectedFile(bed.db, file)).toEqual({ created: 2, updated: 0, removed: 0 });
      expect(await syncExpectedFile(bed.db, file)).toEqual({ created: 0, updated: 0, removed: 0 });
      writeFileSync(file, JSON.stringify({ rules: [{ name: 'backup', sources: ['10.1.5.0/24'], decoys: ['\\\\FS01\\*'] }] }));
      expect(await syncExpectedFile(bed.db, file)).toEqual({ created: 0, updated: 1, removed: 1 });
      const rules = await allExpectedRules(bed.db);
      expect(rules.map((r) => [r.name, r.managedBy, r.sources, r.schedule])).toEqual([['backup', 'file', ['10.1.5.0/24'], null]]);
      const actions = (await listAudit(bed.db, 20, 0)).filter((a) => a.action.startsWith('expected.')).map((a) => [a.actor, a.action]);
      expect(actions).toContainEqual(['file:expected.json', 'expected.delete']);
      expect(actions.filter(([, a]) => a === 'expected.create')).toHaveLength(2);

      writeFileSync(file, JSON.stringify({ rules: [{ name: 'backup', sources: ['10.1.5.0/24'], decoys: ['\\\\FS01\\*'] }, { name: 'too broad', users: ['svc-backup'], decoys: ['*'], evidence: ['credential-used'] }] }));
      const err = await syncExpectedFile(bed.db, file).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExpectedFileError);
      expect(String((err as Error).message)).toContain('rule 2 ("too broad"): evidence a planted credential used always alerts: no rule can cover it');
      expect(String((err as Error).message)).toContain('rule 2 ("too broad"): sources say who: a source address or CIDR, or a host name');
      expect((await allExpectedRules(bed.db)).map((r) => r.name)).toEqual(['backup']);
    } finally {
      dir.cleanup();
    }
  });
});
