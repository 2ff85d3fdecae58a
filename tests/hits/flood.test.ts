import { Agent, get } from 'node:http';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { getToken } from '../../src/db/queries/tokens.ts';
import { auth, makeToken, rawQuery, startTestServer, type TestServer } from '../helpers.ts';

function hit(url: string, agent: Agent, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    get(url, { agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', () => resolve(0));
  });
}

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ FLOOD_THRESHOLD: '10', FLOOD_WINDOW: '60s' });
});
afterAll(() => s.stop());

const rows = async (tokenId: string) =>
  (await rawQuery<{ n: number; total: number; maxRepeat: number }>(
    s.app.deps.db,
    'select count(*) as n, sum(repeat_count) as total, max(repeat_count) as "maxRepeat" from hits where token_id = ?',
    tokenId,
  ))[0] ?? { n: 0, total: 0, maxRepeat: 0 };

describe('flood control', () => {
  it('folds identical hits past the threshold into one row, counting every one, while distinct events stay rows', async () => {
    const flooded = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const other = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const statuses: number[] = [];
    for (let round = 0; round < 10; round++) {
      statuses.push(...(await Promise.all(Array.from({ length: 50 }, () => hit(flooded.url ?? '', agent, { 'user-agent': 'flood/1.0' })))));
      // Another token keeps being recorded during the flood.
      statuses.push(await hit(other.url ?? '', agent, { 'user-agent': `victim-${round}` }));
    }
    // Distinct events from the flooding source are still rows of their own.
    for (let i = 0; i < 5; i++) statuses.push(await hit(`${flooded.url}${flooded.url?.includes('?') ? '&' : '?'}page=${i}`, agent, { 'user-agent': 'flood/1.0' }));
    agent.destroy();
    expect(statuses.every((st) => st === 200)).toBe(true);

    const f = await rows(flooded.token.id);
    expect(f.total).toBe(505); // every trigger counted
    expect(f.n).toBe(10 + 5); // threshold rows + one row per distinct event; no unbounded growth
    expect(f.maxRepeat).toBe(491);
    expect((await getToken(s.app.deps.db, flooded.token.id))?.hitCount).toBe(505);
    const o = await rows(other.token.id);
    expect(o).toMatchObject({ n: 10, total: 10 });

    // The API shows the aggregated row with its count and last-seen time.
    const api = await request(createAdminApp(s.app.deps)).get(`/api/v1/tokens/${flooded.token.id}/hits?limit=100`).set(auth);
    const folded = api.body.items.find((h: { repeatCount: number }) => h.repeatCount > 1);
    expect(folded.repeatCount).toBe(491);
  });
});
