import cluster, { type Worker } from 'node:cluster';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { roleSwitches } from '../roles.ts';
import type { RunningListener } from './registry.ts';

/**
 * DNS on several cores (DNS_PROCESSES > 1, PostgreSQL only): the main process forks that many
 * DNS processes through node:cluster, which hands them one shared UDP socket (the kernel gives
 * each datagram to one of them) and spreads TCP connections among them. Each process decodes,
 * records and correlates its own queries (PostgreSQL correlation locks per link key, so they
 * do not queue on one another) and answers a query after its hit is committed, as a single
 * process does. Node 20's dgram has no SO_REUSEPORT, so the main process keeps the socket and
 * restarts a DNS process that stops. On SQLite all would queue on the one writer: refused in
 * config.ts (docs/performance.md measured two processes answering no more than one).
 */

/** What a DNS process sends the main process once it answers queries. */
export interface DnsProcessReady {
  honeytrail: 'dns-ready';
  address: RunningListener['address'];
}

export interface DnsProcesses {
  /** Where the shared DNS socket is bound. */
  address: RunningListener['address'];
  /** Process ids of the DNS processes running now. */
  pids(): number[];
  /** Stop every DNS process (each commits its queued hits first). */
  close(): Promise<void>;
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** How long a DNS process may take to start answering, and to stop. */
const START_MS = 60_000;
const STOP_MS = 15_000;
/** Wait before a stopped DNS process is started again, doubled for each stop in a row up to RESTART_MAX_MS. */
const RESTART_MS = 1000;
const RESTART_MAX_MS = 60_000;
/** A process that ran this long before it stopped counts as a fresh failure (the wait starts over). */
const HEALTHY_MS = 60_000;

const isReady = (m: unknown): m is DnsProcessReady => typeof m === 'object' && m !== null && (m as { honeytrail?: unknown }).honeytrail === 'dns-ready';

/** Start `config.DNS_PROCESSES` DNS processes (call after the main process has migrated the database). */
export async function startDnsProcesses(config: Config, log: Logger): Promise<DnsProcesses> {
  // The DNS listener alone (no other listener, no alert worker), and no cluster of its own.
  const env = { ...roleSwitches('dns'), DNS_PROCESSES: '1' };
  const running = new Map<number, Worker>();
  let stopping = false;
  let started = false;
  let address: RunningListener['address'] | undefined;
  /** Stops in a row per process number (a process that keeps failing is restarted ever more slowly). */
  const failures = new Map<number, number>();

  const fork = (n: number): Promise<void> =>
    new Promise((resolve, reject) => {
      // bin/dns-process.js runs the build, or the TypeScript source in development (bin/launch.js);
      // its argument is the process's number, which its log lines carry.
      cluster.setupPrimary({ exec: join(ROOT, 'bin', 'dns-process.js'), args: [String(n)] });
      const worker = cluster.fork(env);
      const bornAt = Date.now();
      running.set(n, worker);
      const timer = setTimeout(() => reject(new Error(`DNS process ${n} did not start answering within ${START_MS / 1000} s`)), START_MS);
      worker.on('message', (m: unknown) => {
        if (!isReady(m)) return;
        clearTimeout(timer);
        address ??= m.address;
        resolve();
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (running.get(n) === worker) running.delete(n);
        reject(new Error(`DNS process ${n} stopped (${signal ?? `exit code ${code}`}) before it answered`));
        if (stopping || !started) return;
        const inRow = Date.now() - bornAt >= HEALTHY_MS ? 1 : (failures.get(n) ?? 0) + 1;
        failures.set(n, inRow);
        const wait = Math.min(RESTART_MAX_MS, RESTART_MS * 2 ** (inRow - 1));
        log.error({ dnsProcess: n, code, signal, restartInMs: wait }, 'a DNS process stopped; starting it again');
        setTimeout(() => {
          if (!stopping) fork(n).catch((err: unknown) => log.error({ err, dnsProcess: n }, 'a DNS process could not be started again'));
        }, wait).unref();
      });
    });

  const stopAll = async (): Promise<void> => {
    stopping = true;
    await Promise.all(
      [...running.values()].map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            const kill = setTimeout(() => worker.process.kill('SIGKILL'), STOP_MS);
            worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            worker.process.kill('SIGTERM');
          }),
      ),
    );
    running.clear();
  };

  try {
    await Promise.all(Array.from({ length: config.DNS_PROCESSES }, (_, i) => fork(i + 1)));
  } catch (err) {
    await stopAll();
    throw err;
  }
  started = true;
  log.info({ processes: config.DNS_PROCESSES, address }, 'DNS answered by several processes (DNS_PROCESSES)');
  return {
    address: address ?? { host: config.DNS_HOST, port: config.DNS_PORT },
    pids: () => [...running.values()].flatMap((w) => (w.process.pid === undefined || w.isDead() ? [] : [w.process.pid])),
    close: stopAll,
  };
}
