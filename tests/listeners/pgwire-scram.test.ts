import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgwire } from '../../src/listeners/pgwire.ts';
import type { RunningListener } from '../../src/listeners/registry.ts';
import { freePort, silentLog, startTestServer, type TestServer } from '../helpers.ts';
import { exchange, runClient } from './wire-client.ts';

/**
 * The password failure side by side with a genuine PostgreSQL: the shared server on 5432 trusts
 * 127.0.0.1 and never asks for a password, so this suite runs a throwaway cluster of the
 * installed PostgreSQL (initdb as the postgres user, scram-sha-256 in pg_hba, a role with a
 * password) and compares the SCRAM exchange and the error of a wrong password with ours.
 */
const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';
const ROLE = 'svc_reference_role';
let s: TestServer;
let ours: RunningListener;
let dataDir: string;
let realPort: number;

async function asPostgres(cmd: string, args: string[]): Promise<void> {
  await run('runuser', ['-u', 'postgres', '--', join(BIN, cmd), ...args], { timeout: 30_000 });
}

beforeAll(async () => {
  s = await startTestServer({ DNS_ENABLED: 'false', SMTP_ENABLED: 'false' });
  ours = await startPgwire({ config: s.config, log: silentLog, deps: s.app.deps });
  dataDir = mkdtempSync(join(tmpdir(), 'honeytrail-realpg-'));
  const { uid, gid } = { uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()), gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()) };
  chownSync(dataDir, uid, gid);
  realPort = (await freePort()).port;
  await asPostgres('initdb', ['-N', '-D', join(dataDir, 'pg'), '--auth-local=trust', '--auth-host=scram-sha-256', '-U', 'postgres']);
  await asPostgres('pg_ctl', ['-D', join(dataDir, 'pg'), '-w', '-l', join(dataDir, 'log'), '-o', `-p ${realPort} -k ${dataDir} -c listen_addresses=127.0.0.1 -c shared_buffers=8MB -c max_connections=8 -c fsync=off`, 'start']);
  await run('psql', ['-h', dataDir, '-p', String(realPort), '-U', 'postgres', '-c', `create role ${ROLE} login password 'Right-Pass-1'`]);
}, 60_000);

afterAll(async () => {
  if (dataDir) {
    await asPostgres('pg_ctl', ['-D', join(dataDir, 'pg'), '-m', 'immediate', 'stop']).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
  await ours?.close();
  await s?.stop();
});

/** The error node-postgres reports for a sign-in, with every ErrorResponse field it decoded. */
async function signInError(port: number, user: string, password: string): Promise<Record<string, unknown>> {
  const client = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres', connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.end();
    return { connected: true };
  } catch (err) {
    const e = err as pg.DatabaseError;
    return { severity: e.severity, code: e.code, message: e.message, detail: e.detail, file: e.file, line: e.line, routine: e.routine, length: e.length };
  }
}

const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const startup = (user: string) => {
  const body = Buffer.concat([int32(196608), Buffer.from(`user\0${user}\0database\0postgres\0\0`)]);
  return Buffer.concat([int32(body.length + 4), body]);
};
const saslInitial = (nonce: string) => {
  const data = Buffer.from(`n,,n=,r=${nonce}`);
  const body = Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), int32(data.length), data]);
  return Buffer.concat([Buffer.from('p'), int32(body.length + 4), body]);
};

/** The server-first-message a server sends to a client nonce, in parts. */
async function serverFirst(port: number, user: string): Promise<{ nonceTail: string; salt: Buffer; iterations: string }> {
  const nonce = 'abcdefghijklmnopqrstuvwx';
  const { data } = await exchange(port, [startup(user), saslInitial(nonce)], { gapMs: 100, timeoutMs: 500 });
  const cont = data.subarray(24);
  const text = cont.subarray(9).toString('latin1');
  const m = /^r=([^,]+),s=([^,]+),i=(\d+)$/.exec(text);
  expect(cont.readUInt32BE(5)).toBe(11);
  expect(m?.[1]?.startsWith(nonce)).toBe(true);
  return { nonceTail: (m?.[1] ?? '').slice(nonce.length), salt: Buffer.from(m?.[2] ?? '', 'base64'), iterations: m?.[3] ?? '' };
}

describe('pgwire listener: the password failure, side by side with a genuine PostgreSQL 15', () => {
  it('a wrong password gets the same ErrorResponse, field for field (file, line and routine included)', async () => {
    const real = await signInError(realPort, ROLE, 'wrong-password');
    const mine = await signInError(ours.address.port, ROLE, 'wrong-password');
    expect(real.code).toBe('28P01');
    expect(mine).toEqual(real);
  });

  it('an unknown role gets the same ErrorResponse too (PostgreSQL runs a mock exchange)', async () => {
    expect(await signInError(ours.address.port, 'nobody_here', 'x')).toEqual(await signInError(realPort, 'nobody_here', 'x'));
  });

  it('psql prints the same failure', async () => {
    const env = { PGPASSWORD: 'wrong-password', KRB5CCNAME: '/nonexistent' };
    const args = (port: number) => ['-h', '127.0.0.1', '-p', String(port), '-U', ROLE, '-d', 'postgres', '-c', 'select 1'];
    const [real, mine] = await Promise.all([runClient('psql', args(realPort), env), runClient('psql', args(ours.address.port), env)]);
    expect(mine.code).toBe(real.code);
    expect(mine.stderr.replace(String(ours.address.port), 'PORT')).toBe(real.stderr.replace(String(realPort), 'PORT'));
  });

  it('the SCRAM challenge has the same shape: 24-character server nonce, 16-byte salt stable per role, 4096 iterations', async () => {
    const [realA, realB, mineA, mineB] = await Promise.all([serverFirst(realPort, ROLE), serverFirst(realPort, ROLE), serverFirst(ours.address.port, ROLE), serverFirst(ours.address.port, ROLE)]);
    expect([mineA.nonceTail.length, mineA.salt.length, mineA.iterations]).toEqual([realA.nonceTail.length, realA.salt.length, realA.iterations]);
    expect(realA.salt.equals(realB.salt)).toBe(true);
    expect(mineA.salt.equals(mineB.salt)).toBe(true);
    expect(mineA.nonceTail).not.toBe(mineB.nonceTail);
  });
});
