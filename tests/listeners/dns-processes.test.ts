import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { closePostgres, openPostgres, type PgDb } from '../../src/db/pg.ts';
import { rawQuery } from '../../src/db/store.ts';
import { waitFor } from '../alerts/support.ts';
import { ask } from '../channels/dns-client.ts';
import { children, portIn, serve, stopped } from '../cli/serve-process.ts';
import { makeToken, tempDir } from '../helpers.ts';
import { createTestPg, type TestPg } from '../pg.ts';

/**
 * DNS on several cores (DNS_PROCESSES, PostgreSQL): `honeytrail serve` forks DNS processes that
 * share one socket through node:cluster. Every answered token query is stored once, both
 * processes answer, one killed is started again while the other keeps answering, and a stop
 * leaves no process behind.
 */
const run = promisify(execFile);
const dir = tempDir();
let pg: TestPg;
let db: PgDb;

beforeAll(async () => {
  pg = await createTestPg();
  db = await openPostgres({ url: pg.url });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await closePostgres(db);
  await pg.drop();
  dir.cleanup();
});

/** The DNS processes the server runs now (children of its process). */
async function dnsPids(serverPid: number): Promise<number[]> {
  const { stdout } = await run('ps', ['-o', 'pid=,args=', '--ppid', String(serverPid)]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter((l) => l.includes('dns-process')).map((l) => Number(l.trim().split(/\s+/)[0]));
}

describe('DNS_PROCESSES on PostgreSQL', () => {
  it('answers from two processes on one socket, stores every answered query once, and restarts a process that dies', async () => {
    const logs: string[] = [];
    const env = { PATH: process.env.PATH, DATABASE_URL: pg.url, DATA_DIR: dir.dir, DNS_HOST: '127.0.0.1', DNS_PORT: '0', DNS_PROCESSES: '2', DNS_RATE_LIMIT: '0', LOG_LEVEL: 'info' };
    const server = await serve(['--only', 'dns'], env, 60_000, (text) => logs.push(text));
    expect(server.banner).toMatch(/answered by 2 processes \(DNS_PROCESSES\)/);
    const port = portIn(server.banner, 'DNS');
    const pid = server.child.pid ?? 0;
    expect(await dnsPids(pid)).toHaveLength(2);

    // The server migrated the database before it forked; the token is made now, as an admin would.
    const config = loadConfig({ DATABASE_URL: pg.url, DATA_DIR: dir.dir });
    const label = (await makeToken(db, config, { kind: 'dns' })).token.hostLabel ?? '';
    const zone = config.DNS_ZONE;
    const wave = async (from: number, n: number): Promise<(string | undefined)[]> =>
      Promise.all(Array.from({ length: n }, async (_, i) => (await ask(port, `q${from + i}.${label}.${zone}`, 'A', { timeoutMs: 5000 }))?.rcode));

    // Eight waves of 50 distinct names at once: whichever process reads a datagram answers it.
    const answers: (string | undefined)[] = [];
    for (let w = 0; w < 8; w++) answers.push(...(await wave(w * 50, 50)));
    expect(answers.filter((r) => r === 'NOERROR')).toHaveLength(400);
    const [{ n } = { n: 0 }] = await rawQuery<{ n: number }>(db, 'select count(*)::int as n from hits');
    expect(n).toBe(400);

    // One process killed outright: the other answers meanwhile, and the server starts a new one.
    const [victim] = await dnsPids(pid);
    process.kill(victim ?? 0, 'SIGKILL');
    const during = await wave(1000, 50);
    expect(during.filter((r) => r === 'NOERROR')).toHaveLength(50);
    const again = await waitFor(async () => {
      const now = await dnsPids(pid);
      return now.length === 2 && !now.includes(victim ?? 0) ? now : null;
    }, 20_000);
    expect(again).toHaveLength(2);
    const [{ n: after } = { n: 0 }] = await rawQuery<{ n: number }>(db, 'select count(*)::int as n from hits');
    expect(after).toBe(450);

    // A stop takes the DNS processes with it (and flushes their buffered log lines).
    expect(await stopped(server.child)).toBe(0);
    expect(await dnsPids(pid)).toEqual([]);
    // Both processes answered: each stored hit's log line names the process that stored it.
    const answeredBy = new Set<number>();
    for (const line of logs.join('').split('\n')) {
      if (line.includes('"event":"hit"')) answeredBy.add((JSON.parse(line) as { dnsProcess?: number }).dnsProcess ?? 0);
    }
    expect([...answeredBy].sort()).toEqual([1, 2]);
    expect(logs.join('')).toContain('a DNS process stopped; starting it again');
  }, 120_000);
});
