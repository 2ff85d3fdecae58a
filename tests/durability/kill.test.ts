import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Agent, get } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, closeDatabase } from '../../src/db/client.ts';
import { smtpSink, waitFor } from '../alerts/support.ts';
import { freePort, makeToken, onFreePorts, tempDir, testConfig, TEST_API_KEY } from '../helpers.ts';

/** GET a URL through a keep-alive agent; resolves with the status (0 when the connection died). */
function hit(url: string, agent: Agent): Promise<number> {
  return new Promise((resolve) => {
    const req = get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
  });
}

/**
 * Durability: a hit that got an answer is committed. The server runs as a real process; it is
 * killed with SIGKILL in the middle of a load run and the database is checked afterwards.
 */
const MAIN = join(import.meta.dirname, '../../src/main.ts');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

async function startServer(dir: string, publicPort: number, adminPort: number, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `file:${join(dir, 'honeytrail.db')}`,
      DATA_DIR: dir,
      PUBLIC_HOST: '127.0.0.1',
      PUBLIC_PORT: String(publicPort),
      ADMIN_PORT: String(adminPort),
      SSH_HOST: '127.0.0.1',
      SSH_PORT: '0',
      HONEYTRAIL_API_KEY: TEST_API_KEY,
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr?.on('data', (d) => (err += String(d)));
  for (let i = 0; i < 150; i++) {
    if (err.includes('Honeytrail is running')) return child;
    if (child.exitCode !== null) throw new Error(`server exited: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not start: ${err}`);
}

/** Start the server process on `dir`'s database; ports lost to a parallel test are retried (bounded). */
async function launch(dir: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; publicPort: number }> {
  return onFreePorts(async () => {
    const publicPort = (await freePort()).port;
    return { child: await startServer(dir, publicPort, (await freePort()).port, env), publicPort };
  });
}

/**
 * Every answered request must be a row of its own here (its `n` query parameter tells them
 * apart), so the per-source rate limit, action folding and storage budgets are off: they fold or
 * refuse a one-source load on purpose (tests/hits/storage-budget.test.ts).
 */
const EVERY_REQUEST_A_ROW = { PUBLIC_RATE_LIMIT: '0', FLOOD_ACTION_ROWS: '100000', HIT_SOURCE_ROWS: '1000000', HIT_STORAGE_BUDGET: '0' };

/** A database with one web-bug token, and the server process started on it. */
async function seededServer(dir: string): Promise<{ child: ChildProcess; tokenId: string; url: URL }> {
  const seed = openDatabase({ path: join(dir, 'honeytrail.db') });
  const { token, url } = await makeToken(seed, testConfig(dir), { kind: 'web-bug' });
  closeDatabase(seed);
  const { child, publicPort } = await launch(dir, EVERY_REQUEST_A_ROW);
  const u = new URL(url ?? '');
  u.port = String(publicPort);
  return { child, tokenId: token.id, url: u };
}

describe('durability', () => {
  it('every hit that got a response survives SIGKILL in the middle of a load run', async () => {
    const t = tempDir();
    try {
      const { child, tokenId, url } = await seededServer(t.dir);
      const target = (n: number) => {
        const u = new URL(url);
        u.searchParams.set('n', String(n));
        return u.toString();
      };

      const agent = new Agent({ keepAlive: true, maxSockets: 16 });
      const answered: number[] = [];
      let killed = false;
      let next = 0;
      const worker = async () => {
        while (!killed && next < 20_000) {
          const n = next++;
          const status = await hit(target(n), agent);
          if (status === 200) answered.push(n);
          else if (status === 0) return; // the connection died with the server
        }
      };
      const load = Promise.all(Array.from({ length: 16 }, worker));
      for (let i = 0; i < 1000 && answered.length < 1500; i++) await new Promise((r) => setTimeout(r, 20));
      child.kill('SIGKILL');
      killed = true;
      await load;
      agent.destroy();
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));

      const db = openDatabase({ path: join(t.dir, 'honeytrail.db') });
      const stored = new Set(
        (db.$client.prepare('select query from hits where token_id = ?').all(tokenId) as { query: string }[]).map((r) => Number(new URLSearchParams(r.query).get('n'))),
      );
      closeDatabase(db);
      const lost = answered.filter((n) => !stored.has(n));
      expect(answered.length).toBeGreaterThanOrEqual(1500);
      expect(lost).toEqual([]);
    } finally {
      t.cleanup();
    }
  });

  it('SIGKILL while alerts are queued and in flight: after a restart every alert row is delivered, none lost, none sent twice beyond the rows in flight at the kill', async () => {
    const t = tempDir();
    const sink = await smtpSink();
    try {
      const seed = openDatabase({ path: join(t.dir, 'honeytrail.db') });
      const paths: string[] = [];
      for (const host of ['FS01', 'FS02', 'WS-HR-02']) {
        const { url } = await makeToken(seed, testConfig(t.dir), { kind: 'web-bug', name: `decoy on ${host}`, location: `\\\\${host}\\share`, plantedHost: host });
        const u = new URL(url ?? '');
        paths.push(u.pathname + u.search);
      }
      closeDatabase(seed);
      // Digests a second apart and a short lease, so rows keep being queued, claimed and
      // delivered all through the load, and a claim the killed worker held expires soon.
      const env = { ALERT_TO: 'soc@corp.example', SMTP_URL: `smtp://127.0.0.1:${sink.port}`, ALERT_POLL_MS: '20', ALERT_DIGEST_SECONDS: '1', ALERT_LEASE: '2s', ALERT_RETRY_BASE_MS: '100' };
      const first = await launch(t.dir, env);

      // Eight actors (source addresses), each touching the three decoys in turn, until killed.
      const agents = Array.from({ length: 8 }, (_, i) => new Agent({ keepAlive: true, maxSockets: 2, localAddress: `127.0.0.${20 + i}` }));
      let killed = false;
      let answered = 0;
      const actor = async (agent: Agent) => {
        for (let n = 0; !killed && n < 5000; n++) {
          const status = await hit(`http://127.0.0.1:${first.publicPort}${paths[n % paths.length]}`, agent);
          if (status === 200) answered++;
          else if (status === 0) return;
        }
      };
      const load = Promise.all(agents.map(actor));
      // Kill once mail has been flowing for a while (rows sent, more queued and in flight).
      for (let i = 0; i < 500 && (sink.mails.length < 12 || answered < 400); i++) await new Promise((r) => setTimeout(r, 20));
      first.child.kill('SIGKILL');
      killed = true;
      await load;
      for (const a of agents) a.destroy();
      if (first.child.exitCode === null) await new Promise((r) => first.child.once('exit', r));

      const atKill = openDatabase({ path: join(t.dir, 'honeytrail.db') });
      const before = atKill.$client.prepare("select status, count(*) as n from alerts group by status").all() as { status: string; n: number }[];
      closeDatabase(atKill);
      const count = (status: string) => before.find((r) => r.status === status)?.n ?? 0;
      expect(count('sent'), JSON.stringify(before)).toBeGreaterThan(0);
      expect(count('pending') + count('sending') + count('failed'), JSON.stringify(before)).toBeGreaterThan(0);
      const inFlight = count('sending');

      const second = await launch(t.dir, env);
      const rows = await waitFor(
        () => {
          const db = openDatabase({ path: join(t.dir, 'honeytrail.db') });
          try {
            const all = db.$client.prepare('select id, status from alerts').all() as { id: number; status: string }[];
            return all.every((r) => r.status === 'sent') && sink.mails.length >= all.length ? all : null;
          } finally {
            closeDatabase(db);
          }
        },
        30_000,
        () => `every alert sent after the restart (${sink.mails.length} mails; before the restart ${JSON.stringify(before)})`,
      );
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));

      // One distinct Message-ID per row: every row delivered. A row the killed worker had
      // claimed may have reached the mail server before the kill and again after it (the same
      // Message-ID, which receivers drop); any other row arrives once.
      const ids = sink.mails.map((m) => m.mail.messageId);
      expect(new Set(ids).size).toBe(rows.length);
      expect(sink.mails.length - rows.length).toBeLessThanOrEqual(inFlight);
    } finally {
      await sink.close();
      t.cleanup();
    }
  }, 90_000);

  it('SIGTERM drains in-flight requests, commits their hits and exits 0', async () => {
    const t = tempDir();
    try {
      const { child, tokenId, url: u } = await seededServer(t.dir);
      const agent = new Agent({ keepAlive: true, maxSockets: 8 });
      const inflight = Array.from({ length: 200 }, () => hit(u.toString(), agent));
      await new Promise((r) => setTimeout(r, 30));
      child.kill('SIGTERM');
      const statuses = await Promise.all(inflight);
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      agent.destroy();
      expect(code).toBe(0);
      const ok = statuses.filter((s) => s === 200).length;
      const db = openDatabase({ path: join(t.dir, 'honeytrail.db') });
      const n = (db.$client.prepare('select coalesce(sum(repeat_count), 0) as n from hits where token_id = ?').get(tokenId) as { n: number }).n;
      closeDatabase(db);
      expect(ok).toBeGreaterThan(0);
      expect(n).toBeGreaterThanOrEqual(ok);
    } finally {
      t.cleanup();
    }
  });
});
