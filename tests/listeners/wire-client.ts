import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { listHits } from '../../src/db/queries/hits.ts';
import type { HitRow } from '../../src/db/schema.ts';
import type { AnyDb } from '../../src/db/store.ts';

/** Helpers for the wire-protocol listener tests: real client programs, raw sockets, bounded waits. */

export interface ClientRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a client program (asynchronously: the listener under test runs in this process). */
export function runClient(file: string, args: readonly string[], env: Record<string, string> = {}, timeoutMs = 10_000): Promise<ClientRun> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', ...env }, timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Send `chunks` (each after the previous one's answer settled for `gapMs`) and collect every byte
 * the server sends until it closes or `timeoutMs` passes; `closed` says whether it hung up.
 */
export function exchange(port: number, chunks: readonly Buffer[], opts: { timeoutMs?: number; gapMs?: number; host?: string } = {}): Promise<{ data: Buffer; closed: boolean }> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let timedOut = false;
    const sock = connect(port, opts.host ?? '127.0.0.1');
    sock.on('error', () => {});
    sock.on('data', (d) => got.push(d));
    sock.on('connect', async () => {
      for (const c of chunks) {
        if (sock.destroyed) break;
        sock.write(c);
        await new Promise((r) => setTimeout(r, opts.gapMs ?? 0));
      }
    });
    const timer = setTimeout(() => {
      timedOut = true;
      sock.destroy();
    }, timeoutMs);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(got), closed: !timedOut });
    });
  });
}

/** The first bytes a server sends on connect (its greeting), or an empty buffer. */
export function greeting(port: number, timeoutMs = 2000): Promise<Buffer> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.on('error', () => resolve(Buffer.alloc(0)));
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(Buffer.alloc(0));
    }, timeoutMs);
    sock.once('data', (d) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(d);
    });
  });
}

/** Hits of a token, waiting (bounded) until at least `n` are stored. */
export async function hitsOf(db: AnyDb, tokenId: string, n = 1, timeoutMs = 5000): Promise<HitRow[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const hits = await listHits(db, { tokenId, limit: 100, order: 'asc' });
    if (hits.length >= n || Date.now() > until) return hits;
    await new Promise((r) => setTimeout(r, 50));
  }
}
