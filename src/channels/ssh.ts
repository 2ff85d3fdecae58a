import { createServer, type Socket } from 'node:net';
import ssh2, { type Algorithms, type AuthContext, type ClientInfo, type Connection } from 'ssh2';
import { tokenLookups } from '../db/queries/tokens.ts';
import type { TokenRow } from '../db/schema.ts';
import type { AppDeps } from '../deps.ts';
import type { RunningListener } from '../listeners/registry.ts';
import { normalizeIp } from '../net.ts';
import { ensureHostKeys, sshFingerprint } from '../ssh-host-keys.ts';
import type { SshAuthInfo, Token } from '../tokens/kind.ts';
import { sshLookupKinds } from '../tokens/registry.ts';
import { createKexTap, type KexTap } from './ssh-kex.ts';

/**
 * The SSH listener: a stock-looking Debian OpenSSH (banner, host keys, algorithm order) that
 * refuses every login the way sshd refuses a key or password it does not know. The ssh2 library
 * speaks the protocol; this module bounds it (connections in total and per source, a handshake
 * deadline, an idle timeout, LoginGraceTime, MaxAuthTries) and turns an attempt with a planted
 * key or password into a hit, recorded before the refusal is sent.
 */

/** Bounds besides the SSH_* settings (tests shorten them). */
export const SSH_LIMITS = {
  /** Identification and key exchange must be done by then. */
  handshakeMs: 20_000,
  /** A connection silent this long is dropped. */
  idleMs: 30_000,
  /** Failed authentications before the connection is closed (sshd's MaxAuthTries). */
  maxAuthTries: 6,
};

/** What OpenSSH 9.2 offers, in its order, where ssh2 implements it (no sntrup761 or umac). */
const ALGORITHMS: Algorithms = {
  kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256', 'ecdh-sha2-nistp384', 'ecdh-sha2-nistp521', 'diffie-hellman-group-exchange-sha256', 'diffie-hellman-group16-sha512', 'diffie-hellman-group18-sha512', 'diffie-hellman-group14-sha256'],
  serverHostKey: ['rsa-sha2-512', 'rsa-sha2-256', 'ecdsa-sha2-nistp256', 'ssh-ed25519'],
  cipher: ['chacha20-poly1305@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com'],
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha1-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512', 'hmac-sha1'],
  compress: ['none', 'zlib@openssh.com'],
};

/** Methods a Debian sshd with its default configuration lists after a failure. */
const METHODS = ['publickey', 'password'] as const;

interface Conn {
  socket: Socket;
  tap: KexTap;
  handshake: NodeJS.Timeout;
}

/** Counters for tests and logs: connections dropped by the caps. */
export interface SshStats {
  refused: number;
}

/** Start the SSH listener on SSH_HOST:SSH_PORT. */
export async function startSshListener(deps: AppDeps, limits: Partial<typeof SSH_LIMITS> = {}): Promise<RunningListener & { stats: SshStats }> {
  const { config, log } = deps;
  const bounds = { ...SSH_LIMITS, ...limits };
  const hostKeys = ensureHostKeys(config.DATA_DIR, (err) => log.error({ err }, 'ssh listener: making the RSA host key failed'));
  const conns = new Map<string, Conn>();
  const perSource = new Map<string, number>();
  const stats: SshStats = { refused: 0 };
  const connKey = (ip: string | undefined, port: number | undefined) => `${ip ?? ''}|${port ?? 0}`;

  const server = new ssh2.Server(
    { hostKeys: hostKeys.map((k) => k.privateKey), ident: config.SSH_VERSION, algorithms: ALGORITHMS },
    (client, info) => {
      const conn = conns.get(connKey(info.ip, info.port));
      if (!conn) return client.end();
      serveClient({ deps, bounds, conn }, client, info);
    },
  );
  server.on('error', (err: Error) => log.debug({ err }, 'ssh listener: server error'));

  const tcp = createServer((socket) => {
    const ip = normalizeIp(socket.remoteAddress ?? '');
    const fromSource = perSource.get(ip) ?? 0;
    if (conns.size >= config.SSH_MAX_CONNECTIONS || fromSource >= config.SSH_MAX_PER_SOURCE) {
      // sshd past MaxStartups drops the connection before its banner.
      stats.refused++;
      socket.destroy();
      return;
    }
    const key = connKey(socket.remoteAddress, socket.remotePort);
    perSource.set(ip, fromSource + 1);
    const grace = setTimeout(() => socket.destroy(), config.SSH_LOGIN_GRACE);
    const conn: Conn = { socket, tap: createKexTap(), handshake: setTimeout(() => socket.destroy(), bounds.handshakeMs) };
    conns.set(key, conn);
    socket.once('close', () => {
      clearTimeout(grace);
      clearTimeout(conn.handshake);
      conns.delete(key);
      const left = (perSource.get(ip) ?? 1) - 1;
      if (left > 0) perSource.set(ip, left);
      else perSource.delete(ip);
    });
    socket.on('error', () => socket.destroy());
    socket.setTimeout(bounds.idleMs, () => socket.destroy());
    const onData = (chunk: Buffer) => {
      if (conn.tap.push(chunk)) socket.off('data', onData);
    };
    socket.on('data', onData);
    server.injectSocket(socket);
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`ssh listener could not bind ${config.SSH_HOST}:${config.SSH_PORT}: ${err.message}`, { cause: err }));
    tcp.once('error', onError);
    tcp.listen(config.SSH_PORT, config.SSH_HOST, () => {
      tcp.off('error', onError);
      resolve();
    });
  });
  tcp.on('error', (err) => log.error({ err }, 'ssh listener error'));
  const addr = tcp.address();
  const address = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host: config.SSH_HOST, port: config.SSH_PORT };
  return {
    name: 'ssh',
    address,
    stats,
    close: () =>
      new Promise<void>((done) => {
        tcp.close(() => done());
        // Nothing is in flight past a refusal: open connections are simply cut.
        for (const c of conns.values()) c.socket.destroy();
      }),
  };
}

interface ClientContext {
  deps: AppDeps;
  bounds: typeof SSH_LIMITS;
  conn: Conn;
}

function serveClient(ctx: ClientContext, client: Connection, info: ClientInfo): void {
  const { deps, bounds, conn } = ctx;
  const clientVersion = clip(info.header.identRaw, 255);
  const sourceIp = normalizeIp(info.ip);
  const recorded = new Set<string>();
  let failures = 0;
  client.on('error', (err: Error) => deps.log.debug({ err: err.message, sourceIp }, 'ssh connection error'));
  client.on('handshake', () => clearTimeout(conn.handshake));
  client.on('authentication', (auth: AuthContext) => {
    void attempt(auth).catch((err: unknown) => {
      deps.log.error({ err, sourceIp }, 'ssh listener failed to handle an authentication attempt');
      refuse(auth);
    });
  });

  const refuse = (auth: AuthContext): void => {
    try {
      if (auth.method !== 'none') failures++;
      if (failures >= bounds.maxAuthTries) {
        // sshd answers the last allowed failure with a disconnect rather than another chance.
        client.end();
        return;
      }
      auth.reject([...METHODS]);
    } catch {
      conn.socket.destroy();
    }
  };

  const attempt = async (auth: AuthContext): Promise<void> => {
    const seen = authInfo(auth, { clientVersion, sourceIp, hassh: conn.tap.hassh, kex: conn.tap.offer });
    const once = seen && `${seen.method}:${seen.username}:${seen.key?.fingerprint ?? seen.password ?? ''}`;
    if (seen && once && !recorded.has(once)) {
      recorded.add(once);
      await recordAttempt(deps, seen, info.port);
    }
    refuse(auth);
  };
}

/** The attempt as kinds see it, or null for methods no kind can match (none, keyboard-interactive, hostbased). */
function authInfo(auth: AuthContext, seen: Pick<SshAuthInfo, 'clientVersion' | 'sourceIp' | 'hassh' | 'kex'>): SshAuthInfo | null {
  const username = clip(auth.username, 128);
  if (auth.method === 'publickey') {
    return { ...seen, method: 'publickey', username, key: { algo: clip(auth.key.algo, 64), fingerprint: sshFingerprint(auth.key.data) } };
  }
  if (auth.method === 'password') return { ...seen, method: 'password', username, password: auth.password.slice(0, 256) };
  return null;
}

async function recordAttempt(deps: AppDeps, auth: SshAuthInfo, sourcePort: number): Promise<void> {
  const lookups = tokenLookups(deps.db);
  for (const kind of sshLookupKinds()) {
    const key = kind.ssh?.lookupKey(auth);
    if (!key) continue;
    const row = await lookups.byLookupKey(key);
    if (!row || row.kind !== kind.id) continue;
    if (!isLive(row)) {
      deps.log.info({ event: 'unknown-token', channel: 'ssh', tokenId: row.id, sourceIp: auth.sourceIp }, 'ssh login with an inactive token');
      return;
    }
    const token = row as Token;
    const facts = kind.ssh?.describe?.(auth, token) ?? {};
    await deps.recorder.record({ token, channel: 'ssh', sourceIp: auth.sourceIp, sourcePort, userAgent: auth.clientVersion, method: auth.method, facts });
    return;
  }
}

function isLive(token: TokenRow): boolean {
  return token.enabled && (token.expiresAt === null || token.expiresAt.getTime() > Date.now());
}

function clip(s: string | undefined, max: number): string {
  return (s ?? '').replace(/[\x00-\x1f\x7f]/g, '').slice(0, max);
}
