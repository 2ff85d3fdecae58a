import { tmpdir } from 'node:os';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeSetupToken, ensureFirstAdmin, setupTokenValid } from '../../src/admin/setup.ts';
import { buildAlertView } from '../../src/alerts/view.ts';
import { countAudit, failedAlerts, incidentAlerts, listIncidents as listIncidentPage, neverTriggered, openIncidentsBySeverity, recentHits, tokenHits } from '../../src/db/queries/admin-views.ts';
import { finishAlert, getAlert, insertFinishedAlert, listAlerts } from '../../src/db/queries/alerts.ts';
import { createApiKey, countApiKeys, findActiveApiKey, listApiKeys, markApiKeyUsed, revokeApiKey } from '../../src/db/queries/api-keys.ts';
import { allAssets, assetForHost, assetForIp, deleteAsset, getAsset, insertAsset, insertAssets, listAssets, updateAsset } from '../../src/db/queries/assets.ts';
import { audit, listAudit } from '../../src/db/queries/audit.ts';
import { getHit, listHits, setHitIncident } from '../../src/db/queries/hits.ts';
import {
  countIncidentHits,
  getIncident,
  incidentHitIds,
  incidentHitsBetween,
  incidentsAfter,
  incidentTrail,
  incidentTrailSample,
  listIncidents,
  setIncidentStatus,
} from '../../src/db/queries/incidents.ts';
import { allIndicators, deleteIndicatorsByLabel, importIndicators, intelSummary, intelVersion, type NewIndicator } from '../../src/db/queries/intel.ts';
import { metricCounts } from '../../src/db/queries/metrics.ts';
import { deleteSession, getSession, insertSession, purgeSessions, touchSession } from '../../src/db/queries/sessions.ts';
import { deleteSetting, getSetting, setSetting, takeSetting } from '../../src/db/queries/settings.ts';
import { applyTokenAction, deleteToken, getToken, insertToken, listTokens, liveTokenIds, updateToken } from '../../src/db/queries/tokens.ts';
import { countUsers, deleteUser, findUserByEmail, getUser, insertUser, listUsers, markLogin } from '../../src/db/queries/users.ts';
import { closePostgres, openPostgres } from '../../src/db/pg.ts';
import * as pgSchema from '../../src/db/schema-pg.ts';
import type { AlertRow, alerts, HitRow, IncidentRow, incidents, NewHitRow } from '../../src/db/schema.ts';
import { atomically, isPg, isUniqueViolation, shared, type AnyDb } from '../../src/db/store.ts';
import { hitsCsv } from '../../src/exports/hits.ts';
import { incidentsJsonl } from '../../src/exports/incidents.ts';
import { bulkTokenAction } from '../../src/tokens/service.ts';
import { silentLog, testConfig, testDb } from '../helpers.ts';
import { createTestPg } from '../pg.ts';

/**
 * One set of query functions serves both dialects: every scenario runs against a fresh SQLite
 * database and a fresh PostgreSQL database (with an ICU en-US collation, as production servers
 * often have, so text order and case rules differ from SQLite unless the queries pin them).
 * Each scenario checks its own expectations, then the two backends' results must be equal.
 * Scenarios run in order on one database per backend, so later ones see earlier rows.
 */

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

/** A time the database or the clock chose: only whether it is set can be compared. */
const stamp = (v: Date | null | undefined) => (v ? 'set' : null);

async function addHits(db: AnyDb, rows: NewHitRow[]): Promise<HitRow[]> {
  // hitWriter is SQLite-only; a plain insert through the shared builder works on both.
  const { db: q, t } = shared(db);
  return q.insert(t.hits).values(rows).returning();
}

async function addIncident(db: AnyDb, row: Omit<typeof incidents.$inferInsert, 'id'>): Promise<IncidentRow> {
  const { db: q, t } = shared(db);
  const [stored] = await q.insert(t.incidents).values(row).returning();
  if (!stored) throw new Error('no incident');
  return stored;
}

async function addAlert(db: AnyDb, row: Omit<typeof alerts.$inferInsert, 'id'>): Promise<AlertRow> {
  const { db: q, t } = shared(db);
  const [stored] = await q.insert(t.alerts).values(row).returning();
  if (!stored) throw new Error('no alert');
  return stored;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => expect.fail('expected the query to fail'),
    (err: unknown) => err,
  );
}

type Scenario = (db: AnyDb) => Promise<unknown>;

const scenarios: [string, Scenario][] = [
  [
    'tokens: insert, get, list with filters, search, paging; update, delete, bulk action',
    async (db) => {
      await insertToken(db, { id: 'tok-a', kind: 'web-bug', name: 'Finance share bug', location: '\\\\fs01\\Finance\\Q3', plantedHost: 'FS01', createdAt: at(1), tags: ['finance'], alertEmails: ['soc@corp.example'] });
      await insertToken(db, { id: 'tok-b', kind: 'dns', name: 'HR resolver', location: '\\\\fs02\\hr', plantedHost: 'FS02', createdAt: at(2), lookupKey: 'key-b' });
      await insertToken(db, { id: 'tok-c', kind: 'web-bug', name: 'Budget 50%_final', location: 'Zürich office', createdAt: at(3), enabled: false });
      await insertToken(db, { id: 'tok-d', kind: 'redirect', name: 'wiki link', plantedHost: 'WIKI01', createdAt: at(4), params: { target: 'https://wiki.example/' } });
      await insertToken(db, { id: 'tok-e', kind: 'web-bug', name: 'old decoy', createdAt: at(0) });
      const ids = async (f: Partial<Parameters<typeof listTokens>[1]>) => {
        const { items, total } = await listTokens(db, { limit: 50, offset: 0, ...f });
        return { ids: items.map((x) => x.id), total };
      };
      const lists = {
        all: await ids({}),
        webBug: await ids({ kind: 'web-bug' }),
        disabled: await ids({ enabled: false }),
        location: await ids({ location: 'finance' }),
        host: await ids({ q: 'fs0' }),
        percent: await ids({ q: '%' }),
        underscore: await ids({ q: '_' }),
        asciiFold: await ids({ q: 'züRICH' }),
        noUnicodeFold: await ids({ q: 'ZÜRICH' }),
        page: await ids({ limit: 2, offset: 1 }),
      };
      expect(lists.all).toEqual({ ids: ['tok-d', 'tok-c', 'tok-b', 'tok-a', 'tok-e'], total: 5 });
      expect(lists.webBug.ids).toEqual(['tok-c', 'tok-a', 'tok-e']);
      expect(lists.disabled.ids).toEqual(['tok-c']);
      // SQLite's LIKE folds ASCII letters only; PostgreSQL must answer the same.
      expect(lists.location.ids).toEqual(['tok-a']);
      expect(lists.host.ids).toEqual(['tok-b', 'tok-a']);
      expect(lists.percent.ids).toEqual(['tok-c']);
      expect(lists.underscore.ids).toEqual(['tok-c']);
      expect(lists.asciiFold.ids).toEqual(['tok-c']);
      expect(lists.noUnicodeFold.ids).toEqual([]);
      expect(lists.page).toEqual({ ids: ['tok-c', 'tok-b'], total: 5 });

      const fetched = await getToken(db, 'tok-a');
      expect(fetched).toMatchObject({ id: 'tok-a', tags: ['finance'], alertEmails: ['soc@corp.example'], enabled: true, hitCount: 0, params: {}, createdAt: at(1) });
      expect(await getToken(db, 'nope')).toBeUndefined();

      const updated = await updateToken(db, 'tok-b', { name: 'HR resolver 2', tags: ['hr'], expiresAt: at(60) });
      expect(updated).toMatchObject({ name: 'HR resolver 2', tags: ['hr'], expiresAt: at(60) });
      expect(updated?.updatedAt).toBeInstanceOf(Date);
      expect(await deleteToken(db, 'tok-d')).toBe(true);
      expect(await deleteToken(db, 'tok-d')).toBe(false);
      expect(await getToken(db, 'tok-d')).toBeUndefined();
      expect(await updateToken(db, 'tok-d', { name: 'ghost' })).toBeUndefined();
      expect(await liveTokenIds(db, ['tok-a', 'tok-d', 'nope'])).toEqual(['tok-a']);

      const entry = (id: string) => ({ actor: 'test', action: 'token.update', targetType: 'token', targetId: id, details: { fields: ['enabled'] } });
      expect(await applyTokenAction(db, ['tok-a', 'tok-b'], 'disable', [entry('tok-a'), entry('tok-b')])).toBe(2);
      expect(await applyTokenAction(db, ['tok-e'], 'delete', [{ actor: 'test', action: 'token.delete', targetType: 'token', targetId: 'tok-e' }])).toBe(1);
      const after = await ids({});
      expect(after).toEqual({ ids: ['tok-c', 'tok-b', 'tok-a'], total: 3 });
      expect((await getToken(db, 'tok-a'))?.enabled).toBe(false);
      // The service's bulk action: an id that is not a live token fails the lot before anything changes.
      await expect(bulkTokenAction(db, ['tok-a', 'tok-d'], 'enable', { id: 'test' })).rejects.toMatchObject({ code: 'not_found' });
      expect((await getToken(db, 'tok-a'))?.enabled).toBe(false);

      const duplicate = await rejection(insertToken(db, { id: 'tok-f', kind: 'dns', name: 'same key', lookupKey: 'key-b' }));
      expect(isUniqueViolation(duplicate)).toBe(true);
      expect(isUniqueViolation(new Error('UNIQUE in a message is not enough'))).toBe(false);

      const row = await getToken(db, 'tok-b');
      return { lists, after, tokB: { ...row, updatedAt: stamp(row?.updatedAt) }, tokA: { ...fetched, updatedAt: stamp(fetched?.updatedAt) } };
    },
  ],
  [
    'hits: list by token, time, cursors, classification and order; get; admin tables',
    async (db) => {
      await insertToken(db, { id: 'hit-1', kind: 'web-bug', name: 'hit one', location: 'L1', plantedHost: 'H1', createdAt: at(5) });
      await insertToken(db, { id: 'hit-2', kind: 'dns', name: 'hit two', createdAt: at(6) });
      const stored = await addHits(db, [
        { tokenId: 'hit-1', channel: 'http', at: at(10), sourceIp: '10.1.2.3', method: 'GET', path: '/a', headers: { host: 'x', 'user-agent': 'curl' }, details: { z: 1, a: [true, null] } },
        { tokenId: 'hit-1', channel: 'http', at: at(11), sourceIp: '10.1.2.3', classification: 'scanner', userAgent: 'Slackbot' },
        { tokenId: 'hit-2', channel: 'dns', at: at(12), sourceIp: '10.0.0.53', qname: 'x.hit-2.t.example', qtype: 'A' },
        { tokenId: 'hit-1', channel: 'smtp', at: at(13), mailFrom: 'a@x.example', mailSubject: 'hi', credential: 'user1', repeatCount: 3, lastAt: at(14), intel: ['APT-X'] },
      ]);
      expect(stored.map((h) => h.tokenId)).toEqual(['hit-1', 'hit-1', 'hit-2', 'hit-1']);
      const ids = (rows: { id: number }[]) => rows.map((r) => r.id);
      const [h1, h2, h3, h4] = ids(stored);
      const lists = {
        token: ids(await listHits(db, { tokenId: 'hit-1', limit: 10 })),
        since: ids(await listHits(db, { since: at(11), limit: 10 })),
        after: ids(await listHits(db, { afterId: h1, order: 'asc', limit: 2 })),
        before: ids(await listHits(db, { beforeId: h4, limit: 10 })),
        scanner: ids(await listHits(db, { classification: 'scanner', limit: 10 })),
        incident: ids(await listHits(db, { incidentId: 999, limit: 10 })),
        tokenPage: ids(await tokenHits(db, 'hit-1', 2)),
        tokenOlder: ids(await tokenHits(db, 'hit-1', 2, h4)),
      };
      expect(lists).toEqual({
        token: [h4, h2, h1],
        since: [h4, h3, h2],
        after: [h2, h3],
        before: [h3, h2, h1],
        scanner: [h2],
        incident: [],
        tokenPage: [h4, h2],
        tokenOlder: [h2, h1],
      });
      const recent = await recentHits(db, 2);
      expect(recent.map((r) => [r.hit.id, r.token])).toEqual([
        [h4, { id: 'hit-1', name: 'hit one', kind: 'web-bug', location: 'L1', plantedHost: 'H1', params: {} }],
        [h3, { id: 'hit-2', name: 'hit two', kind: 'dns', location: null, plantedHost: null, params: {} }],
      ]);
      const one = await getHit(db, h1 ?? 0);
      expect(one).toMatchObject({ at: at(10), headers: { host: 'x', 'user-agent': 'curl' }, details: { z: 1, a: [true, null] }, classification: 'alert', repeatCount: 1, incidentId: null, intel: null });
      expect(await getHit(db, h4 ?? 0)).toMatchObject({ credential: 'user1', repeatCount: 3, lastAt: at(14), intel: ['APT-X'] });
      expect(await getHit(db, 999_999)).toBeUndefined();
      return { lists, recent, one, all: await listHits(db, { limit: 100, order: 'asc' }) };
    },
  ],
  [
    'incidents: list, page, filter, get, status; trail, sample, alert range, counts, export pages',
    async (db) => {
      await insertToken(db, { id: 'inc-a', kind: 'credentials', name: 'creds A', location: '\\\\fs01\\it', plantedHost: 'FS01', createdAt: at(7) });
      await insertToken(db, { id: 'inc-b', kind: 'web-bug', name: 'bug B', location: '\\\\fs02\\hr', plantedHost: 'FS02', createdAt: at(8) });
      const first = await addIncident(db, { actorKey: 'ip:10.1.2.3', actorLabel: '10.1.2.3', firstAt: at(20), lastAt: at(26), hitCount: 5, tokenCount: 2, hostCount: 2, locationCount: 2, severity: 'high', status: 'open', lateral: true, techniques: ['T1078', 'T1021'], summary: 'decoys on 2 different hosts touched' });
      const second = await addIncident(db, { actorKey: 'ip:10.9.9.9', firstAt: at(30), lastAt: at(30), hitCount: 1, tokenCount: 1, severity: 'medium', status: 'acknowledged' });
      const third = await addIncident(db, { actorKey: 'resolver:10.0.0.53', firstAt: at(15), lastAt: at(40), severity: 'low', status: 'closed' });
      const trailHits = await addHits(db, [
        { tokenId: 'inc-a', channel: 'http', at: at(20), sourceIp: '10.1.2.3', credential: 'svc_backup', method: 'POST', path: '/login' },
        { tokenId: 'inc-b', channel: 'http', at: at(22), sourceIp: '10.1.2.3', path: '/img.png' },
        // Same time as the next one: the trail breaks the tie by id.
        { tokenId: 'inc-b', channel: 'http', at: at(24), sourceIp: '10.1.2.3', classification: 'scanner', path: '/again' },
        { tokenId: 'inc-a', channel: 'http', at: at(24), sourceIp: '10.1.2.3', credential: 'admin', method: 'POST', path: '/login' },
        { tokenId: 'inc-a', channel: 'http', at: at(21), sourceIp: '10.1.2.3', path: '/late-but-early' },
        { tokenId: 'inc-b', channel: 'http', at: at(30), sourceIp: '10.9.9.9', path: '/other' },
      ]);
      const ids = trailHits.map((h) => h.id);
      for (const h of trailHits.slice(0, 5)) await setHitIncident(db, h.id, first.id);
      await setHitIncident(db, ids[5] ?? 0, second.id);

      const page = (r: { items: IncidentRow[]; total: number }) => ({ ids: r.items.map((i) => i.id), total: r.total });
      const lists = {
        all: page(await listIncidents(db, { limit: 10 })),
        open: page(await listIncidents(db, { status: 'open', limit: 10 })),
        high: page(await listIncidents(db, { severity: 'high', limit: 10 })),
        before: page(await listIncidents(db, { beforeId: third.id, limit: 1 })),
        active: page(await listIncidentPage(db, { status: 'active', limit: 10, offset: 0 })),
        activeOffset: page(await listIncidentPage(db, { status: 'active', limit: 10, offset: 1 })),
        closed: page(await listIncidentPage(db, { status: 'closed', limit: 10, offset: 0 })),
        bySeverity: await openIncidentsBySeverity(db),
      };
      expect(lists).toEqual({
        all: { ids: [third.id, second.id, first.id], total: 3 },
        open: { ids: [first.id], total: 1 },
        high: { ids: [first.id], total: 1 },
        before: { ids: [second.id], total: 3 },
        active: { ids: [second.id, first.id], total: 2 },
        activeOffset: { ids: [first.id], total: 2 },
        closed: { ids: [third.id], total: 1 },
        bySeverity: { low: 0, medium: 1, high: 1, critical: 0 },
      });
      expect(await getIncident(db, first.id)).toEqual(first);
      expect(first).toMatchObject({ lateral: true, techniques: ['T1078', 'T1021'], firstAt: at(20), hitCount: 5 });
      const acknowledged = await setIncidentStatus(db, first.id, 'acknowledged');
      expect(acknowledged?.status).toBe('acknowledged');
      expect(await setIncidentStatus(db, 999, 'closed')).toBeUndefined();

      const trail = await incidentTrail(db, first.id);
      expect(trail.map((e) => e.hit.id)).toEqual([ids[0], ids[4], ids[1], ids[2], ids[3]]);
      expect(trail[0]?.token).toEqual({ id: 'inc-a', kind: 'credentials', name: 'creds A', location: '\\\\fs01\\it', plantedHost: 'FS01', params: {} });
      expect((await incidentTrail(db, first.id, 2)).map((e) => e.hit.id)).toEqual([ids[0], ids[4]]);
      // head 1 and tail 1, plus the first hit of each decoy and of each credential.
      const sample = await incidentTrailSample(db, first.id, 1, 1);
      expect({ ids: sample.entries.map((e) => e.hit.id), total: sample.total }).toEqual({ ids: [ids[0], ids[1], ids[3], ids[4]], total: 5 });
      const between = await incidentHitsBetween(db, first.id, ids[1] ?? 0, ids[4] ?? 0, ['alert']);
      expect(between.map((e) => e.hit.id)).toEqual([ids[1], ids[3], ids[4]]);
      expect(await countIncidentHits(db, first.id)).toBe(5);
      expect(await countIncidentHits(db, third.id)).toBe(0);

      const exportPages = {
        all: (await incidentsAfter(db, { afterId: 0, limit: 10 })).map((i) => i.id),
        after: (await incidentsAfter(db, { afterId: first.id, limit: 1 })).map((i) => i.id),
        since: (await incidentsAfter(db, { afterId: 0, since: at(30), limit: 10 })).map((i) => i.id),
        closed: (await incidentsAfter(db, { afterId: 0, status: 'closed', limit: 10 })).map((i) => i.id),
        hitIds: await incidentHitIds(db, first.id),
      };
      expect(exportPages).toEqual({ all: [first.id, second.id, third.id], after: [second.id], since: [second.id, third.id], closed: [third.id], hitIds: ids.slice(0, 5) });
      return { lists, trail, sample, between, exportPages, incident: { ...acknowledged, updatedAt: stamp(acknowledged?.updatedAt) } };
    },
  ],
  [
    'alerts: list, get, per incident, failures; finish only by the claimant; drill rows; alert view',
    async (db) => {
      const [incident] = (await listIncidents(db, { severity: 'high', limit: 1 })).items;
      if (!incident) throw new Error('the incidents scenario runs first');
      const hitIds = await incidentHitIds(db, incident.id);
      const payload = { firstHitId: hitIds[0] ?? 0, lastHitId: hitIds[hitIds.length - 1] ?? 0, hitCount: hitIds.length, scheduledAt: T0 };
      const base = { incidentId: incident.id, channel: 'email' as const, target: 'soc@corp.example', nextAttemptAt: at(50), payload };
      const pending = await addAlert(db, { ...base, status: 'pending', idempotencyKey: 'k-pending' });
      const failed = await addAlert(db, { ...base, channel: 'webhook', target: 'https://hooks.example/x', status: 'failed', attempts: 2, lastError: 'HTTP 500', idempotencyKey: 'k-failed' });
      const dead = await addAlert(db, { ...base, status: 'dead', attempts: 9, lastError: 'gave up', idempotencyKey: 'k-dead' });
      const sending = await addAlert(db, { ...base, kind: 'digest', status: 'sending', attempts: 1, claimedBy: 'w1', claimedUntil: at(55), idempotencyKey: 'k-sending' });
      const ids = (rows: AlertRow[]) => rows.map((r) => r.id);
      const lists = {
        all: ids(await listAlerts(db, { limit: 10 })),
        failed: ids(await listAlerts(db, { status: 'failed', limit: 10 })),
        incident: ids(await listAlerts(db, { incidentId: incident.id, beforeId: sending.id, limit: 2 })),
        log: ids(await incidentAlerts(db, incident.id)),
        problems: await failedAlerts(db, 1).then((r) => ({ ids: ids(r.items), total: r.total })),
      };
      expect(lists).toEqual({
        all: [sending.id, dead.id, failed.id, pending.id],
        failed: [failed.id],
        incident: [dead.id, failed.id],
        log: [pending.id, failed.id, dead.id, sending.id],
        problems: { ids: [dead.id], total: 2 },
      });
      expect(await getAlert(db, pending.id)).toEqual(pending);
      expect(pending).toMatchObject({ kind: 'first', attempts: 0, payload, nextAttemptAt: at(50), claimedBy: null });

      expect(await finishAlert(db, sending.id, 'w2', { status: 'sent' })).toBe(false);
      expect(await finishAlert(db, pending.id, 'w1', { status: 'sent' })).toBe(false);
      expect(await finishAlert(db, sending.id, 'w1', { status: 'failed', error: 'timeout', nextAttemptAt: at(70).getTime(), result: { ok: false, status: '421', error: 'timeout' } })).toBe(true);
      expect(await finishAlert(db, sending.id, 'w1', { status: 'sent' })).toBe(false);
      const finished = await getAlert(db, sending.id);
      const lastResult = (finished?.payload as { lastResult?: Record<string, unknown> }).lastResult;
      expect(finished).toMatchObject({ status: 'failed', lastError: 'timeout', claimedBy: null, claimedUntil: null, nextAttemptAt: at(70), payload: { ...payload, lastResult: { ok: false, status: '421', error: 'timeout' } } });
      expect(typeof lastResult?.at).toBe('string');

      const drill = await insertFinishedAlert(db, { channel: 'webhook', target: 'https://hooks.example/drill', key: 'test:1', ok: true, payload: { drill: true } });
      expect(drill).toMatchObject({ kind: 'test', status: 'sent', attempts: 1, incidentId: null, payload: { drill: true } });

      const view = await buildAlertView(db, { ADMIN_URL: 'https://admin.example', ALERT_ON_CLASSIFICATIONS: ['alert'], ALERT_GROUP_WINDOW: 600_000 }, pending);
      expect(view?.subject).toBe('[Honeytrail #1] [HIGH] Lateral movement: 10.1.2.3');
      expect(view?.trail.map((l) => l.hitId)).toEqual(hitIds);
      expect(view?.newHits.map((l) => l.hitId)).toEqual(hitIds.filter((_, i) => i !== 2));
      const scrub = (a: AlertRow | undefined) => a && { ...a, createdAt: stamp(a.createdAt), sentAt: stamp(a.sentAt), nextAttemptAt: a.kind === 'test' ? stamp(a.nextAttemptAt) : a.nextAttemptAt };
      const noAt = (a: AlertRow | undefined) => a && { ...scrub(a), payload: { ...a.payload, lastResult: { ...lastResult, at: 'set' } } };
      return { lists, finished: noAt(finished), drill: scrub(drill), view };
    },
  ],
  [
    'assets: insert, import, list in SQLite order, get, update, delete; lookup by address and host name',
    async (db) => {
      const bHost = await insertAsset(db, { label: 'b-host', cidr: ' 10.0.0.0/8 ' });
      const alphaNet = await insertAsset(db, { label: 'Alpha', cidr: '10.1.0.0/16', segment: 'Servers' });
      const alphaHost = await insertAsset(db, { label: 'alpha', cidr: '10.1.2.3', hostname: ' ws-07.corp.example', segment: 'servers', criticality: 'high' });
      expect(bHost).toMatchObject({ cidr: '10.0.0.0/8', criticality: 'medium', segment: null });
      expect(alphaHost.hostname).toBe('ws-07.corp.example');
      expect(await insertAssets(db, [{ label: 'Zeta', cidr: '192.168.0.0/24', segment: 'Guest' }, { label: '_lab', hostname: 'LAB01', segment: 'Lab', criticality: 'critical' }])).toBe(2);
      expect(await insertAssets(db, [])).toBe(0);
      const labels = async (limit?: number, offset?: number) => {
        const r = await listAssets(db, limit, offset);
        return { labels: r.items.map((a) => a.label), total: r.total };
      };
      // SQLite order: NULLs first, then bytewise (upper case before lower case).
      const listed = { all: await labels(), page: await labels(2, 1) };
      expect(listed).toEqual({ all: { labels: ['b-host', 'Zeta', '_lab', 'Alpha', 'alpha'], total: 5 }, page: { labels: ['Zeta', '_lab'], total: 5 } });
      expect(await getAsset(db, alphaNet.id)).toEqual(alphaNet);
      const moved = await updateAsset(db, alphaNet.id, { segment: 'DMZ', cidr: ' 10.1.0.0/16' });
      expect(moved).toMatchObject({ segment: 'DMZ', cidr: '10.1.0.0/16', label: 'Alpha' });
      expect(await updateAsset(db, 999, { label: 'x' })).toBeUndefined();
      const lookups = {
        exact: (await assetForIp(db, '10.1.2.3'))?.label,
        net: (await assetForIp(db, '10.1.9.9'))?.label,
        mapped: (await assetForIp(db, '::ffff:10.200.0.1'))?.label,
        none: (await assetForIp(db, '192.0.2.1'))?.label ?? null,
        bad: (await assetForIp(db, 'not-an-ip'))?.label ?? null,
        host: (await assetForHost(db, 'WS-07'))?.label,
        fqdn: (await assetForHost(db, 'lab01.corp.example'))?.label,
        unknown: (await assetForHost(db, 'nas'))?.label ?? null,
      };
      expect(lookups).toEqual({ exact: 'alpha', net: 'Alpha', mapped: 'b-host', none: null, bad: null, host: 'alpha', fqdn: '_lab', unknown: null });
      expect(await deleteAsset(db, bHost.id)).toBe(true);
      expect(await deleteAsset(db, bHost.id)).toBe(false);
      expect(await getAsset(db, bHost.id)).toBeUndefined();
      const rows = (await allAssets(db)).map((a) => ({ ...a, createdAt: stamp(a.createdAt) }));
      expect(rows.map((a) => a.label)).toEqual(['Alpha', 'alpha', 'Zeta', '_lab']);
      return { listed, lookups, rows, after: await labels() };
    },
  ],
  [
    'first run: a setup link valid until used, taken by exactly one of two forms sent at once',
    async (db) => {
      const run = await ensureFirstAdmin(db, testConfig(tmpdir()), silentLog, 'https://admin.example');
      if (run.kind !== 'setup') return expect.fail(`expected a setup link, got ${run.kind}`);
      const token = new URL(run.url).searchParams.get('token') ?? '';
      expect(await setupTokenValid(db, 'guess')).toBe(false);
      expect(await setupTokenValid(db, token)).toBe(true);
      const taken = await Promise.all([consumeSetupToken(db), consumeSetupToken(db)]);
      expect([...taken].sort()).toEqual([false, true]);
      expect(await setupTokenValid(db, token)).toBe(false);
      return { kind: run.kind, taken: [...taken].sort() };
    },
  ],
  [
    'users, sessions and API keys',
    async (db) => {
      expect(await countUsers(db)).toBe(0);
      const admin = await insertUser(db, 'Admin@Corp.Example', 'hash-1');
      expect(admin).toMatchObject({ email: 'admin@corp.example', role: 'admin', lastLoginAt: null });
      const two = await insertUser(db, 'two@corp.example', 'hash-2');
      expect(isUniqueViolation(await rejection(insertUser(db, 'TWO@corp.example', 'hash-3')))).toBe(true);
      expect((await findUserByEmail(db, 'ADMIN@corp.example'))?.id).toBe(admin.id);
      expect(await findUserByEmail(db, 'nobody@corp.example')).toBeUndefined();
      expect(await getUser(db, two.id)).toEqual(two);
      await markLogin(db, admin.id);
      expect((await getUser(db, admin.id))?.lastLoginAt).toBeInstanceOf(Date);
      const users = (await listUsers(db)).map((u) => u.email);
      expect(users).toEqual(['admin@corp.example', 'two@corp.example']);

      const now = Date.now();
      const live = await insertSession(db, { id: 'sess-live', userId: two.id, csrfToken: 'c1', expiresAt: new Date(now + 3600_000), lastSeenAt: new Date(now), ip: '10.0.0.1', userAgent: 'ua' });
      await insertSession(db, { id: 'sess-expired', userId: two.id, csrfToken: 'c2', expiresAt: new Date(now - 1000), lastSeenAt: new Date(now - 2000) });
      await insertSession(db, { id: 'sess-idle', userId: admin.id, csrfToken: 'c3', expiresAt: new Date(now + 3600_000), lastSeenAt: new Date(now - 3600_000) });
      await insertSession(db, { id: 'sess-admin', userId: admin.id, csrfToken: 'c4', expiresAt: new Date(now + 3600_000), lastSeenAt: new Date(now) });
      expect(live).toMatchObject({ id: 'sess-live', csrfToken: 'c1', ip: '10.0.0.1' });
      await touchSession(db, 'sess-live', new Date(now + 5000));
      expect((await getSession(db, 'sess-live'))?.lastSeenAt).toEqual(new Date(now + 5000));
      expect(await purgeSessions(db, new Date(now), new Date(now - 1800_000))).toBe(2);
      expect(await getSession(db, 'sess-expired')).toBeUndefined();
      expect(await getSession(db, 'sess-idle')).toBeUndefined();
      await deleteSession(db, 'sess-admin');
      expect(await getSession(db, 'sess-admin')).toBeUndefined();
      expect(await deleteUser(db, two.id)).toBe(true);
      expect(await deleteUser(db, two.id)).toBe(false);
      // Sessions go with their user (foreign key cascade).
      expect(await getSession(db, 'sess-live')).toBeUndefined();
      expect(await countUsers(db)).toBe(1);

      const key = 'ht_fixed_key_for_the_shared_query_test_0001';
      const created = await createApiKey(db, 'SIEM', 'test', key);
      expect(created.key).toBe(key);
      expect(created.row).toMatchObject({ name: 'SIEM', prefix: 'ht_fixed', createdBy: 'test', lastUsedAt: null, revokedAt: null });
      expect((await findActiveApiKey(db, key))?.id).toBe(created.row.id);
      expect(await findActiveApiKey(db, `${key}x`)).toBeUndefined();
      await markApiKeyUsed(db, created.row.id);
      expect((await findActiveApiKey(db, key))?.lastUsedAt).toBeInstanceOf(Date);
      const other = await createApiKey(db, 'CI', 'test');
      expect(other.key).toMatch(/^ht_/);
      expect(await countApiKeys(db)).toBe(2);
      expect(await revokeApiKey(db, created.row.id)).toBe(true);
      expect(await revokeApiKey(db, created.row.id)).toBe(false);
      expect(await findActiveApiKey(db, key)).toBeUndefined();
      const keys = (await listApiKeys(db)).map((k) => ({ name: k.name, revoked: stamp(k.revokedAt), used: stamp(k.lastUsedAt) }));
      expect(keys.map((k) => k.name).sort()).toEqual(['CI', 'SIEM']);
      return { users, keys: keys.sort((a, b) => a.name.localeCompare(b.name)), count: await countUsers(db), keyCount: await countApiKeys(db) };
    },
  ],
  [
    'settings: get, upsert, take once, delete',
    async (db) => {
      expect(await getSetting(db, 'cursor')).toBeUndefined();
      await setSetting(db, 'cursor', 41);
      await setSetting(db, 'cursor', 42);
      await setSetting(db, 'doc', { list: [1, 'two', null], nested: { ok: true }, text: 'ünïcode' });
      await setSetting(db, 'word', 'plain');
      const values = { cursor: await getSetting<number>(db, 'cursor'), doc: await getSetting(db, 'doc'), word: await getSetting(db, 'word') };
      expect(values).toEqual({ cursor: 42, doc: { list: [1, 'two', null], nested: { ok: true }, text: 'ünïcode' }, word: 'plain' });
      const taken = await Promise.all([takeSetting(db, 'doc'), takeSetting(db, 'doc')]);
      expect(taken.filter((v) => v !== undefined)).toHaveLength(1);
      await deleteSetting(db, 'cursor');
      expect(await getSetting(db, 'cursor')).toBeUndefined();
      return { values, taken: taken.filter((v) => v !== undefined), word: await getSetting(db, 'word') };
    },
  ],
  [
    'audit log: write, list newest first in pages, count',
    async (db) => {
      const before = await countAudit(db);
      expect(before).toBe(3); // the tokens scenario's bulk actions
      await audit(db, { actor: 'user:a@corp.example', action: 'token.create', targetType: 'token', targetId: 'tok-a', ip: '10.0.0.1', details: { kind: 'web-bug' } });
      await audit(db, { actor: 'system', action: 'user.bootstrap' });
      await audit(db, { actor: 'api-key:x', action: 'export.hits', details: { format: 'csv' } });
      expect(await countAudit(db)).toBe(before + 3);
      const page = (rows: Awaited<ReturnType<typeof listAudit>>) => rows.map((e) => ({ ...e, at: stamp(e.at) }));
      const first = page(await listAudit(db, 2, 0));
      const second = page(await listAudit(db, 2, 2));
      expect(first.map((e) => e.action)).toEqual(['export.hits', 'user.bootstrap']);
      expect(second.map((e) => e.action)).toEqual(['token.create', 'token.delete']);
      expect(second[0]).toMatchObject({ targetType: 'token', targetId: 'tok-a', ip: '10.0.0.1', details: { kind: 'web-bug' } });
      expect(first[1]).toMatchObject({ targetType: null, targetId: null, ip: null, details: null });
      return { first, second, all: page(await listAudit(db, 100, 0)) };
    },
  ],
  [
    'threat intel: import (duplicates skipped, in chunks), summary, version, delete',
    async (db) => {
      const v0 = await intelVersion(db);
      expect(v0).toBe('0:0');
      const list: NewIndicator[] = [
        { type: 'ip', value: '203.0.113.7', label: 'APT-X', source: 'feed' },
        { type: 'cidr', value: '198.51.100.0/24', label: 'APT-X' },
        { type: 'domain', value: 'evil.example', label: 'APT-X' },
        { type: 'email', value: 'boss@evil.example', label: 'Phish' },
        { type: 'ip', value: '203.0.113.7', label: 'APT-X', source: 'feed' },
      ];
      expect(await importIndicators(db, list)).toBe(4);
      expect(await importIndicators(db, [...list, { type: 'ip', value: '203.0.113.7', label: 'Phish' }])).toBe(1);
      const many = Array.from({ length: 2500 }, (_, i): NewIndicator => ({ type: 'ip', value: `192.0.2.${i % 250}`, label: `Bulk-${Math.floor(i / 250)}` }));
      expect(await importIndicators(db, many)).toBe(2500);
      expect(await importIndicators(db, [])).toBe(0);
      const summary = await intelSummary(db);
      expect(summary.slice(0, 4)).toEqual([
        { label: 'APT-X', type: 'cidr', purpose: 'threat', count: 1 },
        { label: 'APT-X', type: 'domain', purpose: 'threat', count: 1 },
        { label: 'APT-X', type: 'ip', purpose: 'threat', count: 1 },
        { label: 'Bulk-0', type: 'ip', purpose: 'threat', count: 250 },
      ]);
      expect(summary.at(-1)).toEqual({ label: 'Phish', type: 'ip', purpose: 'threat', count: 1 });
      // A link checker's ranges are kept apart from threat intel by their purpose.
      expect(await importIndicators(db, [{ type: 'cidr', value: '40.107.0.0/16', label: 'EOP', purpose: 'scanner' }])).toBe(1);
      expect((await intelSummary(db)).find((x) => x.label === 'EOP')).toEqual({ label: 'EOP', type: 'cidr', purpose: 'scanner', count: 1 });
      expect(await deleteIndicatorsByLabel(db, 'EOP')).toBe(1);
      const v1 = await intelVersion(db);
      expect(v1.split(':')[0]).toBe('2505');
      expect(await deleteIndicatorsByLabel(db, 'Phish')).toBe(2);
      expect(await deleteIndicatorsByLabel(db, 'Phish')).toBe(0);
      const v2 = await intelVersion(db);
      expect(v2).not.toBe(v1);
      const rows = (await allIndicators(db)).slice(0, 4).map(({ type, value, label, source }) => ({ type, value, label, source }));
      expect(rows).toEqual([
        { type: 'ip', value: '203.0.113.7', label: 'APT-X', source: 'feed' },
        { type: 'cidr', value: '198.51.100.0/24', label: 'APT-X', source: null },
        { type: 'domain', value: 'evil.example', label: 'APT-X', source: null },
        { type: 'ip', value: '192.0.2.0', label: 'Bulk-0', source: null },
      ]);
      // Ids may have gaps on PostgreSQL (a skipped duplicate still takes a sequence value): only the count is compared.
      return { summary, rows, counts: [v0, v1, v2].map((v) => v.split(':')[0]) };
    },
  ],
  [
    'atomic writes: a failing statement or import chunk leaves nothing behind',
    async (db) => {
      const failed = await rejection(
        atomically(db, ({ db: q, t }) => [q.insert(t.settings).values({ key: 'atomic', value: 1 }), q.insert(t.settings).values({ key: 'atomic', value: 2 })]),
      );
      expect(isUniqueViolation(failed)).toBe(true);
      expect(await getSetting(db, 'atomic')).toBeUndefined();
      const before = (await listAssets(db)).total;
      const rows = Array.from({ length: 1500 }, (_, i) => ({ label: i === 1400 ? (null as unknown as string) : `bulk-${i}`, cidr: `10.250.${Math.floor(i / 250)}.${i % 250}` }));
      await rejection(insertAssets(db, rows));
      expect((await listAssets(db)).total).toBe(before);
      expect(await atomically(db, ({ db: q, t }) => [q.insert(t.settings).values({ key: 'atomic', value: 3 }), q.update(t.settings).set({ value: 4 }).where(sql`1 = 0`)])).toEqual([1, 0]);
      expect(await getSetting(db, 'atomic')).toBe(3);
      return { assets: before, atomic: await getSetting(db, 'atomic') };
    },
  ],
  [
    'exports and metrics over everything above',
    async (db) => {
      const csv: string[] = [];
      for await (const line of hitsCsv(db, {})) csv.push(line);
      expect(csv).toHaveLength(11);
      expect(csv[1]).toContain('hit-1');
      const incidents: unknown[] = [];
      for await (const line of incidentsJsonl(db, {}, 'https://admin.example')) incidents.push(JSON.parse(line));
      expect(incidents).toHaveLength(3);
      expect(incidents[0]).toMatchObject({ status: 'acknowledged', lateral: true, lateralReasons: ['decoys on 2 different hosts touched'], hitIds: expect.any(Array) });
      const metrics = await metricCounts(db);
      expect(metrics.tokens).toEqual([
        { kind: 'credentials', enabled: true, n: 1 },
        { kind: 'dns', enabled: false, n: 1 },
        { kind: 'dns', enabled: true, n: 1 },
        { kind: 'web-bug', enabled: false, n: 2 },
        { kind: 'web-bug', enabled: true, n: 2 },
      ]);
      expect(metrics.hits.find((r) => r.channel === 'smtp')).toEqual({ channel: 'smtp', classification: 'alert', n: 1, total: 3 });
      const neverFired = await neverTriggered(db, 3);
      return { csv, incidents, metrics, neverFired: { ids: neverFired.items.map((t) => t.id), total: neverFired.total } };
    },
  ],
];

const BACKENDS = [
  {
    name: 'SQLite',
    async open(): Promise<{ db: AnyDb; close(): Promise<void> }> {
      const t = testDb();
      return { db: t.db, close: async () => t.cleanup() };
    },
  },
  {
    name: 'PostgreSQL',
    async open(): Promise<{ db: AnyDb; close(): Promise<void> }> {
      const pgt = await createTestPg({ icuLocale: 'en-US' });
      const db = await openPostgres({ url: pgt.url, max: 4 });
      return {
        db,
        async close() {
          await closePostgres(db);
          await pgt.drop();
        },
      };
    },
  },
];

const results = new Map<string, Map<string, unknown>>();

describe.each(BACKENDS)('shared query functions on $name', ({ name, open }) => {
  let backend: Awaited<ReturnType<typeof open>>;
  const mine = new Map<string, unknown>();
  results.set(name, mine);
  beforeAll(async () => {
    backend = await open();
  });
  afterAll(() => backend.close());

  it('knows its dialect and hands out the matching tables', () => {
    const { t } = shared(backend.db);
    expect(isPg(backend.db)).toBe(name === 'PostgreSQL');
    expect(t.tokens === (pgSchema.tokens as unknown)).toBe(name === 'PostgreSQL');
  });

  it.each(scenarios)('%s', async (scenario, run) => {
    mine.set(scenario, await run(backend.db));
  });
});

describe('SQLite and PostgreSQL give the same results', () => {
  it.each(scenarios.map(([scenario]) => scenario))('%s', (scenario) => {
    const lite = results.get('SQLite')?.get(scenario);
    const pg = results.get('PostgreSQL')?.get(scenario);
    expect(lite, 'the SQLite run of this scenario').toBeDefined();
    expect(pg).toEqual(lite);
  });
});
