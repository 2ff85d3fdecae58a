import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apply } from '../../src/db/intrusions-pg.ts';
import { transaction } from '../../src/db/pg-sql.ts';
import { closePostgres, openPostgres, type PgDb } from '../../src/db/pg.ts';
import { newIntrusion, type EntityState, type IntrusionState, type IntrusionWrites } from '../../src/hits/intrusions.ts';
import { createTestPg, type TestPg } from '../pg.ts';

/**
 * Every batch that touches an intrusion updates each of its entities (hits, last seen). On
 * PostgreSQL those updates must be HOT, writing no index entry: while `last_at` was indexed none
 * was, and after 8 s of the pg bench the entity key index held 16,093 entries for 500 rows, which
 * every snapshot read through (docs/performance.md, session 7).
 */
let pgt: TestPg;
let db: PgDb;
beforeAll(async () => {
  pgt = await createTestPg();
  db = await openPostgres({ url: pgt.url });
});
afterAll(async () => {
  await closePostgres(db);
  await pgt.drop();
});

const t0 = Date.parse('2026-12-04T09:00:00Z');
const intrusion: IntrusionState = { ...newIntrusion(1, { key: 'ip:10.9.8.7', label: '10.9.8.7' }, t0), hitCount: 1, tokenCount: 1, machineCount: 1, severity: 'medium' };
const machine: EntityState = { key: 'ip:10.9.8.7', kind: 'ip', label: '10.9.8.7', claimed: false, firstAt: t0, lastAt: t0, firstHitId: null, hits: 1, data: { ip: '10.9.8.7' } };

const writes = (over: Partial<IntrusionWrites>): IntrusionWrites => ({
  merges: [],
  created: [],
  saved: [],
  entities: [],
  recount: [],
  assigned: [],
  alerts: { inserts: [], folds: [], wake: false },
  wake: false,
  ...over,
});

describe('PostgreSQL: per-batch entity updates', () => {
  it('are HOT: a later hit on a known machine widens its entity without a new index entry', async () => {
    await transaction(db.$client, (tx) => apply(tx, writes({ created: [intrusion], entities: [{ incidentId: 1, entity: machine, added: 1 }] })));
    let updated = 0;
    let hot = 0;
    for (let batch = 1; batch <= 20; batch++) {
      const at = t0 + batch * 1000;
      await transaction(db.$client, async (tx) => {
        // The backend's counts not yet flushed to the statistics (exact, no wait), before and after the batch's writes.
        const counts = async () => {
          const [row] = (
            await tx.query<{ updated: string; hot: string }>(`
              select pg_stat_get_xact_tuples_updated('incident_entities'::regclass) as updated,
                     pg_stat_get_xact_tuples_hot_updated('incident_entities'::regclass) as hot`)
          ).rows;
          return { updated: Number(row?.updated), hot: Number(row?.hot) };
        };
        const before = await counts();
        await apply(tx, writes({ saved: [{ ...intrusion, lastAt: at, hitCount: 1 + batch }], entities: [{ incidentId: 1, entity: { ...machine, lastAt: at }, added: 1 }] }));
        const after = await counts();
        updated += after.updated - before.updated;
        hot += after.hot - before.hot;
      });
    }
    expect(updated).toBe(20);
    expect(hot).toBe(20);
    const [entity] = (await db.execute<{ hits: string; last_at: Date }>(sql`select hits, last_at from incident_entities where incident_id = 1 and key = ${machine.key}`)).rows;
    expect(Number(entity?.hits)).toBe(21);
    expect(new Date(entity?.last_at ?? 0).getTime()).toBe(t0 + 20_000);
  });
});
