import { connect, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsListener } from '../../src/channels/dns.ts';
import { createDropLog, createRateLimiter } from '../../src/channels/dns-guard.ts';
import { createLogger } from '../../src/logger.ts';
import type { RunningListener } from '../../src/listeners/registry.ts';
import { startTestServer, type TestServer } from '../helpers.ts';
import { ask, queryPacket, tcpExchange, udpExchange } from './dns-client.ts';

const ZONE = 't.example.test';

let s: TestServer;
let port: number;
beforeAll(async () => {
  s = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0' });
  port = s.app.port('dns');
});
afterAll(() => s.stop());

function header(id: number, flags: number, counts: [number, number, number, number]): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => h.writeUInt16BE(c, 4 + i * 2));
  return h;
}
const qtail = Buffer.from([0, 1, 0, 1]);

describe('malformed input is answered FORMERR or dropped', () => {
  const valid = queryPacket(`ns1.${ZONE}`, 'A');
  const table: [string, Buffer, 'FORMERR' | 'NOTIMP' | null][] = [
    ['shorter than a header', Buffer.from([1, 2, 3, 4, 5]), null],
    ['a response, not a query', Buffer.concat([header(7, 0x8000, [1, 0, 0, 0]), valid.subarray(12)]), null],
    ['truncated question', valid.subarray(0, valid.length - 3), 'FORMERR'],
    ['header only, one question promised', header(7, 0x0100, [1, 0, 0, 0]), 'FORMERR'],
    ['two questions', Buffer.concat([header(7, 0, [2, 0, 0, 0]), valid.subarray(12), valid.subarray(12)]), 'FORMERR'],
    ['answers in a query', Buffer.concat([header(7, 0, [1, 1, 0, 0]), valid.subarray(12)]), 'FORMERR'],
    ['compression pointer to itself', Buffer.concat([header(7, 0, [1, 0, 0, 0]), Buffer.from([0xc0, 0x0c]), qtail]), 'FORMERR'],
    ['compression pointer forward (loop)', Buffer.concat([header(7, 0, [1, 0, 0, 0]), Buffer.from([1, 0x61, 0xc0, 0x12, 1, 0x62, 0xc0, 0x0c]), qtail]), 'FORMERR'],
    ['label longer than 63 (bad label type)', Buffer.concat([header(7, 0, [1, 0, 0, 0]), Buffer.from([0x50, 0x61]), qtail]), 'FORMERR'],
    ['binary bytes in the name', Buffer.concat([header(7, 0, [1, 0, 0, 0]), Buffer.from([2, 0xff, 0x00, 1, 0x74, 0]), qtail]), 'FORMERR'],
    ['oversized datagram', Buffer.concat([valid, Buffer.alloc(5000)]), 'FORMERR'],
    ['opcode NOTIFY', Buffer.concat([header(7, 4 << 11, [1, 0, 0, 0]), valid.subarray(12)]), 'NOTIMP'],
  ];
  it.each(table)('%s (UDP)', async (_label, packet, rcode) => {
    const reply = await udpExchange(port, packet, { timeoutMs: rcode ? 2000 : 400 });
    if (rcode === null) {
      expect(reply).toBeNull();
      return;
    }
    expect(reply).not.toBeNull();
    const decoded = dnsPacket.decode(reply ?? Buffer.alloc(0)) as dnsPacket.DecodedPacket & { rcode: string };
    expect(decoded.rcode).toBe(rcode);
    expect(decoded.id).toBe(packet.readUInt16BE(0));
    expect(decoded.flag_qr).toBe(true);
  });

  it('a bad TCP frame gets FORMERR; a frame longer than allowed closes the connection', async () => {
    const bad = Buffer.concat([header(9, 0, [1, 0, 0, 0]), Buffer.from([0xc0, 0x0c]), qtail]);
    const reply = await tcpExchange(port, bad);
    expect((dnsPacket.decode(reply ?? Buffer.alloc(0)) as { rcode?: string }).rcode).toBe('FORMERR');
    expect(await tcpExchange(port, Buffer.alloc(6000))).toBeNull();
    expect(await tcpExchange(port, Buffer.alloc(4))).toBeNull();
  });

  it('still answers after all that', async () => {
    expect((await ask(port, `ns1.${ZONE}`, 'A'))?.answers?.[0]).toMatchObject({ type: 'A' });
  });
});

describe('per-source rate limit', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '5' });
  });
  afterAll(() => limited.stop());

  it('a flood from one address is cut to the burst while another address is still answered', async () => {
    const p = limited.app.port('dns');
    const flood = await Promise.all(Array.from({ length: 60 }, () => udpExchange(p, queryPacket(`ns1.${ZONE}`, 'A'), { from: '127.0.0.2', timeoutMs: 700 })));
    const answered = flood.filter((r) => r !== null).length;
    // Burst of 10 plus at most a few tokens refilled (5/s) while the flood was sent.
    expect(answered).toBeGreaterThanOrEqual(10);
    expect(answered).toBeLessThanOrEqual(15);
    const other = await ask(p, `ns1.${ZONE}`, 'A', { from: '127.0.0.3' });
    expect(other?.rcode).toBe('NOERROR');
  });

  it('TCP queries share the same per-source budget, and the source recovers after a pause', async () => {
    const p = limited.app.port('dns');
    const replies = await Promise.all(Array.from({ length: 14 }, () => ask(p, `ns1.${ZONE}`, 'A', { from: '127.0.0.9', transport: 'tcp', timeoutMs: 700 })));
    const answered = replies.filter((r) => r !== null).length;
    expect(answered).toBeGreaterThanOrEqual(10);
    expect(answered).toBeLessThan(14);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await ask(p, `ns1.${ZONE}`, 'A', { from: '127.0.0.9' }))?.rcode).toBe('NOERROR');
  });
});

describe('TCP connections are bounded in count and time', () => {
  let listener: RunningListener;
  beforeAll(async () => {
    listener = await startDnsListener(s.app.deps, { maxTcpPerSource: 2, tcpIdleMs: 300, tcpLifetimeMs: 1500 });
  });
  afterAll(() => listener.close());

  const open = (from: string): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const sock = connect({ port: listener.address.port, host: '127.0.0.1', localAddress: from }, () => resolve(sock));
      sock.once('error', reject);
    });
  const closed = (sock: Socket, withinMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (sock.destroyed) return resolve(true);
      const timer = setTimeout(() => resolve(false), withinMs);
      sock.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });

  it('more connections than allowed from one source are closed at once; other sources still connect', async () => {
    const a = await open('127.0.0.4');
    const b = await open('127.0.0.4');
    const c = await open('127.0.0.4');
    expect(await closed(c, 200)).toBe(true);
    expect(await closed(a, 50)).toBe(false);
    const reply = await tcpExchange(listener.address.port, queryPacket(`x.${ZONE}`, 'A'), { from: '127.0.0.5' });
    expect(reply).not.toBeNull();
    a.destroy();
    b.destroy();
  });

  it('an idle connection is closed after the idle timeout, a busy one after its lifetime', async () => {
    const idle = await open('127.0.0.6');
    expect(await closed(idle, 1000)).toBe(true);
    const busy = await open('127.0.0.7');
    const start = Date.now();
    const ping = setInterval(() => {
      const q = queryPacket(`x.${ZONE}`, 'A');
      const len = Buffer.alloc(2);
      len.writeUInt16BE(q.length);
      if (!busy.destroyed) busy.write(Buffer.concat([len, q]));
    }, 100);
    const wasClosed = await closed(busy, 3000);
    clearInterval(ping);
    expect(wasClosed).toBe(true);
    expect(Date.now() - start).toBeGreaterThanOrEqual(1300);
  });

  it('pipelined queries on one connection are all answered', async () => {
    const sock = await open('127.0.0.8');
    const frames = Array.from({ length: 40 }, (_, i) => {
      const q = queryPacket(`p${i}.${ZONE}`, 'A');
      const len = Buffer.alloc(2);
      len.writeUInt16BE(q.length);
      return Buffer.concat([len, q]);
    });
    let buf = Buffer.alloc(0);
    let count = 0;
    const done = new Promise<void>((resolve) => {
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= buf.readUInt16BE(0) + 2) {
          buf = buf.subarray(buf.readUInt16BE(0) + 2);
          count++;
        }
        if (count === frames.length) resolve();
      });
    });
    sock.write(Buffer.concat(frames));
    await done;
    expect(count).toBe(40);
    sock.destroy();
  });
});

describe('UDP queries in flight are bounded', () => {
  it('beyond the bound UDP queries are dropped (TCP still answers)', async () => {
    const listener = await startDnsListener(s.app.deps, { maxUdpPending: 0 });
    try {
      expect(await udpExchange(listener.address.port, queryPacket(`u.${ZONE}`, 'A'), { timeoutMs: 400 })).toBeNull();
      expect(await tcpExchange(listener.address.port, queryPacket(`u.${ZONE}`, 'A'))).not.toBeNull();
    } finally {
      await listener.close();
    }
  });
});

describe('answers too large for UDP', () => {
  let big: TestServer;
  const nameServers = Array.from({ length: 8 }, (_, i) => `${'nameserver-with-a-long-label'.repeat(2)}-${i}.${ZONE}`);
  beforeAll(async () => {
    big = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0', DNS_NS: nameServers.join(','), DNS_ANSWER_IPV6: '2001:db8::1' });
  });
  afterAll(() => big.stop());

  it('are truncated (TC) over UDP without EDNS and complete over TCP', async () => {
    const p = big.app.port('dns');
    const udp = await ask(p, ZONE, 'ANY');
    expect(udp?.flag_tc).toBe(true);
    expect(udp?.answers).toEqual([]);
    const tcp = await ask(p, ZONE, 'ANY', { transport: 'tcp' });
    expect(tcp?.flag_tc).toBe(false);
    expect(tcp?.answers?.flatMap((a) => (a.type === 'NS' ? [a.data] : []))).toEqual(nameServers);
    const ns = await ask(p, ZONE, 'NS', { transport: 'tcp' });
    expect(ns?.additionals?.filter((a) => a.type === 'A' || a.type === 'AAAA')).toHaveLength(16);
  });
});

describe('bounded logging of bad input', () => {
  it('logs each drop at debug but summarises at warn at most once per interval', () => {
    const lines: { level: number; msg: string; dropped?: Record<string, number> }[] = [];
    const log = createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line)) });
    let now = 1_000_000;
    const drops = createDropLog(log, 60_000, () => now);
    for (let i = 0; i < 1000; i++) drops.note(i % 2 ? 'malformed' : 'rate-limited', '192.0.2.1', 'x'.repeat(1000));
    now += 61_000;
    drops.note('oversize', '192.0.2.1');
    const warns = lines.filter((l) => l.level === 40);
    expect(warns).toHaveLength(2);
    expect(warns[1]?.dropped).toEqual({ malformed: 500, 'rate-limited': 499, oversize: 1 });
    expect(lines.filter((l) => l.level === 20)).toHaveLength(1001);
    expect(Math.max(...lines.map((l) => JSON.stringify(l).length))).toBeLessThan(600);
    expect(drops.counts).toMatchObject({ malformed: 500, 'rate-limited': 500, oversize: 1 });
  });

  it('the rate limiter refills over time and forgets sources when its table is full', () => {
    let now = 0;
    const limiter = createRateLimiter({ perSecond: 10, maxSources: 3, now: () => now });
    const allowed = () => Array.from({ length: 30 }, () => limiter.allow('a')).filter(Boolean).length;
    expect(allowed()).toBe(20);
    now += 500;
    expect(allowed()).toBe(5);
    for (const src of ['b', 'c', 'd']) expect(limiter.allow(src)).toBe(true);
    expect(allowed()).toBe(20);
    expect(createRateLimiter({ perSecond: 0 }).allow('x')).toBe(true);
  });
});
