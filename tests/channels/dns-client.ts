import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import dnsPacket, { type DecodedPacket, type Packet, type RecordType } from 'dns-packet';

/**
 * A plain DNS client for tests: real UDP and TCP sockets to 127.0.0.1, wire format by
 * dns-packet, so tests can see what a stock resolver hides (rcode, flags, the question's case,
 * EDNS options). `dig` is used alongside it as the independent real-world client.
 */

export interface QueryOptions {
  transport?: 'udp' | 'tcp';
  /** Source address to send from (any 127.x works on Linux loopback). @default 127.0.0.1 */
  from?: string;
  timeoutMs?: number;
  /** Extra records for the additional section (EDNS OPT …). */
  additionals?: Packet['additionals'];
}

let nextId = 1;

export function queryPacket(name: string, type: RecordType | 'ANY', additionals?: Packet['additionals']): Buffer {
  nextId = (nextId % 65_000) + 1;
  return dnsPacket.encode({
    type: 'query',
    id: nextId,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as RecordType, class: 'IN' }],
    additionals: additionals ?? [],
  });
}

/** Send raw bytes over UDP; resolve with the reply, or null after the timeout. */
export function udpExchange(port: number, message: Buffer, opts: { from?: string; timeoutMs?: number } = {}): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      resolve(null);
    }, opts.timeoutMs ?? 2000);
    sock.once('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.bind(0, opts.from ?? '127.0.0.1', () => sock.send(message, port, '127.0.0.1'));
  });
}

/** Send one framed query over a new TCP connection; resolve with the reply, or null if the server closed or timed out. */
export function tcpExchange(port: number, message: Buffer, opts: { from?: string; timeoutMs?: number } = {}): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1', localAddress: opts.from ?? '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const done = (v: Buffer | null) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), opts.timeoutMs ?? 2000);
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(message.length);
      sock.write(Buffer.concat([len, message]));
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= buf.readUInt16BE(0) + 2) done(buf.subarray(2, buf.readUInt16BE(0) + 2));
    });
    sock.on('error', () => done(null));
    sock.on('close', () => done(null));
  });
}

/** Ask one question; resolve with the decoded answer and its rcode. */
export async function ask(port: number, name: string, type: RecordType | 'ANY', opts: QueryOptions = {}): Promise<(DecodedPacket & { rcode: string }) | null> {
  const msg = queryPacket(name, type, opts.additionals);
  const reply = opts.transport === 'tcp' ? await tcpExchange(port, msg, opts) : await udpExchange(port, msg, opts);
  return reply ? (dnsPacket.decode(reply) as DecodedPacket & { rcode: string }) : null;
}

const run = promisify(execFile);

/** Run `dig` against the server; returns its output (status line, sections). */
export async function dig(port: number, name: string, type: string, ...extra: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+norec', '+tries=1', '+time=3', name, type, ...extra], { encoding: 'utf8' });
  return stdout;
}

/** The status word of dig's header line (NOERROR, REFUSED …). */
export function digStatus(output: string): string | undefined {
  return /status: (\w+)/.exec(output)?.[1];
}

/** The records of one dig section, as [name, ttl, class, type, data] rows. */
export function digSection(output: string, section: 'ANSWER' | 'AUTHORITY' | 'ADDITIONAL'): string[][] {
  const start = output.indexOf(`;; ${section} SECTION:`);
  if (start < 0) return [];
  const rows: string[][] = [];
  for (const line of output.slice(start).split('\n').slice(1)) {
    if (line.trim() === '') break;
    rows.push(line.split(/\s+/).filter(Boolean));
  }
  return rows;
}
