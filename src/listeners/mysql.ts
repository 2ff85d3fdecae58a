import { randomInt } from 'node:crypto';
import { authSwitch, CAP, errPacket, greeting, NATIVE_PLUGIN, nativePasswordMatches, parseHandshakeResponse, scramble, type HandshakeResponse } from './mysql-packets.ts';
import { createLoginRecorder, type LoginRecorder } from './service-login.ts';
import type { ListenerDeps, ListenerEntry, RunningListener } from './registry.ts';
import { listenWire, send, WIRE_LIMITS, type WireConnection, type WireLimits } from './wire-guard.ts';

/**
 * A MySQL protocol listener that greets like Debian's MariaDB 10.11 without TLS
 * (mysql_native_password, 20-byte scramble), reads the client's HandshakeResponse41 with its
 * connect attributes, switches other auth plugins (caching_sha2_password …) to native password
 * as MariaDB does, and always answers `ERROR 1045 (28000): Access denied for user 'u'@'ip'
 * (using password: YES)` (NO when no password was sent), byte for byte as MariaDB 10.11.19.
 * A sign-in as a planted user is a hit; the scramble response tells whether the planted
 * password was used. Malformed input gets MariaDB's "Bad handshake", never a crash.
 */

/** Bounds of the MySQL listener (see WireLimits). */
export const MYSQL_LIMITS: WireLimits = { ...WIRE_LIMITS };
/** Largest handshake packet read (a real one is a few hundred bytes, attributes included). */
const MAX_HANDSHAKE = 8192;

const ER_HANDSHAKE_ERROR = 1043;
const ER_ACCESS_DENIED = 1045;
const ER_NET_PACKETS_OUT_OF_ORDER = 1156;

interface MysqlContext {
  record: LoginRecorder;
  /** Connection ids count up from a random start, as a server that has been running a while. */
  nextThread: () => number;
}

/** Read one packet; null when the peer left, sent something oversized, or `expectSeq` does not match (answered). */
async function readPacket(conn: WireConnection, expectSeq: number): Promise<Buffer | null> {
  const head = await conn.reader.read(4);
  if (!head) return null;
  const len = head.readUIntLE(0, 3);
  // MariaDB would wait for the rest of an oversized packet until its timeout; we hang up at once.
  if (len > MAX_HANDSHAKE) return null;
  if (head[3] !== expectSeq) {
    await send(conn.socket, errPacket(1, ER_NET_PACKETS_OUT_OF_ORDER, '08S01', 'Got packets out of order', true));
    return null;
  }
  return conn.reader.read(len);
}

/** The program a client names in its connect attributes, as a short user-agent-like string. */
function clientOf(attrs: Record<string, string>): string | null {
  const program = attrs.program_name ?? null;
  const lib = [attrs._client_name, attrs._client_version].filter(Boolean).join(' ');
  const detail = [lib, attrs._os].filter(Boolean).join('; ');
  if (!program && !detail) return null;
  return `${program ?? 'client'}${detail ? ` (${detail})` : ''}`;
}

function denied(user: string, ip: string, usingPassword: boolean): string {
  return `Access denied for user '${user}'@'${ip}' (using password: ${usingPassword ? 'YES' : 'NO'})`;
}

async function serveMysql(ctx: MysqlContext, conn: WireConnection): Promise<void> {
  const { socket } = conn;
  const salt = scramble();
  await send(socket, greeting(ctx.nextThread(), salt));
  const head = await conn.reader.read(4);
  if (!head) return;
  const len = head.readUIntLE(0, 3);
  if (len > MAX_HANDSHAKE) return;
  const payload = await conn.reader.read(len);
  if (!payload) return;
  // Partial capability bytes still decide the error format, as MariaDB reads them.
  const caps = payload.length >= 4 ? payload.readUInt32LE(0) : payload.length ? payload.readUIntLE(0, Math.min(payload.length, 4)) : 0;
  const protocol41 = (caps & CAP.PROTOCOL_41) !== 0;
  if (head[3] !== 1) {
    await send(socket, errPacket(1, ER_NET_PACKETS_OUT_OF_ORDER, '08S01', 'Got packets out of order', true));
    return;
  }
  const hello = parseHandshakeResponse(payload);
  if (!hello || hello.sslRequest || !protocol41) {
    // MariaDB without TLS answers an SSLRequest, and anything it cannot parse, with "Bad handshake".
    await send(socket, errPacket(2, ER_HANDSHAKE_ERROR, '08S01', 'Bad handshake', protocol41));
    return;
  }
  await authenticate(ctx, conn, hello, salt);
}

/**
 * Answer as MariaDB does for an account that has a native password: a client that already used
 * mysql_native_password is refused at once (1045, "using password: NO" when it sent no scramble
 * response); one that chose another plugin is first switched to native password with the same
 * scramble. (MariaDB runs unknown users through a stand-in account chosen by a hash of the name,
 * so on a real server their answers vary with its accounts; here every user gets this one.)
 */
async function authenticate(ctx: MysqlContext, conn: WireConnection, hello: HandshakeResponse, salt: Buffer): Promise<void> {
  const { socket } = conn;
  let response = hello.authResponse;
  let seq = 2;
  if (hello.plugin !== null && hello.plugin !== NATIVE_PLUGIN) {
    await send(socket, authSwitch(2, salt));
    const again = await readPacket(conn, 3);
    if (!again) {
      await record(ctx, conn, hello, false, salt, Buffer.alloc(0));
      return;
    }
    response = again;
    seq = 4;
  }
  const answered = response.length > 0;
  await record(ctx, conn, hello, answered, salt, response);
  await send(socket, errPacket(seq, ER_ACCESS_DENIED, '28000', denied(hello.user, conn.sourceIp, answered), true));
}

function record(ctx: MysqlContext, conn: WireConnection, hello: HandshakeResponse, answered: boolean, salt: Buffer, response: Buffer): Promise<boolean> {
  return ctx.record(
    {
      service: 'mysql',
      user: hello.user,
      database: hello.database,
      attributes: hello.attributes,
      sourceIp: conn.sourceIp,
      method: NATIVE_PLUGIN,
      answered,
      proves: (password) => nativePasswordMatches(password, salt, response),
    },
    conn.sourcePort,
    clientOf(hello.attributes),
  );
}

/** Start the MySQL listener; `limits` overrides the bounds (tests use short deadlines). */
export async function startMysql(d: ListenerDeps, limits: Partial<WireLimits> = {}): Promise<RunningListener> {
  let thread = randomInt(20, 4000);
  const ctx: MysqlContext = { record: createLoginRecorder(d.deps), nextThread: () => (thread = (thread + 1) % 0xffffffff) };
  return listenWire({
    name: 'mysql',
    host: d.config.MYSQL_HOST,
    port: d.config.MYSQL_PORT,
    log: d.log,
    limits: { ...MYSQL_LIMITS, ...limits },
    serve: (conn) => serveMysql(ctx, conn),
  });
}

/** The registry entry of the MySQL honey listener. */
export const mysqlListener: ListenerEntry = {
  name: 'mysql',
  configKeys: ['MYSQL_ENABLED', 'MYSQL_HOST', 'MYSQL_PORT'],
  role: 'edge',
  enabled: (config) => config.MYSQL_ENABLED,
  start: (d) => startMysql(d),
};
