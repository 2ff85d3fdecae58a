import { createHash } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { authMessage, parseClientFinal, parseClientFirst, proofMatches, SCRAM_ITERATIONS, serverFirst, serverNonce, type ClientFirst } from './scram.ts';
import { cleanText, createLoginRecorder, type LoginRecorder } from './service-login.ts';
import type { ListenerDeps, ListenerEntry, RunningListener } from './registry.ts';
import { listenWire, send, WIRE_LIMITS, type WireConnection, type WireLimits } from './wire-guard.ts';

/**
 * A PostgreSQL wire-protocol listener that behaves like a PostgreSQL 15 server without TLS
 * whose pg_hba asks everyone for scram-sha-256: SSLRequest and GSSENCRequest get 'N', the
 * startup message is read, SCRAM-SHA-256 is run to the client's proof, and the answer is always
 * the FATAL 28P01 "password authentication failed" a real server sends (field for field, file
 * and line included, compared with PostgreSQL 15.20 in tests). Nothing is sent before
 * authentication (no ParameterStatus, no BackendKeyData), as on a real server. A sign-in as a
 * planted user is a hit; the proof tells whether the planted password was used.
 */

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** PostgreSQL's MAX_STARTUP_PACKET_LENGTH. */
const MAX_STARTUP = 10_000;
/** SASL messages are a few hundred bytes; a real server allows more, but nothing legitimate needs it here. */
const MAX_AUTH_MESSAGE = 4096;
/** NAMEDATALEN - 1: PostgreSQL truncates user and database names to this many bytes. */
const NAME_MAX = 63;
const MECHANISM = 'SCRAM-SHA-256';

/** Bounds of the PostgreSQL listener (see WireLimits). */
export const PGWIRE_LIMITS: WireLimits = { ...WIRE_LIMITS };

/** One ErrorResponse field list in wire order. */
type Fields = readonly (readonly [string, string])[];

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** An ErrorResponse with the fields a PostgreSQL 15 FATAL carries (S, V, C, M, D?, F, L, R). */
export function errorResponse(fields: Fields): Buffer {
  const parts = fields.map(([k, v]) => Buffer.from(`${k}${v}\0`, 'utf8'));
  return message('E', Buffer.concat([...parts, Buffer.from([0])]));
}

function fatal(code: string, text: string, where: readonly [file: string, line: number, routine: string], detail?: string): Buffer {
  const [file, line, routine] = where;
  return errorResponse([['S', 'FATAL'], ['V', 'FATAL'], ['C', code], ['M', text], ...(detail ? [['D', detail] as const] : []), ['F', file], ['L', String(line)], ['R', routine]]);
}

/** The error a real server sends for a wrong password (and, after a mock exchange, for an unknown user). */
export function passwordFailed(user: string): Buffer {
  return fatal('28P01', `password authentication failed for user "${user}"`, ['auth.c', 334, 'auth_failed']);
}

function authRequest(code: number, data: Buffer): Buffer {
  const body = Buffer.alloc(4 + data.length);
  body.writeUInt32BE(code, 0);
  data.copy(body, 4);
  return message('R', body);
}

/** What the startup message said. */
interface Startup {
  user: string;
  database: string;
  attributes: Record<string, string>;
  /** Protocol options (`_pq_.*`) the client asked for, which PostgreSQL 15 names back as unrecognised. */
  protocolOptions: string[];
  minor: number;
}

/** Parse `key\0value\0…\0`; null when the layout is broken. */
function startupParams(bytes: Buffer): Map<string, string> | null {
  // Each name and value ends in NUL, and one more NUL ends the list.
  if (bytes.length === 0 || bytes[bytes.length - 1] !== 0) return null;
  if (bytes.length === 1) return new Map();
  if (bytes[bytes.length - 2] !== 0) return null;
  const strings = bytes.subarray(0, bytes.length - 2).toString('utf8').split('\0');
  if (strings.length % 2 !== 0) return null;
  const out = new Map<string, string>();
  for (let i = 0; i < strings.length && out.size < 64; i += 2) out.set(strings[i] ?? '', strings[i + 1] ?? '');
  return out;
}

/** PostgreSQL truncates names to NAMEDATALEN-1 bytes. */
function pgName(name: string): string {
  const bytes = Buffer.from(name, 'utf8');
  return bytes.length <= NAME_MAX ? name : bytes.subarray(0, NAME_MAX).toString('utf8').replace(/\ufffd$/, '');
}

/** The salt a user's SCRAM exchange uses: stable per deployment and user, like a real server's (mock) salt. */
export function saltFor(config: Pick<Config, 'DNS_ZONE' | 'PUBLIC_URL'>, user: string): Buffer {
  return createHash('sha256').update(`pgwire-salt\0${config.DNS_ZONE}\0${config.PUBLIC_URL}\0${user}`).digest().subarray(0, 16);
}

interface PgContext {
  config: Config;
  log: Logger;
  record: LoginRecorder;
}

/** Read up to the startup message, answering SSL/GSS requests on the way; null means hang up (already answered if needed). */
async function readStartup(conn: WireConnection): Promise<Startup | null> {
  const { reader, socket } = conn;
  let sslDone = false;
  let gssDone = false;
  for (let round = 0; round < 3; round++) {
    const head = await reader.read(4);
    if (!head) return null;
    const len = head.readUInt32BE(0);
    // "invalid length of startup packet": logged by PostgreSQL, nothing sent.
    if (len < 8 || len > MAX_STARTUP) return null;
    const body = await reader.read(len - 4);
    if (!body) return null;
    const code = body.readUInt32BE(0);
    if (code === CANCEL_REQUEST) return null;
    if ((code === SSL_REQUEST && !sslDone) || (code === GSSENC_REQUEST && !gssDone)) {
      // Bytes that came with the request, before our answer, are what PostgreSQL refuses after an SSLRequest.
      const early = reader.buffered > 0;
      await send(socket, Buffer.from('N'));
      if (code === SSL_REQUEST) {
        sslDone = true;
        if (early) {
          await send(socket, fatal('08P01', 'received unencrypted data after SSL request', ['postmaster.c', 2134, 'ProcessStartupPacket'], 'This could be either a client-software bug or evidence of an attempted man-in-the-middle attack.'));
          return null;
        }
      } else gssDone = true;
      continue;
    }
    const major = code >>> 16;
    const minor = code & 0xffff;
    const unsupported = `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.0`;
    if (major < 3) {
      // Protocol 2 clients get the old-style error: 'E', the text, NUL.
      await send(socket, Buffer.from(`EFATAL:  ${unsupported}\n\0`, 'utf8'));
      return null;
    }
    if (major > 3) {
      await send(socket, fatal('0A000', unsupported, ['postmaster.c', 2220, 'ProcessStartupPacket']));
      return null;
    }
    const params = startupParams(body.subarray(4));
    if (!params) return null;
    const rawUser = params.get('user') ?? '';
    if (!rawUser) {
      await send(socket, fatal('28000', 'no PostgreSQL user name specified in startup packet', ['postmaster.c', 2349, 'ProcessStartupPacket']));
      return null;
    }
    const user = pgName(rawUser);
    const attributes: Record<string, string> = {};
    for (const key of ['application_name', 'client_encoding', 'options', 'replication'] as const) {
      const v = params.get(key);
      if (v !== undefined) attributes[key] = cleanText(v, 128);
    }
    const protocolOptions = [...params.keys()].filter((k) => k.startsWith('_pq_.')).map((k) => cleanText(k, 64));
    return { user, database: pgName(params.get('database') || rawUser), attributes, protocolOptions, minor };
  }
  return null;
}

/** The next typed message after startup, bounded: null when the peer left or sent something too big to be SASL. */
async function readMessage(conn: WireConnection): Promise<{ type: string; body: Buffer } | null> {
  const head = await conn.reader.read(5);
  if (!head) return null;
  const len = head.readUInt32BE(1);
  if (len < 4 || len > MAX_AUTH_MESSAGE) return null;
  const body = await conn.reader.read(len - 4);
  return body ? { type: String.fromCharCode(head[0] ?? 0), body } : null;
}

function unexpected(type: string): Buffer {
  return fatal('08P01', `expected SASL response, got message type ${type.charCodeAt(0)}`, ['auth-sasl.c', 95, 'CheckSASLAuth']);
}

/** SASLInitialResponse: mechanism name, then a length-prefixed client-first-message. */
function initialResponse(body: Buffer): { mechanism: string; data: string } | null {
  const end = body.indexOf(0);
  if (end < 0 || end + 5 > body.length) return null;
  const len = body.readInt32BE(end + 1);
  const data = len < 0 ? Buffer.alloc(0) : body.subarray(end + 5, end + 5 + len);
  return { mechanism: body.subarray(0, end).toString('latin1'), data: data.toString('utf8') };
}

/** Speak PostgreSQL to one connection until the authentication failure. */
async function servePg(ctx: PgContext, conn: WireConnection): Promise<void> {
  const { socket } = conn;
  const startup = await readStartup(conn);
  if (!startup) return;
  let recorded = false;
  const record = async (answered: boolean, proves: (password: string) => boolean) => {
    if (recorded) return;
    recorded = true;
    await ctx.record(
      { service: 'postgres', user: startup.user, database: startup.database, attributes: startup.attributes, sourceIp: conn.sourceIp, method: MECHANISM, answered, proves },
      conn.sourcePort,
      startup.attributes.application_name || null,
    );
  };
  try {
    await exchange(ctx, conn, startup, record);
  } finally {
    // A client that hung up before proving anything (no password at hand) still named the user.
    await record(false, () => false);
  }
  if (!socket.destroyed) socket.end();
}

type RecordAttempt = (answered: boolean, proves: (password: string) => boolean) => Promise<void>;

async function exchange(ctx: PgContext, conn: WireConnection, startup: Startup, record: RecordAttempt): Promise<void> {
  const { socket } = conn;
  const out: Buffer[] = [];
  if (startup.minor > 0 || startup.protocolOptions.length > 0) {
    const names = Buffer.concat(startup.protocolOptions.map((n) => Buffer.from(`${n}\0`)));
    const body = Buffer.alloc(8 + names.length);
    // The newest protocol the server speaks (3.0, as a full version code), then the options it does not know.
    body.writeUInt32BE(3 << 16, 0);
    body.writeUInt32BE(startup.protocolOptions.length, 4);
    names.copy(body, 8);
    out.push(message('v', body));
  }
  out.push(authRequest(10, Buffer.from(`${MECHANISM}\0\0`, 'latin1')));
  await send(socket, Buffer.concat(out));

  const first = await readMessage(conn);
  if (!first || first.type === 'X') return;
  if (first.type !== 'p') return void (await send(socket, unexpected(first.type)));
  const initial = initialResponse(first.body);
  if (!initial || initial.mechanism !== MECHANISM) {
    return void (await send(socket, fatal('08P01', 'client selected an invalid SASL authentication mechanism', ['auth-scram.c', 256, 'scram_init'])));
  }
  const parsedFirst = parseClientFirst(initial.data);
  if (!parsedFirst.ok) {
    return void (await send(socket, fatal('08P01', 'malformed SCRAM message', ['auth-scram.c', 1025, 'read_client_first_message'], parsedFirst.detail ?? undefined)));
  }
  const clientFirst: ClientFirst = parsedFirst.value;
  const salt = saltFor(ctx.config, startup.user);
  const nonce = `${clientFirst.nonce}${serverNonce()}`;
  const serverFirstMessage = serverFirst(nonce, salt);
  await send(socket, authRequest(11, Buffer.from(serverFirstMessage, 'utf8')));

  const final = await readMessage(conn);
  if (!final || final.type === 'X') return;
  if (final.type !== 'p') return void (await send(socket, unexpected(final.type)));
  const parsedFinal = parseClientFinal(final.body.toString('utf8'));
  const valid = parsedFinal.ok && parsedFinal.value.nonce === nonce ? parsedFinal.value : null;
  await record(true, (password) => valid !== null && proofMatches(password, salt, SCRAM_ITERATIONS, authMessage(clientFirst, serverFirstMessage, valid), valid.proof));
  await send(socket, passwordFailed(startup.user));
}

/** Start the PostgreSQL listener; `limits` overrides the bounds (tests use short deadlines). */
export async function startPgwire(d: ListenerDeps, limits: Partial<WireLimits> = {}): Promise<RunningListener> {
  const ctx: PgContext = { config: d.config, log: d.log, record: createLoginRecorder(d.deps) };
  return listenWire({
    name: 'pgwire',
    host: d.config.PGWIRE_HOST,
    port: d.config.PGWIRE_PORT,
    log: d.log,
    limits: { ...PGWIRE_LIMITS, ...limits },
    serve: (conn) => servePg(ctx, conn),
  });
}

/** The registry entry of the PostgreSQL honey listener. */
export const pgwireListener: ListenerEntry = {
  name: 'pgwire',
  configKeys: ['PGWIRE_ENABLED', 'PGWIRE_HOST', 'PGWIRE_PORT'],
  role: 'edge',
  enabled: (config) => config.PGWIRE_ENABLED,
  start: (d) => startPgwire(d),
};
