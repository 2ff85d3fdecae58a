import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { getToken } from '../../src/db/queries/tokens.ts';
import type { Db } from '../../src/db/client.ts';
import { createHitRecorder } from '../../src/hits/record-hit.ts';
import type { Token } from '../../src/tokens/kind.ts';
import { makeToken, silentLog, testConfig, testDb } from '../helpers.ts';

let t: ReturnType<typeof testDb>;
let db: Db;
beforeEach(() => {
  t = testDb();
  db = t.db;
});
afterEach(() => t.cleanup());

describe('hit recorder (group commit)', () => {
  it('writes hits queued in one turn in a single transaction and resolves each after commit', async () => {
    const { token } = await makeToken(db, testConfig(t.dir), { kind: 'web-bug' });
    const recorder = createHitRecorder({ db, log: silentLog });
    const stored = await Promise.all(
      Array.from({ length: 50 }, (_, i) => recorder.record({ token: token as Token, channel: 'http', sourceIp: `10.0.0.${i}` })),
    );
    expect(recorder.stats).toMatchObject({ batches: 1, hits: 50, failed: 0 });
    expect(new Set(stored.map((h) => h.id)).size).toBe(50);
    expect(await listHits(db, { tokenId: token.id, limit: 100 })).toHaveLength(50);
    expect((await getToken(db, token.id))?.hitCount).toBe(50);
  });

  it('while hits keep arriving turn after turn it waits and commits them together; a lone hit waits one turn at most', async () => {
    const { token } = await makeToken(db, testConfig(t.dir), { kind: 'web-bug' });
    const recorder = createHitRecorder({ db, log: silentLog });
    const pending: Promise<unknown>[] = [];
    // 32 hits per event-loop turn for 5 turns, as a busy UDP socket delivers them.
    for (let turn = 0; turn < 5; turn++) {
      for (let i = 0; i < 32; i++) pending.push(recorder.record({ token: token as Token, channel: 'dns', sourceIp: `10.0.${turn}.${i}` }));
      await new Promise((res) => setImmediate(res));
    }
    await Promise.all(pending);
    expect(recorder.stats).toMatchObject({ batches: 1, hits: 160 });

    const turns = { n: 0 };
    let counting = true;
    const tick = () => {
      turns.n++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    await recorder.record({ token: token as Token, channel: 'http', sourceIp: '10.1.1.1' });
    counting = false;
    expect(recorder.stats.batches).toBe(2);
    expect(turns.n).toBeLessThanOrEqual(3);
  });

  it('a bad hit in a batch fails alone; the others are stored', async () => {
    const { token } = await makeToken(db, testConfig(t.dir), { kind: 'web-bug' });
    const recorder = createHitRecorder({ db, log: silentLog });
    const ghost = { ...token, id: 'x'.repeat(24) } as Token; // violates the foreign key
    const results = await Promise.allSettled([
      recorder.record({ token: token as Token, channel: 'http' }),
      recorder.record({ token: ghost, channel: 'http' }),
      recorder.record({ token: token as Token, channel: 'http' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await listHits(db, { tokenId: token.id, limit: 10 })).toHaveLength(2);
  });

  it('bounds oversized text and JSON fields', async () => {
    const { token } = await makeToken(db, testConfig(t.dir), { kind: 'web-bug' });
    const recorder = createHitRecorder({ db, log: silentLog });
    const hit = await recorder.record({
      token: token as Token,
      channel: 'http',
      userAgent: 'u'.repeat(10_000),
      facts: { details: { blob: 'd'.repeat(50_000) } },
    });
    expect(hit.userAgent?.length).toBeLessThan(2200);
    expect(hit.details).toMatchObject({ truncated: true });
    expect(JSON.stringify(hit.details).length).toBeLessThan(9000);
  });

  it('classifies hits from a token\u2019s ignore list as ignored, and still stores them', async () => {
    const { token } = await makeToken(db, testConfig(t.dir), { kind: 'web-bug', ignoreCidrs: ['10.9.0.0/16'] });
    const recorder = createHitRecorder({ db, log: silentLog });
    const [a, b] = await Promise.all([
      recorder.record({ token: token as Token, channel: 'http', sourceIp: '10.9.8.7' }),
      recorder.record({ token: token as Token, channel: 'http', sourceIp: '::ffff:10.8.0.1' }),
    ]);
    expect(a.classification).toBe('ignored');
    expect(b.classification).toBe('alert');
  });
});
