import { createServer, type Server, type Socket } from 'node:net';
import { normalizeIp } from '../net.ts';
import type { Logger } from '../logger.ts';
import type { RunningListener } from './registry.ts';

/**
 * What every attacker-facing TCP wire-protocol listener shares (PostgreSQL, MySQL): connection
 * caps in total and per source address, an idle and a total deadline per connection, a bounded
 * read buffer, and a reader that hands the protocol exact byte counts. A connection over a
 * bound is dropped and logged (rate-limited), never answered with anything that names us.
 */

/** Bounds of one listener; tests shorten them. */
export interface WireLimits {
  /** Connections open at once, all sources together. @default 64 */
  maxConnections: number;
  /** Connections open at once from one source address. @default 8 */
  maxPerSource: number;
  /** A connection silent this long is closed. @default 10000 */
  idleMs: number;
  /** No connection lives longer than this, however it trickles bytes (slow loris). @default 30000 */
  sessionMs: number;
  /** Bytes buffered unread per connection; more is garbage and the connection is closed. @default 16384 */
  maxBuffered: number;
}

export const WIRE_LIMITS: WireLimits = { maxConnections: 64, maxPerSource: 8, idleMs: 10_000, sessionMs: 30_000, maxBuffered: 16_384 };

/** Reads exact byte counts from a socket; resolves null once the connection is gone. */
export class WireReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private wake: (() => void) | null = null;

  constructor(socket: Socket, private readonly maxBuffered: number, private readonly onOverflow: () => void) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.size += d.length;
      if (this.size > this.maxBuffered) {
        this.onOverflow();
        this.finish();
        socket.destroy();
        return;
      }
      this.notify();
    });
    socket.once('close', () => this.finish());
    socket.once('end', () => this.finish());
  }

  /** Bytes already received and not yet read. */
  get buffered(): number {
    return this.size;
  }

  /** The next `n` bytes (n must be within the buffer bound), or null when the peer went away first. */
  async read(n: number): Promise<Buffer | null> {
    if (n > this.maxBuffered) return null;
    while (this.size < n) {
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
    return out;
  }

  private finish(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

/** One accepted connection as a protocol handler gets it. */
export interface WireConnection {
  socket: Socket;
  reader: WireReader;
  sourceIp: string;
  sourcePort: number;
}

export interface WireListenOptions {
  name: string;
  host: string;
  port: number;
  log: Logger;
  limits: WireLimits;
  /** Speak the protocol on one connection; the socket is destroyed when it settles. */
  serve(conn: WireConnection): Promise<void>;
}

/** Log refusals at most once per `name` and reason per minute, with how many were refused meanwhile. */
function refusalLog(log: Logger, name: string): (reason: string, sourceIp: string) => void {
  const last = new Map<string, { at: number; count: number }>();
  return (reason, sourceIp) => {
    const now = Date.now();
    const entry = last.get(reason);
    if (entry && now - entry.at < 60_000) {
      entry.count++;
      return;
    }
    log.info({ event: `${name}-refused`, reason, clientIp: sourceIp, since: entry?.count ?? 0 }, `${name} connection refused: ${reason}`);
    last.set(reason, { at: now, count: 0 });
  };
}

/** Start a capped, deadline-bound TCP listener running `serve` per connection. */
export function listenWire(opts: WireListenOptions): Promise<RunningListener> {
  const { limits, log, name } = opts;
  const perSource = new Map<string, number>();
  const open = new Set<Socket>();
  const refused = refusalLog(log, name);

  const server: Server = createServer({ pauseOnConnect: false }, (socket) => {
    socket.on('error', () => {});
    const sourceIp = normalizeIp(socket.remoteAddress ?? '');
    const fromSource = perSource.get(sourceIp) ?? 0;
    if (open.size >= limits.maxConnections || fromSource >= limits.maxPerSource) {
      refused(open.size >= limits.maxConnections ? 'too many connections' : 'too many connections from one source', sourceIp);
      socket.destroy();
      return;
    }
    open.add(socket);
    perSource.set(sourceIp, fromSource + 1);
    socket.setNoDelay(true);
    socket.setTimeout(limits.idleMs, () => socket.destroy());
    const deadline = setTimeout(() => {
      refused('session deadline', sourceIp);
      socket.destroy();
    }, limits.sessionMs);
    deadline.unref();
    socket.once('close', () => {
      clearTimeout(deadline);
      open.delete(socket);
      const n = (perSource.get(sourceIp) ?? 1) - 1;
      if (n <= 0) perSource.delete(sourceIp);
      else perSource.set(sourceIp, n);
    });
    const reader = new WireReader(socket, limits.maxBuffered, () => refused('oversized input', sourceIp));
    opts
      .serve({ socket, reader, sourceIp, sourcePort: socket.remotePort ?? 0 })
      .catch((err: unknown) => log.error({ err, clientIp: sourceIp }, `${name} connection failed`))
      .finally(() => {
        if (!socket.destroyed) socket.end();
        // A peer that never reads what we wrote must not keep the slot.
        setTimeout(() => socket.destroy(), 1000).unref();
      });
  });

  return new Promise((resolvePromise, reject) => {
    const onError = (err: Error) => reject(new Error(`${name} listener could not bind ${opts.host}:${opts.port}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      server.on('error', (err) => log.error({ err }, `${name} listener error`));
      const addr = server.address();
      const bound = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host: opts.host, port: opts.port };
      resolvePromise({
        name,
        address: bound,
        close: () =>
          new Promise<void>((done) => {
            for (const s of open) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Write and wait until the bytes are handed to the kernel (or the socket is gone). */
export function send(socket: Socket, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || !socket.writable) return resolve();
    socket.write(bytes, () => resolve());
  });
}
