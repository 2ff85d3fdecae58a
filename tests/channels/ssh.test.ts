import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshListener } from '../../src/channels/ssh.ts';
import type { RunningListener } from '../../src/listeners/registry.ts';
import { startTestServer, testConfig, type TestServer } from '../helpers.ts';

/**
 * Hostile input against the SSH listener: garbage, truncated and oversized packets, silent
 * connections and floods. Each is cut within its bound, the listener keeps greeting others,
 * and the other listeners of the process keep answering.
 */
const LIMITS = { handshakeMs: 1500, idleMs: 1000 };
let s: TestServer;
let ssh: RunningListener & { stats: { refused: number } };
beforeAll(async () => {
  s = await startTestServer();
  const config = testConfig(s.dir, { SSH_ENABLED: 'true', SSH_MAX_PER_SOURCE: '3', SSH_MAX_CONNECTIONS: '5', SSH_LOGIN_GRACE: '4s' });
  ssh = await startSshListener({ ...s.app.deps, config }, LIMITS);
}, 30_000);
afterAll(async () => {
  await ssh.close();
  await s.stop();
});

const BANNER = 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7\r\n';

/** A raw connection from `from` (another loopback address is another source); `ended` resolves with what was received and when the server closed it. */
function open(from = '127.0.0.1'): { socket: Socket; banner: Promise<string>; ended: Promise<{ ms: number; data: string }> } {
  const started = Date.now();
  const socket = connect({ host: '127.0.0.1', port: ssh.address.port, localAddress: from });
  let data = '';
  socket.on('data', (d) => (data += d.toString('latin1')));
  socket.on('error', () => undefined);
  const banner = new Promise<string>((resolve) => {
    const check = () => (data.includes('\r\n') ? resolve(data.slice(0, data.indexOf('\r\n') + 2)) : undefined);
    socket.on('data', check);
    socket.once('close', () => resolve(data));
  });
  const ended = new Promise<{ ms: number; data: string }>((resolve) => socket.once('close', () => resolve({ ms: Date.now() - started, data })));
  return { socket, banner, ended };
}

async function greets(from = '127.0.0.9'): Promise<boolean> {
  const c = open(from);
  const line = await c.banner;
  c.socket.destroy();
  return line === BANNER;
}

/** An SSH binary packet header claiming `length` bytes. */
const packetHeader = (length: number) => {
  const b = Buffer.alloc(6);
  b.writeUInt32BE(length, 0);
  b[4] = 4;
  b[5] = 20;
  return b;
};

describe('SSH listener under hostile input', () => {
  it('garbage instead of an identification line is dropped, and the listener keeps greeting', async () => {
    const c = open();
    await c.banner;
    c.socket.write(randomBytes(4096));
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const { ms } = await c.ended;
    expect(ms).toBeLessThan(LIMITS.handshakeMs + 1000);
    expect(await greets()).toBe(true);
  });

  it('garbage after a valid identification (a bad packet) is dropped', async () => {
    const c = open();
    await c.banner;
    c.socket.write('SSH-2.0-OpenSSH_9.2p1\r\n');
    c.socket.write(randomBytes(2048));
    const { ms } = await c.ended;
    expect(ms).toBeLessThan(LIMITS.handshakeMs + 1000);
    expect(await greets()).toBe(true);
  });

  it('an oversized packet is refused at once; a truncated one is cut at the handshake deadline', async () => {
    // Sources of their own: the per-source cap (3) must not see the earlier tests' connections,
    // which the server may count for a moment after the client saw them close.
    const big = open('127.0.0.20');
    await big.banner;
    big.socket.write('SSH-2.0-OpenSSH_9.2p1\r\n');
    big.socket.write(packetHeader(0x7fffffff));
    expect((await big.ended).ms).toBeLessThan(LIMITS.handshakeMs);

    const cut = open('127.0.0.21');
    await cut.banner;
    cut.socket.write('SSH-2.0-OpenSSH_9.2p1\r\n');
    // A plausible length (a multiple of the block size with its 4 length bytes), never completed.
    cut.socket.write(Buffer.concat([packetHeader(1212), randomBytes(100)]));
    // …and then keep it alive with a trickle, which the idle timeout alone would not end.
    const trickle = setInterval(() => cut.socket.writable && cut.socket.write(randomBytes(1)), 300);
    const { ms } = await cut.ended;
    clearInterval(trickle);
    expect(ms).toBeGreaterThanOrEqual(LIMITS.handshakeMs - 100);
    expect(ms).toBeLessThan(LIMITS.handshakeMs + 1500);
    expect(await greets()).toBe(true);
  });

  it('a silent connection is closed after the idle bound', async () => {
    const c = open();
    const { ms, data } = await c.ended;
    expect(data).toBe(BANNER);
    expect(ms).toBeGreaterThanOrEqual(LIMITS.idleMs - 100);
    expect(ms).toBeLessThan(LIMITS.handshakeMs + 1000);
  });

  it('a flood from one source is capped per source and in total; other sources and other listeners are served', async () => {
    const refusedBefore = ssh.stats.refused;
    const flood = Array.from({ length: 3 }, () => open('127.0.0.2'));
    expect(await Promise.all(flood.map((c) => c.banner))).toEqual([BANNER, BANNER, BANNER]);
    // The fourth from the same source is dropped before the banner, as sshd's MaxStartups does.
    const over = open('127.0.0.2');
    expect((await over.ended).data).toBe('');
    const other = [open('127.0.0.3'), open('127.0.0.3')];
    expect(await Promise.all(other.map((c) => c.banner))).toEqual([BANNER, BANNER]);
    // Five at once in total: a sixth source is dropped too.
    const sixth = open('127.0.0.4');
    expect((await sixth.ended).data).toBe('');
    expect(ssh.stats.refused - refusedBefore).toBe(2);
    // The HTTP listener of the same process answers meanwhile.
    expect((await fetch(`${s.publicUrl}/`)).status).toBe(200);
    for (const c of [...flood, ...other]) c.socket.destroy();
    await Promise.all([...flood, ...other].map((c) => c.ended));
    // Once the server has seen them close (a moment later), the source is served again.
    let again = false;
    for (let i = 0; i < 40 && !again; i++) {
      again = await greets('127.0.0.2');
      if (!again) await new Promise((r) => setTimeout(r, 50));
    }
    expect(again).toBe(true);
  });

  it("closes a connection after six failed logins, as sshd's MaxAuthTries does", async () => {
    let tries = 0;
    const closed = await new Promise<{ tries: number; error: string | null }>((resolve) => {
      const client = new ssh2.Client();
      let error: string | null = null;
      client.on('error', (err) => (error = err.message));
      client.on('close', () => resolve({ tries, error }));
      client.connect({
        host: '127.0.0.1',
        port: ssh.address.port,
        username: 'root',
        readyTimeout: 5000,
        authHandler: (_methods, _partial, next) => {
          tries += 1;
          next({ type: 'password', username: 'root', password: `guess-${tries}-${'x'.repeat(200)}` });
        },
      });
    });
    expect(closed.tries).toBe(6);
    expect(await greets()).toBe(true);
  });
});
