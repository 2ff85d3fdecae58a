import { createHash, randomInt, timingSafeEqual } from 'node:crypto';

/**
 * MySQL client/server protocol pieces as Debian's MariaDB 10.11 sends and reads them during the
 * connection phase: the Handshake V10 greeting, HandshakeResponse41 (with SSL request, plugin
 * name and connect attributes), AuthSwitchRequest, ERR packets, and the mysql_native_password
 * check. Byte layouts were compared with MariaDB 10.11.19-MariaDB-0+deb12u1 (see tests).
 */

/** The greeting version of the current Debian stable MariaDB (the `5.5.5-` prefix is MariaDB's, for old replicas). */
export const SERVER_VERSION = '5.5.5-10.11.19-MariaDB-0+deb12u1';
export const NATIVE_PLUGIN = 'mysql_native_password';

export const CAP = {
  CONNECT_WITH_DB: 0x8,
  PROTOCOL_41: 0x200,
  SSL: 0x800,
  SECURE_CONNECTION: 0x8000,
  PLUGIN_AUTH: 0x80000,
  CONNECT_ATTRS: 0x100000,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x200000,
} as const;

/** Capabilities MariaDB 10.11 without TLS announces (lower and upper halves as captured), and its extended MariaDB capabilities. */
const SERVER_CAPS_LOW = 0xf7fe;
const SERVER_CAPS_HIGH = 0x81ff;
const MARIADB_EXT_CAPS = 0x1d;
/** utf8mb4_general_ci, the server default collation in the greeting. */
const SERVER_CHARSET = 45;
/** SERVER_STATUS_AUTOCOMMIT */
const SERVER_STATUS = 0x0002;

/** A packet: 3-byte little-endian length, sequence id, payload. */
export function packet(seq: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq & 0xff;
  return Buffer.concat([head, payload]);
}

/** 20 printable characters, as MariaDB makes its scramble (bytes 33-126). */
export function scramble(): Buffer {
  const out = Buffer.alloc(20);
  for (let i = 0; i < out.length; i++) out[i] = randomInt(33, 127);
  return out;
}

/** The Handshake V10 greeting (sequence 0). */
export function greeting(threadId: number, salt: Buffer): Buffer {
  // thread id, scramble part 1 + filler, caps low, charset, status, caps high, auth data length, 6 reserved, MariaDB caps
  const fixed = Buffer.alloc(4 + 9 + 2 + 1 + 2 + 2 + 1 + 6 + 4);
  fixed.writeUInt32LE(threadId >>> 0, 0);
  salt.copy(fixed, 4, 0, 8);
  fixed.writeUInt16LE(SERVER_CAPS_LOW, 13);
  fixed[15] = SERVER_CHARSET;
  fixed.writeUInt16LE(SERVER_STATUS, 16);
  fixed.writeUInt16LE(SERVER_CAPS_HIGH, 18);
  fixed[20] = 21;
  fixed.writeUInt32LE(MARIADB_EXT_CAPS, 27);
  return packet(0, Buffer.concat([Buffer.from([10]), Buffer.from(`${SERVER_VERSION}\0`, 'latin1'), fixed, salt.subarray(8, 20), Buffer.from([0]), Buffer.from(`${NATIVE_PLUGIN}\0`, 'latin1')]));
}

/** An ERR packet; clients that did not say PROTOCOL_41 get it without the SQL state, as MariaDB sends it. */
export function errPacket(seq: number, errno: number, sqlState: string, text: string, protocol41: boolean): Buffer {
  const head = Buffer.alloc(3);
  head[0] = 0xff;
  head.writeUInt16LE(errno, 1);
  const state = protocol41 ? Buffer.from(`#${sqlState}`, 'latin1') : Buffer.alloc(0);
  return packet(seq, Buffer.concat([head, state, Buffer.from(text, 'utf8')]));
}

/** AuthSwitchRequest to mysql_native_password with `salt`. */
export function authSwitch(seq: number, salt: Buffer): Buffer {
  return packet(seq, Buffer.concat([Buffer.from([0xfe]), Buffer.from(`${NATIVE_PLUGIN}\0`, 'latin1'), salt, Buffer.from([0])]));
}

/** What a HandshakeResponse41 said. */
export interface HandshakeResponse {
  caps: number;
  /** An SSLRequest: the 32-byte prefix alone with CLIENT_SSL set. */
  sslRequest: boolean;
  user: string;
  authResponse: Buffer;
  database: string | null;
  plugin: string | null;
  attributes: Record<string, string>;
}

/** A bounds-checked cursor over one payload; every read past the end throws. */
class Cursor {
  o = 0;
  constructor(private readonly b: Buffer) {}
  get left(): number {
    return this.b.length - this.o;
  }
  bytes(n: number): Buffer {
    if (n < 0 || this.o + n > this.b.length) throw new RangeError('short packet');
    const out = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return out;
  }
  nulString(): Buffer {
    const end = this.b.indexOf(0, this.o);
    if (end < 0) throw new RangeError('unterminated string');
    const out = this.b.subarray(this.o, end);
    this.o = end + 1;
    return out;
  }
  lenenc(): number {
    const first = this.bytes(1)[0] ?? 0;
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.bytes(2).readUInt16LE(0);
    if (first === 0xfd) return this.bytes(3).readUIntLE(0, 3);
    // 0xfe (8 bytes) is never a sane length in a handshake; 0xfb/0xff are not lengths.
    throw new RangeError('bad length');
  }
}

const text = (b: Buffer, max: number) => b.toString('utf8').replace(/[\u0000-\u001f\u007f\ufffd]/g, '?').slice(0, max);

/** Parse a HandshakeResponse41; null when it is malformed ("Bad handshake"). */
export function parseHandshakeResponse(payload: Buffer): HandshakeResponse | null {
  if (payload.length < 32) return null;
  const caps = payload.readUInt32LE(0);
  if (payload.length === 32) {
    return (caps & CAP.SSL) !== 0 ? { caps, sslRequest: true, user: '', authResponse: Buffer.alloc(0), database: null, plugin: null, attributes: {} } : null;
  }
  try {
    const c = new Cursor(payload);
    c.bytes(32);
    const user = text(c.nulString(), 128);
    let authResponse: Buffer;
    if (caps & CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = c.bytes(c.lenenc());
    else if (caps & CAP.SECURE_CONNECTION) authResponse = c.bytes(c.bytes(1)[0] ?? 0);
    else authResponse = c.nulString();
    const database = caps & CAP.CONNECT_WITH_DB && c.left > 0 ? text(c.nulString(), 64) || null : null;
    // A client that says PLUGIN_AUTH but names none gets switched, as by MariaDB (its plugin is "").
    const plugin = caps & CAP.PLUGIN_AUTH ? (c.left > 0 ? text(c.nulString(), 64) : '') : null;
    const attributes: Record<string, string> = {};
    if (caps & CAP.CONNECT_ATTRS && c.left > 0) {
      const attrs = new Cursor(c.bytes(c.lenenc()));
      while (attrs.left > 0 && Object.keys(attributes).length < 32) {
        const key = text(attrs.bytes(attrs.lenenc()), 64);
        const value = text(attrs.bytes(attrs.lenenc()), 256);
        if (key) attributes[key] = value;
      }
    }
    return { caps, sslRequest: false, user, authResponse, database, plugin, attributes };
  } catch {
    return null;
  }
}

const sha1 = (...parts: Buffer[]) => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** Whether a mysql_native_password response to `salt` was made from `password`: SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))). */
export function nativePasswordMatches(password: string, salt: Buffer, response: Buffer): boolean {
  if (response.length !== 20) return false;
  const stage1 = sha1(Buffer.from(password, 'utf8'));
  const mask = sha1(salt, sha1(stage1));
  const expected = Buffer.alloc(20);
  for (let i = 0; i < 20; i++) expected[i] = (stage1[i] ?? 0) ^ (mask[i] ?? 0);
  return timingSafeEqual(expected, response);
}
