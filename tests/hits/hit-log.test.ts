import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { createLogger } from '../../src/logger.ts';
import { startHoneytrail, type Honeytrail } from '../../src/server.ts';
import { getFrom } from '../alerts/support.ts';
import { makeToken, tempDir, testConfig } from '../helpers.ts';

/**
 * The hit log (issue: "one line per hit, no secrets"): the server's own logger at the default
 * level, captured line by line. Every stored hit row has exactly one info line, whatever it was
 * classified as; repeats folded into a row by flood control do not add lines; request secrets
 * never reach the log.
 */
const dir = tempDir();
const lines: Record<string, unknown>[] = [];
let app: Honeytrail;
const config = testConfig(dir.dir, { FLOOD_THRESHOLD: '5', FLOOD_WINDOW: '60s', TRUST_PROXY: 'loopback' });

beforeAll(async () => {
  const log = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  app = await startHoneytrail({ config, log });
});
afterAll(async () => {
  await app.close();
  dir.cleanup();
});

describe('hit log', () => {
  it('one info line per stored hit (alerting or not), none for folded repeats, no secrets', async () => {
    const { token, url } = await makeToken(app.deps.db, config, { kind: 'web-bug' });
    const u = new URL(url ?? '');
    u.port = String(app.port('public'));
    const target = u.toString();
    const secret = 'sup3r-s3cret-bearer-value';
    expect(await getFrom(target, '127.0.0.2', { authorization: `Bearer ${secret}`, cookie: `session=${secret}` })).toBe(200);
    // A link-checker from a published mail-security network: stored as `scanner`, still logged.
    expect(await getFrom(target, '127.0.0.3', { 'x-forwarded-for': '148.163.130.5', 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)' })).toBe(200);
    // One source hammering: past FLOOD_THRESHOLD the identical hits fold into one row.
    for (let i = 0; i < 30; i++) expect(await getFrom(target, '127.0.0.4')).toBe(200);

    const hits = await listHits(app.deps.db, { tokenId: token.id, limit: 100, order: 'asc' });
    expect(hits.reduce((n, h) => n + h.repeatCount, 0)).toBe(32);
    expect(hits.length).toBeLessThan(32);
    const logged = lines.filter((l) => l.msg === 'token triggered' && l.tokenId === token.id);
    expect(logged.every((l) => l.level === 30)).toBe(true);
    expect(logged.map((l) => l.hitId).sort()).toEqual(hits.map((h) => h.id).sort());
    expect(new Set(logged.map((l) => l.classification))).toEqual(new Set(['alert', 'scanner']));
    expect(logged.find((l) => l.sourceIp === '148.163.130.5')).toMatchObject({ classification: 'scanner', channel: 'http', kind: 'web-bug' });
    expect(lines.some((l) => JSON.stringify(l).includes(secret))).toBe(false);
  });
});
