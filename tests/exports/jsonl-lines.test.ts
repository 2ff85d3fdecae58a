import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/app.ts';
import { makeHit, makeIncident } from '../factories.ts';
import { auth, makeToken, startTestServer, type TestServer } from '../helpers.ts';

/**
 * JSON Lines exports under Unicode line splitting (issue 15): attacker text holding U+2028,
 * U+2029, U+0085 (NEL) and C1 controls must stay inside its record. Python's str.splitlines,
 * and every reader that follows Unicode line boundaries, also splits on these.
 */
const HOSTILE = 'a\u2028b\u2029c\u0085d\u009b[2Je\u007ff\u001b]0;owned\u0007g';
const UNICODE_LINES = /\r\n|[\n\v\f\r\u001c-\u001e\u0085\u2028\u2029]/;

let s: TestServer;
let app: ReturnType<typeof createAdminApp>;
let tokenId: string;
beforeAll(async () => {
  s = await startTestServer();
  app = createAdminApp(s.app.deps);
  tokenId = (await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', name: `bait ${HOSTILE}` })).token.id;
  const hits = [
    await makeHit(s.app.deps.db, tokenId, { userAgent: HOSTILE, path: `/x${HOSTILE}`, query: `q=${HOSTILE}` }),
    await makeHit(s.app.deps.db, tokenId, { channel: 'smtp', mailSubject: HOSTILE, mailFrom: `m${HOSTILE}@evil.example` }),
  ];
  await makeIncident(s.app.deps.db, { actorLabel: `actor ${HOSTILE}`, hits });
});
afterAll(() => s.stop());

function records(text: string): unknown[] {
  return text.split(UNICODE_LINES).filter((l) => l.length > 0).map((l) => JSON.parse(l) as unknown);
}

describe('JSON Lines exports keep one record per line under Unicode line splitting', () => {
  it('hits: every record parses, and the hostile text round-trips', async () => {
    const res = await request(app).get(`/api/v1/exports/hits?format=jsonl&tokenId=${tokenId}`).set(auth);
    expect(res.status).toBe(200);
    expect(res.text).not.toMatch(/[\u007f-\u009f\u2028\u2029]/);
    const rows = records(res.text) as { userAgent: string | null; mail: { subject: string | null } | null; token: { name: string } }[];
    expect(rows).toHaveLength(2);
    expect(rows[0]?.userAgent).toBe(HOSTILE);
    expect(rows[0]?.token.name).toBe(`bait ${HOSTILE}`);
    expect(rows[1]?.mail?.subject).toBe(HOSTILE);
  });

  it('incidents: every record parses, and the hostile label round-trips', async () => {
    const res = await request(app).get('/api/v1/exports/incidents?format=jsonl').set(auth);
    const rows = records(res.text) as { actorLabel: string }[];
    expect(rows.map((r) => r.actorLabel)).toContain(`actor ${HOSTILE}`);
  });
});
