import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMysql } from '../../src/listeners/mysql.ts';
import type { RunningListener } from '../../src/listeners/registry.ts';
import { silentLog, startTestServer, type TestServer } from '../helpers.ts';
import { flood, garbage, trickle } from './hostile.ts';
import { greeting } from './wire-client.ts';

/**
 * The MySQL listener on the wire, side by side with the genuine MariaDB 10.11 on
 * 127.0.0.1:3306: the greeting matches byte for byte but for the connection id and scramble,
 * and malformed handshakes get the same answers; hostile clients get nowhere.
 */
const REAL_MARIADB_PORT = 3306;
const LIMITS = { maxConnections: 24, maxPerSource: 6, idleMs: 400, sessionMs: 1500, maxBuffered: 16_384 };
let s: TestServer;
let my: RunningListener;

beforeAll(async () => {
  s = await startTestServer({ DNS_ENABLED: 'false', SMTP_ENABLED: 'false' });
  my = await startMysql({ config: s.config, log: silentLog, deps: s.app.deps }, LIMITS);
});
afterAll(async () => {
  await my?.close();
  await s.stop();
});

/** Offsets of what differs per connection in a Handshake V10: the connection id and both scramble parts. */
function variable(g: Buffer): number[] {
  const versionEnd = g.indexOf(0, 5);
  const thread = versionEnd + 1;
  const part2 = thread + 4 + 9 + 2 + 1 + 2 + 2 + 1 + 6 + 4;
  return [...[0, 1, 2, 3].map((i) => thread + i), ...Array.from({ length: 8 }, (_, i) => thread + 4 + i), ...Array.from({ length: 12 }, (_, i) => part2 + i)];
}
const masked = (g: Buffer) => {
  const copy = Buffer.from(g);
  for (const i of variable(g)) copy[i] = 0x2a;
  return copy;
};

const packet = (seq: number, payload: Buffer) => {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq;
  return Buffer.concat([head, payload]);
};
/** A HandshakeResponse41 prefix (32 bytes) with `caps`. */
const prefix = (caps: number) => {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(caps >>> 0, 0);
  b.writeUInt32LE(16 * 1024 * 1024, 4);
  b[8] = 33;
  return b;
};
/** PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD | CONNECT_WITH_DB … as libmariadb sends. */
const CLIENT_CAPS = 0x000ba28d;

/** Read the greeting, then send `after(greeting)`; everything the server sends after the greeting. */
function converse(port: number, after: (g: Buffer) => Buffer[], timeoutMs = 1500): Promise<{ greeting: Buffer; reply: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let first: Buffer | null = null;
    const rest: Buffer[] = [];
    let timedOut = false;
    sock.on('error', () => {});
    sock.on('data', (d) => {
      if (first) return void rest.push(d);
      first = d;
      for (const p of after(d)) sock.write(p);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      sock.destroy();
    }, timeoutMs);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ greeting: first ?? Buffer.alloc(0), reply: Buffer.concat(rest), closed: !timedOut });
    });
  });
}

async function sideBySide(after: (g: Buffer) => Buffer[]) {
  const [ours, real] = await Promise.all([converse(my.address.port, after), converse(REAL_MARIADB_PORT, after)]);
  return { ours, real };
}

/** The listener still greets like MariaDB. */
async function stillGreets(): Promise<boolean> {
  const g = await greeting(my.address.port, 1000);
  return g.includes(Buffer.from('-MariaDB-'));
}

describe('mysql listener: side by side with MariaDB 10.11', () => {
  it('greets with the same bytes but for the connection id and the scramble', async () => {
    const [ours, real] = await Promise.all([greeting(my.address.port), greeting(REAL_MARIADB_PORT)]);
    expect(real.length).toBeGreaterThan(60);
    expect(ours.length).toBe(real.length);
    expect(masked(ours).toString('hex')).toBe(masked(real).toString('hex'));
  });

  it.each([
    ['an SSLRequest (the server offers no TLS)', () => [packet(1, prefix(CLIENT_CAPS | 0x800))]],
    ['a pre-4.1 garbage handshake', () => [packet(1, Buffer.from('hello world this is not mysql at all'))]],
    ['a 3-byte handshake', () => [packet(1, Buffer.from([1, 2, 3]))]],
    ['a handshake with the wrong sequence id', () => [packet(5, Buffer.concat([prefix(CLIENT_CAPS), Buffer.from('someone\0'), Buffer.from([0]), Buffer.from('mysql_native_password\0')]))]],
    ['a handshake whose user name never ends', () => [packet(1, Buffer.concat([prefix(CLIENT_CAPS), Buffer.from('x'.repeat(40))]))]],
  ])('%s gets the same answer', async (_name, after) => {
    const { ours, real } = await sideBySide(after);
    expect(real.reply.length).toBeGreaterThan(0);
    expect(ours.reply.toString('latin1')).toBe(real.reply.toString('latin1'));
    expect(ours.closed).toBe(real.closed);
  });

  it('a client asking for caching_sha2_password is switched to native password with the greeting scramble, as MariaDB does', async () => {
    const hello = Buffer.concat([prefix(CLIENT_CAPS), Buffer.from('x\0'), Buffer.from([20]), Buffer.alloc(20, 7), Buffer.from('db\0caching_sha2_password\0')]);
    const { ours, real } = await sideBySide(() => [packet(1, hello)]);
    const scrambleOf = (g: Buffer) => Buffer.from(variable(g).slice(4).map((i) => g[i] ?? 0));
    for (const side of [ours, real]) {
      expect(side.reply.subarray(0, 5).toString('latin1')).toBe(',\0\0\x02\xfe');
      expect(side.reply.subarray(5 + 22, 5 + 22 + 20).equals(scrambleOf(side.greeting))).toBe(true);
    }
    expect(ours.reply.length).toBe(real.reply.length);
  });
});

describe('mysql listener: hostile clients', () => {
  it('survives garbage, truncated and oversized packets and still greets', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    await garbage(my.address.port, 120);
    const truncated = await converse(my.address.port, () => [Buffer.from([200, 0, 0, 1, 1, 2, 3])], 3000);
    expect(truncated).toMatchObject({ closed: true });
    const huge = await converse(my.address.port, () => [Buffer.from([0xff, 0xff, 0xff, 1, 1, 2, 3])], 3000);
    expect(huge.closed).toBe(true);
    expect(huge.reply.length).toBe(0);
    const attrsLie = Buffer.concat([prefix(CLIENT_CAPS | 0x100000), Buffer.from('x\0'), Buffer.from([0]), Buffer.from('db\0mysql_native_password\0'), Buffer.from([0xfd, 0xff, 0xff, 0xff])]);
    const lie = await converse(my.address.port, () => [packet(1, attrsLie)], 3000);
    expect(lie.reply.toString('latin1')).toContain('Bad handshake');
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    expect(await stillGreets()).toBe(true);
  });

  it('closes a slow-drip connection at its total deadline although it is never idle', async () => {
    const lived = await trickle(my.address.port, packet(1, Buffer.concat([prefix(CLIENT_CAPS), Buffer.alloc(2000, 0x61)])), LIMITS.idleMs / 4, 6000);
    expect(lived).toBeGreaterThanOrEqual(LIMITS.sessionMs - 50);
    expect(lived).toBeLessThan(LIMITS.sessionMs + 1000);
  });

  it('caps connections per source; the flood ends and the listener (and the public listener) still answer', async () => {
    const f = await flood(my.address.port, 40, LIMITS.maxPerSource);
    expect(f.open()).toBeLessThanOrEqual(LIMITS.maxPerSource);
    expect(f.open()).toBeGreaterThan(0);
    const res = await fetch(`${s.publicUrl}/`);
    expect(res.headers.get('server')).toBe('nginx');
    f.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(await stillGreets()).toBe(true);
  });
});

