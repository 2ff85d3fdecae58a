import { createSocket, type RemoteInfo } from 'node:dgram';
import { tokenLookups } from '../db/queries/tokens.ts';
import type { AppDeps } from '../deps.ts';
import type { RunningListener } from '../listeners/registry.ts';
import { normalizeIp } from '../net.ts';
import type { Token, WireguardInitiationInfo } from '../tokens/kind.ts';
import { wireguardLookupKinds } from '../tokens/registry.ts';
import { ensureWireguardKey } from '../wireguard-keys.ts';
import { createRateLimiter } from './dns-guard.ts';
import { isInitiation, mac1Valid, openInitiation, responder } from './wireguard-noise.ts';

/**
 * The WireGuard listener for wireguard tokens: a UDP port that behaves like a WireGuard
 * interface with no peer configured for the sender, which drops every handshake without a word.
 * A handshake initiation is checked in order of cost: its shape (148 bytes, type 1), its mac1
 * (one keyed BLAKE2s over our public key: random UDP stops here), a per-source and an overall
 * budget of decryptions, then two X25519 operations open the initiator's static public key and
 * timestamp. A static key that is a live token's, with a timestamp that opened (so the planted
 * private key made it), is a hit. Nothing is ever sent back.
 */

/** Bounds besides the WIREGUARD_* settings (tests shorten them). */
export const WIREGUARD_LIMITS = {
  /** Decryptions per second, all sources together (each is two X25519 operations, ~0.3 ms). */
  globalPerSecond: 400,
  /** Hits being recorded at once; more initiations are dropped until some finish. */
  maxInFlight: 64,
  /** Drop counters are logged at most this often. */
  logEveryMs: 60_000,
};

/** What the listener dropped and why, for tests and the log. */
export interface WireguardStats {
  received: number;
  /** Not an initiation: other message types (responses, cookies, data), wrong sizes, garbage. */
  notInitiation: number;
  badMac: number;
  rateLimited: number;
  /** mac1 was right but the static key did not open, or did open without its private key. */
  unopened: number;
  /** Opened, and the static key is no live token's. */
  unknownKey: number;
  recorded: number;
}

/** Start the WireGuard listener on WIREGUARD_HOST:WIREGUARD_PORT. */
export async function startWireguardListener(deps: AppDeps, limits: Partial<typeof WIREGUARD_LIMITS> = {}): Promise<RunningListener & { stats: WireguardStats }> {
  const { config, log } = deps;
  const bounds = { ...WIREGUARD_LIMITS, ...limits };
  const key = ensureWireguardKey(config.DATA_DIR);
  const r = responder(key.privateKey, key.publicKey);
  const perSource = createRateLimiter({ perSecond: config.WIREGUARD_RATE_LIMIT });
  const overall = createRateLimiter({ perSecond: bounds.globalPerSecond });
  const lookups = tokenLookups(deps.db);
  const kinds = wireguardLookupKinds();
  const stats: WireguardStats = { received: 0, notInitiation: 0, badMac: 0, rateLimited: 0, unopened: 0, unknownKey: 0, recorded: 0 };
  let inFlight = 0;
  let loggedAt = 0;

  const noteDrop = (reason: keyof WireguardStats, sourceIp: string): void => {
    stats[reason]++;
    const now = Date.now();
    if (reason === 'rateLimited' && now - loggedAt > bounds.logEveryMs) {
      loggedAt = now;
      log.warn({ event: 'wireguard-rate-limited', sourceIp, stats: { ...stats } }, 'wireguard listener: handshakes over the decryption budget are dropped unread');
    }
  };

  const record = async (info: WireguardInitiationInfo): Promise<void> => {
    for (const kind of kinds) {
      const lookupKey = kind.wireguard?.lookupKey(info);
      if (!lookupKey) continue;
      const row = await lookups.byLookupKey(lookupKey);
      if (!row || row.kind !== kind.id) continue;
      if (!row.enabled) {
        log.info({ event: 'unknown-token', channel: 'wireguard', tokenId: row.id, sourceIp: info.sourceIp }, 'wireguard handshake with an inactive token');
        return;
      }
      const token = row as Token;
      const facts = kind.wireguard?.describe?.(info, token) ?? {};
      await deps.recorder.record({ token, channel: 'wireguard', sourceIp: info.sourceIp, sourcePort: info.sourcePort, method: 'handshake-initiation', facts });
      stats.recorded++;
      return;
    }
    stats.unknownKey++;
  };

  const onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    stats.received++;
    const sourceIp = normalizeIp(rinfo.address);
    if (!isInitiation(msg)) return noteDrop('notInitiation', sourceIp);
    if (!mac1Valid(r, msg)) return noteDrop('badMac', sourceIp);
    if (inFlight >= bounds.maxInFlight || !perSource.allow(sourceIp) || !overall.allow('*')) return noteDrop('rateLimited', sourceIp);
    const opened = openInitiation(r, msg);
    if (!opened?.timestamp) return noteDrop('unopened', sourceIp);
    const info: WireguardInitiationInfo = {
      publicKey: Buffer.from(opened.staticKey).toString('base64'),
      proven: true,
      clock: opened.timestamp,
      senderIndex: opened.senderIndex,
      sourceIp,
      sourcePort: rinfo.port,
    };
    inFlight++;
    record(info)
      .catch((err: unknown) => log.error({ err, sourceIp }, 'wireguard listener failed to record a handshake'))
      .finally(() => inFlight--);
  };

  const socket = createSocket({ type: config.WIREGUARD_HOST.includes(':') ? 'udp6' : 'udp4' });
  socket.on('message', (msg, rinfo) => {
    try {
      onMessage(msg, rinfo);
    } catch (err) {
      log.error({ err }, 'wireguard listener failed on a datagram');
    }
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`wireguard listener could not bind ${config.WIREGUARD_HOST}:${config.WIREGUARD_PORT}/udp: ${err.message}`, { cause: err }));
    socket.once('error', onError);
    socket.bind(config.WIREGUARD_PORT, config.WIREGUARD_HOST, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  socket.on('error', (err) => log.error({ err }, 'wireguard listener error'));
  const addr = socket.address();
  return {
    name: 'wireguard',
    address: { host: addr.address, port: addr.port },
    stats,
    close: () => new Promise<void>((done) => socket.close(() => done())),
  };
}
