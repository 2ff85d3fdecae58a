import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { exchange } from './wire-client.ts';

/**
 * Hostile clients shared by the wire-listener tests: garbage, a trickle (slow loris) and a
 * connection flood, each bounded in count and time.
 */

/** Send `count` random payloads (1 B to 64 KiB), `parallel` at a time; resolves when all connections ended. */
export async function garbage(port: number, count: number, parallel = 8): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const size = i % 4 === 0 ? 65_536 : 1 + ((i * 7919) % 2048);
      await exchange(port, [randomBytes(size)], { timeoutMs: 2000 });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

/** Write one byte every `everyMs` until the server hangs up; resolves with how long the connection lived. */
export function trickle(port: number, bytes: Buffer, everyMs: number, maxMs: number): Promise<number> {
  return new Promise((resolve) => {
    const started = Date.now();
    const sock = connect(port, '127.0.0.1');
    sock.on('error', () => {});
    let i = 0;
    const timer = setInterval(() => {
      if (sock.writable) sock.write(bytes.subarray(i % bytes.length, (i % bytes.length) + 1));
      i++;
    }, everyMs);
    const stop = setTimeout(() => sock.destroy(), maxMs);
    sock.on('close', () => {
      clearInterval(timer);
      clearTimeout(stop);
      resolve(Date.now() - started);
    });
  });
}

/** Open `n` connections at once and keep them open; resolves once no more than `expectAtMost` remain open (or 3 s passed). `close()` ends them. */
export async function flood(port: number, n: number, expectAtMost: number): Promise<{ sockets: Socket[]; open(): number; close(): void }> {
  const sockets = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<Socket>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.on('error', () => {});
        s.once('connect', () => resolve(s));
        s.once('close', () => resolve(s));
      }),
    ),
  );
  const open = () => sockets.filter((s) => !s.destroyed && s.readable).length;
  // Give the server time to refuse what is over its caps (bounded: a loaded machine is slow to, an uncapped server never does).
  for (let i = 0; i < 30 && open() > expectAtMost; i++) await new Promise((r) => setTimeout(r, 100));
  return { sockets, open, close: () => sockets.forEach((s) => s.destroy()) };
}
