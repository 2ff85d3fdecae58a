import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { Logger } from '../logger.ts';
import type { DropLog } from './dns-guard.ts';

/**
 * The DNS listener's sockets: one UDP socket and one TCP server on the same port, TCP framed
 * by a two-byte length (RFC 1035 4.2.2, RFC 7766). Everything protocol-level is in the
 * `handle` callback; this file only moves bytes, under the count and time bounds it is given.
 */

export interface DnsSocketLimits {
  maxQueryBytes: number;
  /** UDP queries being answered at once (waiting for their hit's commit); more are dropped. */
  maxUdpPending: number;
  maxTcpConnections: number;
  maxTcpPerSource: number;
  tcpIdleMs: number;
  tcpLifetimeMs: number;
  tcpMaxQueries: number;
  tcpMaxPending: number;
}

export interface BindOptions {
  host: string;
  /** 0 binds an ephemeral port (the same one for UDP and TCP). */
  port: number;
  log: Logger;
  drops: DropLog;
  limits: DnsSocketLimits;
  /** Rate limit check per query, by source address. */
  allow(address: string): boolean;
  handle(message: Buffer, source: { address: string; port: number }, transport: 'udp' | 'tcp'): Promise<Buffer | null>;
}

export interface BoundDns {
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** Bind UDP then TCP on the same port; with port 0, retry a few ephemeral ports until both bind. */
export async function bindDns(opts: BindOptions): Promise<BoundDns> {
  let lastError: unknown;
  for (let attempt = 0; attempt < (opts.port === 0 ? 8 : 1); attempt++) {
    const udp = await bindUdp(opts);
    const port = udp.address().port;
    try {
      const tcp = await bindTcp(opts, port);
      return { address: { host: udp.address().address, port }, close: () => closeBoth(udp, tcp) };
    } catch (err) {
      lastError = err;
      await new Promise<void>((done) => udp.close(() => done()));
    }
  }
  throw new Error(`dns listener could not bind TCP ${opts.host}:${opts.port}: ${String(lastError)}`, { cause: lastError });
}

function bindUdp(opts: BindOptions): Promise<UdpSocket> {
  const udp = createSocket({ type: isIPv6(opts.host) ? 'udp6' : 'udp4' });
  let pending = 0;
  udp.on('message', (msg, rinfo) => {
    if (!opts.allow(rinfo.address)) {
      opts.drops.note('rate-limited', rinfo.address);
      return;
    }
    if (pending >= opts.limits.maxUdpPending) {
      opts.drops.note('overload', rinfo.address, 'too many queries in flight');
      return;
    }
    pending++;
    opts.handle(msg, rinfo, 'udp').then(
      (reply) => {
        pending--;
        if (!reply) return;
        try {
          udp.send(reply, rinfo.port, rinfo.address, (err) => err && opts.log.debug({ err: err.message }, 'dns udp send failed'));
        } catch {
          // The socket closed while the hit was being committed (shutdown): nothing to answer on.
        }
      },
      (err: unknown) => {
        pending--;
        opts.log.error({ err }, 'dns query handling failed');
      },
    );
  });
  return new Promise((resolve, reject) => {
    udp.once('error', (err) => reject(new Error(`dns listener could not bind UDP ${opts.host}:${opts.port}: ${err.message}`, { cause: err })));
    udp.bind(opts.port, opts.host, () => {
      udp.removeAllListeners('error');
      udp.on('error', (err) => opts.log.warn({ err: err.message }, 'dns udp socket error'));
      resolve(udp);
    });
  });
}

function bindTcp(opts: BindOptions, port: number): Promise<Server & { sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const perSource = new Map<string, number>();
  const server = Object.assign(
    createServer({ noDelay: true }, (socket) => serveTcp(opts, socket, sockets, perSource)),
    { sockets },
  );
  server.maxConnections = opts.limits.maxTcpConnections;
  server.on('drop', (data) => opts.drops.note('tcp-limit', data?.remoteAddress ?? 'unknown', 'too many connections'));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, opts.host, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => opts.log.warn({ err: err.message }, 'dns tcp server error'));
      resolve(server);
    });
  });
}

function serveTcp(opts: BindOptions, socket: Socket, sockets: Set<Socket>, perSource: Map<string, number>): void {
  const { limits } = opts;
  const source = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  const open = (perSource.get(source.address) ?? 0) + 1;
  if (open > limits.maxTcpPerSource) {
    opts.drops.note('tcp-limit', source.address, 'too many connections from one source');
    socket.destroy();
    return;
  }
  perSource.set(source.address, open);
  sockets.add(socket);
  socket.setTimeout(limits.tcpIdleMs, () => socket.destroy());
  const lifetime = setTimeout(() => socket.destroy(), limits.tcpLifetimeMs);
  lifetime.unref();
  socket.once('close', () => {
    clearTimeout(lifetime);
    sockets.delete(socket);
    const left = (perSource.get(source.address) ?? 1) - 1;
    if (left <= 0) perSource.delete(source.address);
    else perSource.set(source.address, left);
  });
  socket.on('error', () => socket.destroy());

  let buffered: Buffer = Buffer.alloc(0);
  let pending = 0;
  let answered = 0;
  let received = 0;

  const drain = (): void => {
    while (buffered.length >= 2 && pending < limits.tcpMaxPending && received < limits.tcpMaxQueries) {
      const len = buffered.readUInt16BE(0);
      if (len < 12 || len > limits.maxQueryBytes) {
        opts.drops.note(len < 12 ? 'malformed' : 'oversize', source.address, `tcp frame of ${len} bytes`);
        socket.destroy();
        return;
      }
      if (buffered.length < len + 2) break;
      const frame = buffered.subarray(2, len + 2);
      buffered = buffered.subarray(len + 2);
      received++;
      if (!opts.allow(source.address)) {
        opts.drops.note('rate-limited', source.address, 'tcp');
        socket.destroy();
        return;
      }
      pending++;
      opts.handle(Buffer.from(frame), source, 'tcp').then(
        (reply) => finish(reply),
        (err: unknown) => {
          opts.log.error({ err }, 'dns query handling failed');
          finish(null);
        },
      );
    }
    if (pending >= limits.tcpMaxPending) socket.pause();
  };

  const finish = (reply: Buffer | null): void => {
    pending--;
    answered++;
    if (socket.destroyed) return;
    if (reply) {
      const frame = Buffer.allocUnsafe(reply.length + 2);
      frame.writeUInt16BE(reply.length, 0);
      reply.copy(frame, 2);
      socket.write(frame);
    }
    if (answered >= limits.tcpMaxQueries) {
      socket.end();
      return;
    }
    socket.resume();
    drain();
  };

  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    if (buffered.length > limits.maxQueryBytes * (limits.tcpMaxPending + 1)) {
      opts.drops.note('oversize', source.address, 'tcp backlog');
      socket.destroy();
      return;
    }
    drain();
  });
}

function closeBoth(udp: UdpSocket, tcp: Server & { sockets: Set<Socket> }): Promise<void> {
  const udpClosed = new Promise<void>((done) => {
    try {
      udp.close(() => done());
    } catch {
      done();
    }
  });
  const tcpClosed = new Promise<void>((done) => tcp.close(() => done()));
  for (const s of tcp.sockets) s.destroy();
  return Promise.all([udpClosed, tcpClosed]).then(() => undefined);
}
