import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Db } from './client.ts';
import type { Logger } from '../logger.ts';

/**
 * Moves SQLite's WAL checkpoints off the event loop. By default SQLite checkpoints inside the
 * commit that crosses 1000 WAL pages, so one unlucky hit waits for the copy (profiling showed
 * it as a third of the hot path). Here the main connection's auto-checkpoint is turned off and a
 * worker thread with its own connection runs a PASSIVE checkpoint every `intervalMs`, which
 * never blocks writers. Should the worker die, auto-checkpointing is turned back on.
 */
export interface Checkpointer {
  close(): Promise<void>;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage({ error: String(err && err.message || err) }); }
}, workerData.intervalMs);
parentPort.on('message', (m) => { if (m === 'stop') { clearInterval(timer); try { db.pragma('wal_checkpoint(PASSIVE)'); } finally { db.close(); parentPort.close(); } } });
`;

export function startCheckpointer(db: Db, path: string, log: Logger, intervalMs = 1000): Checkpointer | null {
  if (path === ':memory:') return null;
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, intervalMs, driver } });
  worker.unref();
  db.$client.pragma('wal_autocheckpoint = 0');
  let stopped = false;
  const fallback = (why: string) => {
    if (stopped) return;
    log.warn({ why }, 'WAL checkpoint worker stopped; SQLite checkpoints inline again');
    if (db.$client.open) db.$client.pragma('wal_autocheckpoint = 1000');
  };
  worker.on('message', (m: { error?: string }) => m.error && log.debug({ error: m.error }, 'WAL checkpoint skipped'));
  worker.on('error', (err) => fallback(err.message));
  worker.on('exit', (code) => code !== 0 && fallback(`exit code ${code}`));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        if (stopped) return resolve();
        stopped = true;
        worker.ref(); // keep the process alive until the worker has finished its last checkpoint
        worker.once('exit', () => resolve());
        worker.postMessage('stop');
        setTimeout(() => void worker.terminate(), 5000).unref();
      }),
  };
}
