import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgwire } from '../../src/listeners/pgwire.ts';
import type { RunningListener } from '../../src/listeners/registry.ts';
import { silentLog, startTestServer, type TestServer } from '../helpers.ts';
import { flood, garbage, trickle } from './hostile.ts';
import { exchange } from './wire-client.ts';

/**
 * The PostgreSQL listener on the wire: what it answers before authentication is compared byte
 * for byte with the genuine PostgreSQL 15 on 127.0.0.1:5432 (ssl off, trust, so it never gets
 * as far as a password: the password failure itself is compared through psql in
 * tests/tokens/postgres-credentials.test.ts), and hostile clients get nowhere.
 */
const REAL_PG_PORT = 5432;
const LIMITS = { maxConnections: 24, maxPerSource: 6, idleMs: 400, sessionMs: 1500, maxBuffered: 16_384 };
let s: TestServer;
let pg: RunningListener;

beforeAll(async () => {
  s = await startTestServer({ DNS_ENABLED: 'false', SMTP_ENABLED: 'false' });
  pg = await startPgwire({ config: s.config, log: silentLog, deps: s.app.deps }, LIMITS);
});
afterAll(async () => {
  await pg?.close();
  await s.stop();
});

const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
/** A startup-phase packet: length, then code and body. */
const startupPacket = (code: number, pairs: string[] = []) => {
  const body = Buffer.concat([int32(code), ...pairs.map((p) => Buffer.from(`${p}\0`)), Buffer.from([0])]);
  return Buffer.concat([int32(body.length + 4), body]);
};
const SSL = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]);
const CANCEL = Buffer.concat([int32(16), int32(80877102), int32(1234), int32(5678)]);

/** The same bytes to both servers; both answers, and whether each hung up. */
async function sideBySide(chunks: Buffer[], gapMs = 300): Promise<{ ours: { data: Buffer; closed: boolean }; real: { data: Buffer; closed: boolean } }> {
  const [ours, real] = await Promise.all([exchange(pg.address.port, chunks, { gapMs, timeoutMs: 1500 }), exchange(REAL_PG_PORT, chunks, { gapMs, timeoutMs: 1500 })]);
  return { ours, real };
}

/** Our listener still runs the startup and asks for SCRAM (the probe an ordinary client makes). */
async function stillAnswers(): Promise<boolean> {
  const { data } = await exchange(pg.address.port, [startupPacket(196608, ['user', 'probe', 'database', 'probe'])], { timeoutMs: 1000 });
  return data.subarray(0, 1).toString() === 'R' && data.includes(Buffer.from('SCRAM-SHA-256\0'));
}

describe('pgwire listener: answers before authentication, side by side with PostgreSQL 15', () => {
  it.each([
    ['an SSLRequest followed by a startup without a user', [SSL, startupPacket(196608, ['database', 'x'])]],
    ['protocol 4.0', [startupPacket(4 << 16, ['user', 'x'])]],
    ['protocol 2.0', [startupPacket(2 << 16, ['user', 'x'])]],
    ['a cancel request', [CANCEL]],
    ['a startup length of 2', [Buffer.from([0, 0, 0, 2, 1, 2, 3, 4])]],
    ['an HTTP request', [Buffer.from('GET / HTTP/1.1\r\nHost: db\r\n\r\n')]],
  ])('%s gets the same bytes', async (_name, chunks) => {
    const { ours, real } = await sideBySide(chunks);
    expect(ours.data.toString('latin1')).toBe(real.data.toString('latin1'));
    expect(ours.closed).toBe(real.closed);
  });

  it('an SSLRequest with the startup already behind it in the same write: the same man-in-the-middle error', async () => {
    const both = Buffer.concat([SSL, startupPacket(196608, ['user', 'x'])]);
    const { ours, real } = await sideBySide([both]);
    expect(real.data.toString('latin1')).toContain('received unencrypted data after SSL request');
    expect(ours.data.toString('latin1')).toBe(real.data.toString('latin1'));
  });

  it('a protocol 3.2 startup with an unknown _pq_ option gets the same NegotiateProtocolVersion first', async () => {
    const { ours, real } = await sideBySide([startupPacket((3 << 16) | 2, ['user', 'x', '_pq_.extension', 'on'])]);
    const negotiate = (b: Buffer) => b.subarray(0, 1 + b.readUInt32BE(1));
    expect(real.data.subarray(0, 1).toString()).toBe('v');
    expect(negotiate(ours.data).equals(negotiate(real.data))).toBe(true);
  });

  it('a GSSENCRequest gets N as from a server without GSSAPI encryption, and the startup carries on', async () => {
    // Debian's own build answers 'G' (it has GSSAPI); clients send this only with a Kerberos ticket at hand.
    const GSSENC = Buffer.from([0, 0, 0, 8, 4, 210, 22, 48]);
    const { data } = await exchange(pg.address.port, [GSSENC, SSL, startupPacket(196608, ['user', 'x'])], { gapMs: 100, timeoutMs: 800 });
    expect(data.subarray(0, 2).toString('latin1')).toBe('NN');
    expect(data.subarray(2, 3).toString('latin1')).toBe('R');
  });

  it('sends nothing but the SCRAM request after a startup (no ParameterStatus, no BackendKeyData before authentication)', async () => {
    const { data } = await exchange(pg.address.port, [startupPacket(196608, ['user', 'anyone', 'application_name', 'x'])], { timeoutMs: 600 });
    expect(data.toString('latin1')).toBe('R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0');
  });
});

describe('pgwire listener: hostile clients', () => {
  it('survives garbage, truncated and oversized packets and still answers', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    await garbage(pg.address.port, 120);
    const truncated = await exchange(pg.address.port, [Buffer.concat([int32(200), int32(196608), Buffer.from('user\0')])], { timeoutMs: 3000 });
    expect(truncated).toMatchObject({ closed: true });
    const huge = await exchange(pg.address.port, [Buffer.concat([int32(0x7fffffff), int32(196608)])], { timeoutMs: 3000 });
    expect(huge.closed).toBe(true);
    expect(huge.data.length).toBe(0);
    const bigSasl = Buffer.concat([Buffer.from('p'), int32(1 << 20), Buffer.alloc(8192, 0x41)]);
    const afterStartup = await exchange(pg.address.port, [startupPacket(196608, ['user', 'x']), bigSasl], { gapMs: 50, timeoutMs: 3000 });
    expect(afterStartup.closed).toBe(true);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    expect(await stillAnswers()).toBe(true);
  });

  it('closes a slow-drip connection at its total deadline although it is never idle', async () => {
    const lived = await trickle(pg.address.port, startupPacket(196608, ['user', 'slow', 'database', 'slow'.repeat(200)]), LIMITS.idleMs / 4, 6000);
    expect(lived).toBeGreaterThanOrEqual(LIMITS.sessionMs - 50);
    expect(lived).toBeLessThan(LIMITS.sessionMs + 1000);
  });

  it('caps connections per source; the flood ends and the listener (and the public listener) still answer', async () => {
    const f = await flood(pg.address.port, 40, LIMITS.maxPerSource);
    expect(f.open()).toBeLessThanOrEqual(LIMITS.maxPerSource);
    expect(f.open()).toBeGreaterThan(0);
    const res = await fetch(`${s.publicUrl}/`);
    expect(res.headers.get('server')).toBe('nginx');
    f.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(await stillAnswers()).toBe(true);
  });
});
