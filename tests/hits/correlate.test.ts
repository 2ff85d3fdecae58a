import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAlertPipeline } from '../../src/alerts/pipeline.ts';
import type { Db } from '../../src/db/client.ts';
import { listAlerts } from '../../src/db/queries/alerts.ts';
import { getHit } from '../../src/db/queries/hits.ts';
import { getIncident, listIncidents } from '../../src/db/queries/incidents.ts';
import type { HitRow } from '../../src/db/schema.ts';
import { createHitRecorder, type HitEvent } from '../../src/hits/record-hit.ts';
import type { Correlator } from '../../src/hits/correlate.ts';
import type { Token } from '../../src/tokens/kind.ts';
import { makeToken, silentLog, startTestServer, testConfig, testDb } from '../helpers.ts';

/**
 * Record first, correlate right after: a hit is committed on its own, then put on its
 * actor's trail (incident, outbox) in a second transaction. These tests pin what that
 * buys and what it must not cost: batches give the same trail as one-by-one hits, a failed
 * correlation loses no hit, and stored-but-uncorrelated hits are caught up exactly once.
 */
let t: ReturnType<typeof testDb>;
let db: Db;
beforeEach(() => {
  t = testDb();
  db = t.db;
});
afterEach(() => t.cleanup());

const config = () => testConfig(t.dir, { ALERT_WORKER_ENABLED: 'false', ALERT_TO: 'soc@corp.example' });

async function planted(name: string, host: string): Promise<Token> {
  const { token } = await makeToken(db, config(), { kind: 'web-bug', name, location: `\\\\${host}\\share\\${name}`, plantedHost: host });
  return token as Token;
}

const event = (token: Token, ip = '10.9.9.9'): HitEvent => ({ token, channel: 'http', sourceIp: ip, userAgent: 'Mozilla/5.0' });

describe('record first, correlate right after', () => {
  it('hits of one actor arriving in one batch give the same incident as the same hits one by one', async () => {
    // Two decoys share a host: the batch must count it once although neither hit is on the trail in the database yet.
    const tokens = await Promise.all([planted('a', 'FS01'), planted('b', 'FS02'), planted('c', 'fs02')]);
    const p = createAlertPipeline({ db, config: config(), log: silentLog });
    const r = createHitRecorder({ db, log: silentLog, correlator: p.correlator, classify: p.classify });
    // One event-loop turn: one commit for all six hits, one correlation for all of them.
    const batch = await Promise.all([...tokens, ...tokens].map((tok) => r.record(event(tok))));
    expect(r.stats.batches).toBe(1);
    const ids = new Set(batch.map((h) => h.incidentId));
    expect(ids.size).toBe(1);
    const inc = await getIncident(db, batch[0]?.incidentId ?? -1);
    // Three decoys in two shares on two file servers, read from one source: collection, not lateral movement.
    expect(inc).toMatchObject({ hitCount: 6, tokenCount: 3, hostCount: 2, locationCount: 2, machineCount: 1, severity: 'high', lateral: false });
    // Stored, not only in memory.
    for (const h of batch) expect((await getHit(db, h.id))?.incidentId).toBe(inc?.id);

    // A second actor, one hit at a time, same decoys: the same trail numbers.
    for (const tok of [...tokens, ...tokens]) await r.record(event(tok, '10.8.8.8'));
    const [other] = (await listIncidents(db, { limit: 1 })).items;
    expect(other).toMatchObject({ actorKey: 'ip:10.8.8.8', hitCount: 6, tokenCount: 3, hostCount: 2, locationCount: 2, machineCount: 1, severity: 'high', lateral: false });
  });

  it('a failing correlation answers the hit (it is stored), then catches up: one incident, one alert per target', async () => {
    const tok = await planted('x', 'FS01');
    const p = createAlertPipeline({ db, config: config(), log: silentLog });
    let failures = 1;
    const flaky: Correlator = {
      correlate(batch) {
        if (failures-- > 0) throw new Error('database is locked');
        p.correlator.correlate(batch);
      },
      catchUp: () => p.correlator.catchUp(),
      catchUpSome: () => p.correlator.catchUpSome(),
    };
    const r = createHitRecorder({ db, log: silentLog, correlator: flaky, classify: p.classify });
    const hit: HitRow = await r.record(event(tok));
    expect(hit.id).toBeGreaterThan(0);
    expect(r.stats).toMatchObject({ hits: 1, failed: 0 });
    expect((await getHit(db, hit.id))?.incidentId).toBeNull();
    expect(await listAlerts(db, { limit: 10 })).toHaveLength(0);

    // The recorder retries from the database (first retry after 1 s).
    const deadline = Date.now() + 5000;
    while ((await getHit(db, hit.id))?.incidentId === null && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    const incidentId = (await getHit(db, hit.id))?.incidentId;
    expect(incidentId).toBeTypeOf('number');
    expect(await getIncident(db, incidentId ?? -1)).toMatchObject({ hitCount: 1, tokenCount: 1 });
    expect((await listAlerts(db, { limit: 10 })).map((a) => a.target)).toEqual(['soc@corp.example']);
    r.close();

    // Catching up again finds nothing left and queues nothing twice.
    expect(await p.correlator.catchUp()).toBe(0);
    expect(await listAlerts(db, { limit: 10 })).toHaveLength(1);
  });

  it('hits stored without correlation (a stop between the two commits) are correlated once, oldest first, by catchUp', async () => {
    const [a, b] = await Promise.all([planted('a', 'FS01'), planted('b', 'FS02')]);
    // A recorder without a correlator stores hits exactly as a process that died right after the hit commit left them.
    const bare = createHitRecorder({ db, log: silentLog });
    const stored = [await bare.record(event(a)), await bare.record(event(b)), await bare.record(event(a, '10.1.1.1'))];
    for (const h of stored) expect((await getHit(db, h.id))?.incidentId).toBeNull();

    const p = createAlertPipeline({ db, config: config(), log: silentLog });
    expect(await p.correlator.catchUp()).toBe(3);
    expect(await p.correlator.catchUp()).toBe(0);
    const [first, second, third] = await Promise.all(stored.map(async (h) => (await getHit(db, h.id))?.incidentId));
    expect(first).toBe(second);
    expect(third).not.toBe(first);
    expect(await getIncident(db, first ?? -1)).toMatchObject({ hitCount: 2, hostCount: 2, severity: 'high', lateral: false });
    // One first alert per incident and target, not one per catch-up.
    expect((await listAlerts(db, { limit: 10 })).map((x) => [x.incidentId, x.kind]).sort()).toEqual([
      [first, 'first'],
      [third, 'first'],
    ]);
  });

  it('a server started on hits without trails correlates them in the background, in bounded batches, once', async () => {
    const [a, b] = await Promise.all([planted('a', 'FS01'), planted('b', 'FS02')]);
    const bare = createHitRecorder({ db, log: silentLog });
    // 1,200 hits (three catch-up batches) from two sources, stored as a crashed process would leave them.
    for (let i = 0; i < 1200; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => bare.record(event(i + j < 600 ? a : b, (i + j) % 2 ? '10.9.9.9' : '10.8.8.8'))));
    }
    t.db.$client.close();
    // This test is about the SQLite file it seeded (whatever database the suite runs its servers on).
    const s = await startTestServer({ ALERT_WORKER_ENABLED: 'false', ALERT_TO: 'soc@corp.example' }, t.dir, { sqlite: true });
    try {
      const uncorrelated = () => s.app.deps.db.$client.prepare('select count(*) as n from hits where incident_id is null').get() as { n: number };
      for (let i = 0; i < 100 && uncorrelated().n > 0; i++) await new Promise((res) => setTimeout(res, 50));
      expect(uncorrelated().n).toBe(0);
      const incidents = (await listIncidents(s.app.deps.db, { limit: 10 })).items;
      expect(incidents.map((x) => [x.actorKey, x.hitCount, x.hostCount]).sort()).toEqual([
        ['ip:10.8.8.8', 600, 2],
        ['ip:10.9.9.9', 600, 2],
      ]);
      expect((await listAlerts(s.app.deps.db, { limit: 10 })).filter((x) => x.kind === 'first')).toHaveLength(2);
    } finally {
      await s.stop();
    }
  });
});
