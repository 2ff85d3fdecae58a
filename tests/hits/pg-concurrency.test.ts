import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgClaimDue } from '../../src/alerts/claim-pg.ts';
import { closePostgres, openPostgres, type PgDb } from '../../src/db/pg.ts';
import { alerts, hits, incidents, tokens } from '../../src/db/schema-pg.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import { createPgCorrelator } from '../../src/hits/correlate-pg.ts';
import { createFloodGate } from '../../src/hits/flood.ts';
import { createPgHitRecorder, type PgHitRecorder } from '../../src/hits/record-hit-pg.ts';
import type { Token } from '../../src/tokens/kind.ts';
import { newTokenId } from '../../src/tokens/ids.ts';
import { silentLog, testConfig, tempDir } from '../helpers.ts';
import { createTestPg, type TestPg } from '../pg.ts';

/**
 * Several Honeytrail processes on one PostgreSQL: each has its own connection pool, hit
 * recorder and correlator, exactly as separate processes would (their transactions really
 * overlap; only the database serialises them). Hits of one actor fired at two "nodes" at
 * once must give one incident with the right trail, every hit stored once, and each alert
 * claimed by exactly one of several competing workers.
 */
let pgt: TestPg;
const pools: PgDb[] = [];
const dir = tempDir();
const config = testConfig(dir.dir, { ALERT_TO: 'soc@corp.example', TRAIL_WINDOW: '1h' });

beforeAll(async () => {
  pgt = await createTestPg();
  for (let i = 0; i < 3; i++) pools.push(await openPostgres({ url: pgt.url, max: 4 }));
});
afterAll(async () => {
  for (const p of pools) await closePostgres(p);
  await pgt.drop();
  dir.cleanup();
});

async function plant(db: PgDb, name: string, host: string, location = `\\\\${host}\\share\\${name}`): Promise<Token> {
  const [row] = await db
    .insert(tokens)
    .values({ id: newTokenId(), kind: 'web-bug', name, location, plantedHost: host, params: { response: 'gif' } })
    .returning();
  return row as TokenRow as Token;
}

function node(db: PgDb): PgHitRecorder {
  const correlator = createPgCorrelator({ db, config, log: silentLog });
  return createPgHitRecorder({ db, log: silentLog, correlator, flood: createFloodGate({ threshold: 1000, windowMs: 60_000 }) });
}

describe('PostgreSQL: concurrent listeners and workers on one database', () => {
  it('hits of one actor fired at two nodes at once: every hit stored once, one incident with the whole trail, one alert per target', async () => {
    const [a, b] = [pools[0] as PgDb, pools[1] as PgDb];
    const decoys = [];
    for (const [name, host] of [['p1', 'FS01'], ['p2', 'FS01'], ['p3', 'FS02'], ['p4', 'FS02']] as const) decoys.push(await plant(a, name, host));
    // Two decoys on WS-HR-02's own disk: touched from 10.9.9.9, they are a hop WS-HR-02 → 10.9.9.9.
    for (const name of ['p5', 'p6']) decoys.push(await plant(a, name, 'WS-HR-02', `C:\\Users\\hr\\${name}.url`));
    const nodes = [node(a), node(b)];
    const t0 = Date.parse('2026-11-28T08:00:00Z');
    // 12 rounds; in each, both nodes get 20 hits at the same moment, spread over all decoys.
    const sent: Promise<unknown>[] = [];
    for (let round = 0; round < 12; round++) {
      for (let i = 0; i < 40; i++) {
        const n = round * 40 + i;
        sent.push(
          (nodes[i % 2] as PgHitRecorder).record({
            token: decoys[n % decoys.length] as Token,
            channel: 'http',
            at: new Date(t0 + n * 1000),
            sourceIp: '10.9.9.9',
            userAgent: `agent ${n}`,
            path: `/p/${n}`,
          }),
        );
      }
      await new Promise((r) => setImmediate(r));
    }
    const stored = (await Promise.all(sent)) as { id: number }[];
    await Promise.all(nodes.map((x) => x.idle()));

    expect(new Set(stored.map((h) => h.id)).size).toBe(480);
    const rows = await a.select({ id: hits.id, incidentId: hits.incidentId, path: hits.path }).from(hits).orderBy(asc(hits.id));
    expect(rows).toHaveLength(480);
    expect(new Set(rows.map((r) => r.path)).size).toBe(480);
    const inc = await a.select().from(incidents);
    expect(inc).toHaveLength(1);
    expect(rows.every((r) => r.incidentId === inc[0]?.id)).toBe(true);
    expect(inc[0]).toMatchObject({ actorKey: 'ip:10.9.9.9', hitCount: 480, tokenCount: 6, locationCount: 3, hostCount: 3, machineCount: 2, severity: 'critical', lateral: true });
    expect(inc[0]?.firstAt.getTime()).toBe(t0);
    expect(inc[0]?.lastAt.getTime()).toBe(t0 + 479_000);
    expect(inc[0]?.techniques).toEqual(['T1005', 'T1039']);
    // Which of the two went first depends on how the nodes' batches interleaved.
    expect(inc[0]?.summary).toMatch(/^decoy from WS-HR-02's own storage \("p[56]"\) touched from 10\.9\.9\.9$/);
    // Each entity once, however the two nodes' batches interleaved.
    const ents = await a.execute<{ key: string; hits: string }>(sql`select key, hits from incident_entities where incident_id = ${inc[0]?.id ?? 0} order by key`);
    expect(ents.rows.find((e) => e.key === 'ip:10.9.9.9')?.hits).toBe('480');
    expect(ents.rows.filter((e) => e.key.startsWith('decoy:'))).toHaveLength(6);
    expect(ents.rows.filter((e) => e.key.startsWith('hop:')).map((e) => e.key)).toEqual(['hop:host:ws-hr-02>ip:10.9.9.9']);
    const queued = await a.select().from(alerts);
    // One row per target; every alerting hit either opened it or was folded into it (nothing claimed it yet).
    expect(queued.map((q) => [q.kind, q.target, (q.payload as { hitCount: number }).hitCount])).toEqual([['first', 'soc@corp.example', 480]]);
    const tok = await a.select({ n: tokens.hitCount }).from(tokens).where(eq(tokens.id, decoys[0]?.id ?? ''));
    expect(tok[0]?.n).toBe(80);
  });

  it('with no global lock: 60 new sources, each hitting both nodes at the same moment, give 60 intrusions of 2 hits; one actor\'s intrusion takes every hit', async () => {
    const [a, b] = [pools[0] as PgDb, pools[1] as PgDb];
    const decoy = await plant(a, 'race', 'FS10');
    const other = await plant(a, 'race-2', 'FS11');
    const nodes = [node(a), node(b)];
    const t0 = Date.parse('2026-11-29T08:00:00Z');
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      const ip = `10.44.${Math.floor(i / 200)}.${i % 200}`;
      for (const [k, n] of nodes.entries()) sent.push(n.record({ token: k ? other : decoy, channel: 'http', at: new Date(t0 + i), sourceIp: ip, path: `/r/${i}/${k}` }));
      // The same actor (10.45.0.1) in between, on both nodes: its intrusion is updated by both at once.
      for (const n of nodes) sent.push(n.record({ token: decoy, channel: 'http', at: new Date(t0 + i), sourceIp: '10.45.0.1', path: `/same/${i}` }));
    }
    await Promise.all(sent);
    await Promise.all(nodes.map((n) => n.idle()));
    const rows = await a.execute<{ actor_key: string; hit_count: string; token_count: number; n: string }>(sql`
      select i.actor_key, i.hit_count, i.token_count, (select count(*) from hits h where h.incident_id = i.id) as n
      from incidents i where i.actor_key like 'ip:10.44.%' or i.actor_key = 'ip:10.45.0.1'`);
    const race = rows.rows.filter((r) => r.actor_key.startsWith('ip:10.44.'));
    expect(race).toHaveLength(60);
    expect(new Set(race.map((r) => r.actor_key)).size).toBe(60);
    for (const r of race) expect([Number(r.hit_count), r.token_count, Number(r.n)]).toEqual([2, 2, 2]);
    const same = rows.rows.filter((r) => r.actor_key === 'ip:10.45.0.1');
    expect(same).toHaveLength(1);
    expect([Number(same[0]?.hit_count), Number(same[0]?.n)]).toEqual([120, 120]);
  });

  it('hits stored without a trail are caught up once, even when two nodes catch up at the same time', async () => {
    const [a, b] = [pools[0] as PgDb, pools[1] as PgDb];
    const decoy = await plant(a, 'late', 'FS09');
    const bare = createPgHitRecorder({ db: a, log: silentLog });
    for (let i = 0; i < 30; i++) await bare.record({ token: decoy, channel: 'http', sourceIp: '10.7.7.7', path: `/late/${i}` });
    await bare.close();
    const [x, y] = [node(a), node(b)];
    const [nx, ny] = await Promise.all([x.catchUp(), y.catchUp()]);
    expect(nx + ny).toBe(30);
    const inc = await a.select().from(incidents).where(eq(incidents.actorKey, 'ip:10.7.7.7'));
    expect(inc).toHaveLength(1);
    expect(inc[0]?.hitCount).toBe(30);
    const left = await a.execute<{ n: string }>(sql`select count(*) as n from hits where incident_id is null`);
    expect(Number(left.rows[0]?.n)).toBe(0);
  });

  it('a hit carrying NUL bytes (path, headers, user agent) is stored, with U+FFFD in their place', async () => {
    const db = pools[0] as PgDb;
    const decoy = await plant(db, 'nul', 'FS07');
    const rec = node(db);
    const hit = await rec.record({ token: decoy, channel: 'http', sourceIp: '10.6.6.6', path: '/a\u0000b', userAgent: 'x\u0000y', headers: { 'x-\u0000': 'v\u0000' } });
    await rec.close();
    const [row] = await db.select().from(hits).where(eq(hits.id, hit.id));
    expect(row).toMatchObject({ path: '/a\uFFFDb', userAgent: 'x\uFFFDy', headers: { 'x-\uFFFD': 'v\uFFFD' } });
    expect(row?.incidentId).toBeTypeOf('number');
  });

  it('three workers claiming at once with SKIP LOCKED: every due alert is claimed exactly once', async () => {
    const db = pools[0] as PgDb;
    await db.delete(alerts);
    const [inc] = await db.insert(incidents).values({ actorKey: 'ip:10.1.1.1', firstAt: new Date(), lastAt: new Date() }).returning();
    const past = new Date(Date.now() - 1000);
    await db.insert(alerts).values(
      Array.from({ length: 300 }, (_, i) => ({ incidentId: inc?.id ?? null, channel: 'email' as const, target: `t${i}@corp.example`, kind: 'first' as const, nextAttemptAt: past, idempotencyKey: `claim-test-${i}`, payload: { hitCount: 1 } })),
    );
    const claimed = await Promise.all(
      pools.map(async (p, w) => {
        const mine: number[] = [];
        for (let round = 0; round < 100; round++) {
          const got = await pgClaimDue(p, `worker-${w}`, Date.now(), 60_000, 7);
          if (got.length === 0) break;
          for (const r of got) {
            expect(r).toMatchObject({ status: 'sending', claimedBy: `worker-${w}`, attempts: 1 });
            mine.push(r.id);
          }
        }
        return mine;
      }),
    );
    const all = claimed.flat();
    expect(all).toHaveLength(300);
    expect(new Set(all).size).toBe(300);
    expect(claimed.filter((c) => c.length > 0).length).toBeGreaterThan(1);
    // A claimed row is not due again until its lease runs out.
    expect(await pgClaimDue(db, 'late-worker', Date.now(), 60_000, 50)).toHaveLength(0);
    expect((await pgClaimDue(db, 'late-worker', Date.now() + 120_000, 60_000, 500)).length).toBe(300);
  });
});
