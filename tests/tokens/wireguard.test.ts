import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WireguardStats } from '../../src/channels/wireguard.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import { updateToken } from '../../src/db/queries/tokens.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { sendUdp, wireguardInitiation } from './wireguard-initiator.ts';

/**
 * The wireguard kind and the WireGuard listener. Keys are checked with Debian's `wg`
 * (wireguard-tools). No userspace WireGuard client runs here without a tun device (wireguard-go
 * and boringtun both need one), so the handshake initiation a client sends when the tunnel comes
 * up is built by wireguard-initiator.ts from the whitepaper, independently of the listener's
 * code, and sent over UDP to 127.0.0.1.
 */
let s: TestServer;
let port: number;
let stats: WireguardStats;
beforeAll(async () => {
  s = await startTestServer();
  port = s.app.port('wireguard');
  stats = (s.app.listeners.find((l) => l.name === 'wireguard') as unknown as { stats: WireguardStats }).stats;
}, 30_000);
afterAll(() => s.stop());

function wg(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('wg', args, { encoding: 'utf8', timeout: 10_000 }, (err, out) => (err ? reject(err) : resolve(out.trim())));
    // wg genkey reads nothing: it may exit before its stdin is closed.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const serverPub = async () => b64(await wg(['pubkey'], readFileSync(join(s.dir, 'wireguard', 'private.key'), 'utf8')));
const field = (conf: string, name: string) => new RegExp(`^${name} = (.+)$`, 'm').exec(conf)?.[1] ?? expect.fail(`no ${name}`);

async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !until(); i++) await new Promise((r) => setTimeout(r, 20));
}

async function plant(): Promise<{ token: TokenRow; conf: string }> {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'wireguard', params: { port } });
  const conf = (await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' })).body.toString('utf8');
  return { token, conf };
}

describe('wireguard kind', () => {
  it('plants a wg-quick config whose keys wg itself pairs with the token and with the listener', async () => {
    const { token, conf } = await plant();
    expect(conf).toMatch(/^\[Interface\]\nPrivateKey = \S{43}=\nAddress = 10\.\d+\.\d+\.\d+\/32\nDNS = 10\.\d+\.0\.\d+\n\n\[Peer\]\nPublicKey = \S{43}=\nAllowedIPs = [0-9a-f.:/, ]+\nEndpoint = 127\.0\.0\.1:\d+\nPersistentKeepalive = 25\n$/);
    expect(await wg(['pubkey'], field(conf, 'PrivateKey'))).toBe(token.params.publicKey);
    expect(field(conf, 'PublicKey')).toBe(Buffer.from(await serverPub()).toString('base64'));
    expect(field(conf, 'Endpoint')).toBe(`127.0.0.1:${port}`);
    expect(token.lookupKey).toBe(`wg:${String(token.params.publicKey)}`);
  });

  it('a handshake initiation made with the planted private key is a credential-use hit with source address and port, and is never answered', async () => {
    const { token, conf } = await plant();
    const before = stats.recorded;
    const clock = new Date(Date.now() - 3600_000);
    const replies = await sendUdp(wireguardInitiation(b64(field(conf, 'PrivateKey')), await serverPub(), { clock }), port);
    expect(replies).toEqual([]);
    await settle(() => stats.recorded > before);
    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ channel: 'wireguard', sourceIp: '127.0.0.1', method: 'handshake-initiation', classification: 'alert', credential: `${String(token.params.publicKey).slice(0, 10)}…` });
    expect(hits[0]?.sourcePort).toBeGreaterThan(0);
    expect(hits[0]?.details).toMatchObject({ wireguard: 'handshake', publicKey: token.params.publicKey, clientClock: new Date(Math.floor(clock.getTime() / 1000) * 1000 + (clock.getTime() % 1000)).toISOString() });
    expect(Number(hits[0]?.details?.clockSkewSeconds)).toBeLessThan(-3500);
  });

  it('random bytes, a bad mac1, an unknown key (wg genkey) and a forged static key are no token hits and get no answer', async () => {
    const { token, conf } = await plant();
    const pub = await serverPub();
    const before = { ...stats };
    const stranger = b64(await wg(['genkey']));
    const packets = [
      randomBytes(148),
      Buffer.concat([Buffer.from([1, 0, 0, 0]), randomBytes(144)]),
      randomBytes(32),
      wireguardInitiation(b64(field(conf, 'PrivateKey')), pub, { breakMac: true }),
      wireguardInitiation(stranger, pub),
      // The token's public key in the static field, sealed by someone without its private key.
      wireguardInitiation(stranger, pub, { claimStatic: b64(String(token.params.publicKey)) }),
    ];
    const replies = await sendUdp(packets, port);
    expect(replies).toEqual([]);
    await settle(() => stats.received - before.received >= packets.length && stats.unknownKey > before.unknownKey);
    expect(stats.notInitiation - before.notInitiation).toBe(2);
    expect(stats.badMac - before.badMac).toBe(2);
    expect(stats.unknownKey - before.unknownKey).toBe(1);
    expect(stats.unopened - before.unopened).toBe(1);
    expect(stats.recorded).toBe(before.recorded);
    expect(await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 })).toHaveLength(0);
  });

  it('a disabled token\'s key is recognised but not recorded, and still not answered', async () => {
    const { token, conf } = await plant();
    await updateToken(s.app.deps.db, token.id, { enabled: false });
    const before = { ...stats };
    expect(await sendUdp(wireguardInitiation(b64(field(conf, 'PrivateKey')), await serverPub()), port)).toEqual([]);
    await settle(() => stats.received > before.received);
    expect(stats.recorded).toBe(before.recorded);
    expect(await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 })).toHaveLength(0);
  });

  it('a flood of handshake-shaped datagrams with a wrong mac1 is dropped before any decryption', async () => {
    const before = { ...stats };
    const flood = Array.from({ length: 500 }, () => Buffer.concat([Buffer.from([1, 0, 0, 0]), randomBytes(144)]));
    expect(await sendUdp(flood, port, 500)).toEqual([]);
    // Loopback UDP drops what overflows the socket buffer: every datagram that arrived counts as a bad mac1.
    const arrived = stats.received - before.received;
    expect(arrived).toBeGreaterThan(100);
    expect(stats.badMac - before.badMac).toBe(arrived);
    expect(stats.rateLimited).toBe(before.rateLimited);
    expect(stats.unopened).toBe(before.unopened);
    expect(stats.recorded).toBe(before.recorded);
  });

  it('bounds decryptions per source: a burst of valid initiations from one address is cut at the rate limit', async () => {
    const { token, conf } = await plant();
    const pub = await serverPub();
    const before = { ...stats };
    const key = b64(field(conf, 'PrivateKey'));
    const burst = Array.from({ length: 40 }, () => wireguardInitiation(key, pub));
    await sendUdp(burst, port, 500);
    await settle(() => stats.received - before.received >= 40);
    const decrypted = stats.recorded - before.recorded;
    expect(stats.rateLimited - before.rateLimited).toBeGreaterThan(0);
    // WIREGUARD_RATE_LIMIT (5/s) allows a burst of 10, and a little refill while the burst arrives.
    expect(decrypted).toBeGreaterThan(0);
    expect(decrypted).toBeLessThanOrEqual(14);
    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 50 });
    expect(hits.length).toBeGreaterThan(0);
  });
});
