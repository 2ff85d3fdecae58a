import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { randomBytes, randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { ask, queryPacket } from './dns-client.ts';

/**
 * Fuzz: thousands of random and mutated packets over UDP and TCP (bounded count and time),
 * then proof the server still answers correctly and records hits. A crash, an unhandled
 * rejection or a stuck event loop fails the run.
 */
const ZONE = 't.example.test';
const UDP_PACKETS = 6000;
const TCP_CONNECTIONS = 40;
const TCP_FRAMES_PER_CONNECTION = 50;

let s: TestServer;
let port: number;
let tokenId: string;

beforeAll(async () => {
  s = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0' });
  port = s.app.port('dns');
  tokenId = (await makeToken(s.app.deps.db, s.config, { kind: 'dns' })).token.id;
});
afterAll(() => s.stop());

const seeds = (): Buffer[] => [
  queryPacket(`ns1.${ZONE}`, 'A'),
  queryPacket(`${'a'.repeat(63)}.${'b'.repeat(63)}.${ZONE}`, 'TXT'),
  queryPacket(`x.${ZONE}`, 'ANY', [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [{ code: 8, family: 1, sourcePrefixLength: 24, scopePrefixLength: 0, ip: '203.0.113.0' }] }]),
  queryPacket('example.org', 'MX'),
];

/** One hostile packet: random bytes, a bit-flipped/truncated/extended seed, or a seed with lying counts or pointers. */
function mutant(seedList: Buffer[]): Buffer {
  const seed = Buffer.from(seedList[randomInt(seedList.length)] ?? Buffer.alloc(12));
  switch (randomInt(7)) {
    case 0:
      return randomBytes(randomInt(0, 700));
    case 1: {
      for (let i = 0, n = randomInt(1, 8); i < n; i++) seed[randomInt(seed.length)] = randomInt(256);
      return seed;
    }
    case 2:
      return seed.subarray(0, randomInt(seed.length));
    case 3:
      return Buffer.concat([seed, randomBytes(randomInt(1, 1500))]);
    case 4: {
      for (let i = 4; i < 12; i += 2) seed.writeUInt16BE(randomInt(65536), i);
      return seed;
    }
    case 5: {
      const at = randomInt(12, seed.length - 1);
      seed[at] = 0xc0 | randomInt(64);
      seed[at + 1] = randomInt(256);
      return seed;
    }
    default:
      seed[2] = randomInt(256);
      seed[3] = randomInt(256);
      return seed;
  }
}

describe('dns fuzz', () => {
  it(`survives ${UDP_PACKETS} hostile UDP packets`, async () => {
    const sock = createSocket('udp4');
    let replies = 0;
    sock.on('message', () => replies++);
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const list = seeds();
    // Every packet of at least a header with the QR bit clear deserves an answer (FORMERR at worst).
    let answerable = 0;
    for (let i = 0; i < UDP_PACKETS; i++) {
      const packet = mutant(list);
      if (packet.length >= 12 && (packet[2] ?? 0) < 0x80) answerable++;
      await new Promise<void>((r) => sock.send(packet, port, '127.0.0.1', () => r()));
      // Let the server breathe now and then so the socket buffer is not simply overrun.
      if (i % 25 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, 300));
    sock.close();
    expect(replies).toBeGreaterThan(answerable * 0.9);
    expect(replies).toBeLessThanOrEqual(answerable);
    const reply = await ask(port, `ns1.${ZONE}`, 'A');
    expect(reply?.answers?.[0]).toMatchObject({ type: 'A', data: '127.0.0.1' });
  }, 60_000);

  it(`survives ${TCP_CONNECTIONS} connections of hostile frames and raw garbage`, async () => {
    const list = seeds();
    const runOne = (framed: boolean) =>
      new Promise<void>((resolve) => {
        const sock = connect({ port, host: '127.0.0.1' });
        const timer = setTimeout(() => sock.destroy(), 3000);
        sock.on('error', () => undefined);
        sock.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
        sock.on('data', () => undefined);
        sock.on('connect', () => {
          const chunks: Buffer[] = [];
          for (let i = 0; i < TCP_FRAMES_PER_CONNECTION; i++) {
            const m = mutant(list);
            if (!framed) chunks.push(m);
            else {
              const len = Buffer.alloc(2);
              len.writeUInt16BE(randomInt(10) === 0 ? randomInt(65536) : m.length);
              chunks.push(len, m);
            }
          }
          sock.end(Buffer.concat(chunks));
        });
      });
    const batch: Promise<void>[] = [];
    for (let i = 0; i < TCP_CONNECTIONS; i++) batch.push(runOne(i % 4 !== 0));
    await Promise.all(batch);
    for (const transport of ['tcp', 'udp'] as const) {
      const reply = await ask(port, `ns1.${ZONE}`, 'AAAA', { transport });
      expect(reply?.rcode).toBe('NOERROR');
    }
  }, 60_000);

  it('still records token hits correctly afterwards', async () => {
    const before = (await listHits(s.app.deps.db, { tokenId, limit: 1000 })).length;
    const reply = await ask(port, `${tokenId.toUpperCase()}.${ZONE}`, 'A', { transport: 'tcp' });
    expect(reply?.answers?.[0]).toMatchObject({ type: 'A' });
    const after = await listHits(s.app.deps.db, { tokenId, limit: 1000 });
    expect(after.length).toBe(before + 1);
    expect(after[0]).toMatchObject({ qname: `${tokenId}.${ZONE}`, qtype: 'A', channel: 'dns' });
  });
});
