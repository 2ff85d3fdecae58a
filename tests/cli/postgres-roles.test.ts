import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFrom, smtpSink, waitFor } from '../alerts/support.ts';
import { tempDir, TEST_API_KEY } from '../helpers.ts';
import { createTestPg, type TestPg } from '../pg.ts';
import { children, portIn, serve as serveWith, stopped } from './serve-process.ts';

/**
 * Three Honeytrail processes on one PostgreSQL, as a multi-node deployment runs them: two
 * edge nodes (`serve --only public,dns`) and a back office (`serve --only admin,worker`).
 * Hits of one actor across several decoys are fired at both edge nodes at once; the test
 * checks every hit is stored once, one incident holds the whole trail, and every alert row
 * is delivered exactly once (one mail per row, no duplicate Message-ID).
 */
const dir = tempDir();
let pg: TestPg;
let sink: Awaited<ReturnType<typeof smtpSink>>;

beforeAll(async () => {
  pg = await createTestPg();
  sink = await smtpSink();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await sink.close();
  await pg.drop();
  dir.cleanup();
});

/** `honeytrail serve --only ROLES` on the test's PostgreSQL database and mail sink. */
const serve = (only: string) =>
  serveWith(['--only', only], {
    PATH: process.env.PATH,
    DATABASE_URL: pg.url,
    DATA_DIR: dir.dir,
    PUBLIC_HOST: '127.0.0.1',
    PUBLIC_PORT: '0',
    PUBLIC_URL: 'http://cdn.corp.example',
    ADMIN_PORT: '0',
    DNS_HOST: '127.0.0.1',
    DNS_PORT: '0',
    HONEYTRAIL_API_KEY: TEST_API_KEY,
    ALERT_TO: 'soc@corp.example',
    SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
    // The worker polls often, so it may claim the first alert while hits are still being
    // correlated; later hits then open a digest row, due a second later rather than the
    // default five minutes. Either way every row must end sent, exactly once.
    ALERT_POLL_MS: '50',
    ALERT_DIGEST_SECONDS: '1',
    LOG_LEVEL: 'warn',
  });

describe('three processes on one PostgreSQL', () => {
  it('two edge nodes take one actor\u2019s hits at once: every hit stored once, one incident, every alert delivered exactly once', async () => {
    const office = await serve('admin,worker');
    const api = `http://127.0.0.1:${portIn(office.banner, 'Admin API')}/api/v1`;
    const auth = { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' };
    const health = (await (await fetch(`http://127.0.0.1:${portIn(office.banner, 'Admin API')}/healthz`)).json()) as { database: string };
    expect(health.database).toBe('ok');

    const paths: string[] = [];
    // Three share decoys, and one on WS-HR-02's own disk (touched from elsewhere: a hop).
    for (const [name, host] of [['payroll.xlsx', 'FS01'], ['vpn.txt', 'FS01'], ['board.docx', 'FS02'], ['backup.url', 'WS-HR-02']] as const) {
      const location = host === 'WS-HR-02' ? `C:\\Users\\hr\\${name}` : `\\\\${host}\\share\\${name}`;
      const res = await fetch(`${api}/tokens`, { method: 'POST', headers: auth, body: JSON.stringify({ kind: 'web-bug', name, location, plantedHost: host }) });
      expect(res.status).toBe(201);
      const { artifact } = (await res.json()) as { artifact: { url: string } };
      const u = new URL(artifact.url);
      paths.push(u.pathname + u.search);
    }

    const [edgeA, edgeB] = await Promise.all([serve('public,dns'), serve('public,dns')]);
    const ports = [portIn(edgeA.banner, 'Public'), portIn(edgeB.banner, 'Public')];
    // 80 hits, half at each node, all at once; one actor (127.0.0.1) across four decoys on three hosts.
    const statuses = await Promise.all(Array.from({ length: 80 }, (_, i) => getFrom(`http://127.0.0.1:${ports[i % 2]}${paths[i % paths.length]}`)));
    expect(statuses.every((s) => s === 200)).toBe(true);

    type Incident = { id: number; actorKey: string; hitCount: number; tokenCount: number; hostCount: number; machineCount: number; severity: string; lateral: boolean };
    const incidents = await waitFor(async () => {
      const list = ((await (await fetch(`${api}/incidents`, { headers: auth })).json()) as { items: Incident[] }).items;
      return list.length === 1 && list[0]?.hitCount === 80 ? list : null;
    }, 20_000, 'one incident with all 80 hits');
    expect(incidents[0]).toMatchObject({ actorKey: 'ip:127.0.0.1', tokenCount: 4, hostCount: 3, machineCount: 2, severity: 'critical', lateral: true });

    const detail = (await (await fetch(`${api}/incidents/${incidents[0]?.id}`, { headers: auth })).json()) as { trailTotal: number; trail: { id: number }[] };
    expect(detail.trailTotal).toBe(80);
    expect(new Set(detail.trail.map((h) => h.id)).size).toBe(80);

    // Every alert row ends sent, and the mail server saw exactly one message per row.
    type Alert = { id: number; status: string; kind: string };
    let seen: Alert[] = [];
    const sent = await waitFor(async () => {
      const rows = ((await (await fetch(`${api}/alerts`, { headers: auth })).json()) as { items: Alert[] }).items;
      seen = rows;
      return rows.length > 0 && rows.every((r) => r.status === 'sent') && sink.mails.length >= rows.length ? rows : null;
    }, 20_000, () => `every alert sent (${sink.mails.length} mails; rows ${JSON.stringify(seen)})`);
    expect(sent.some((r) => r.kind === 'first')).toBe(true);
    await new Promise((r) => setTimeout(r, 1000));
    expect(sink.mails).toHaveLength(sent.length);
    expect(new Set(sink.mails.map((m) => m.mail.messageId)).size).toBe(sent.length);
    expect(sink.mails.every((m) => m.rcptTo.includes('soc@corp.example'))).toBe(true);

    for (const c of [edgeA.child, edgeB.child, office.child]) expect(await stopped(c)).toBe(0);
  }, 90_000);
});
