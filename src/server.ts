import { existsSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { createAlertActions } from './alerts/actions.ts';
import { createAlertPipeline } from './alerts/pipeline.ts';
import { createAdminApp } from './app.ts';
import { createPublicServer } from './channels/http.ts';
import { startDnsListener } from './channels/dns.ts';
import { listenSmtp } from './channels/smtp.ts';
import { createAlertWorker, type AlertWorker } from './alerts/worker.ts';
import { sqlitePath, type Config } from './config.ts';
import { startCheckpointer } from './db/checkpointer.ts';
import { openConfiguredDatabase } from './db/open.ts';
import { countApiKeys, createApiKey } from './db/queries/api-keys.ts';
import { isPg, type AnyDb } from './db/store.ts';
import type { AppDeps } from './deps.ts';
import { ensurePrivateDir } from './files.ts';
import { createClassifier } from './hits/classify.ts';
import { createPgCorrelator } from './hits/correlate-pg.ts';
import { createPgHitRecorder } from './hits/record-hit-pg.ts';
import { createHitRecorder, type HitRecorder } from './hits/record-hit.ts';
import { createStorageBudget, type StorageBudget } from './hits/budget.ts';
import { createFloodGate } from './hits/flood.ts';
import { watchExpectedFile } from './hits/expected-file.ts';
import { startOverflowReporter, type OverflowReporter } from './hits/overflow-report.ts';
import { intelMatcher, intelPrepare } from './intel/matcher.ts';
import type { Logger } from './logger.ts';
import { indexSearchTerms } from './tokens/service.ts';
import { facilityNumber, startSyslogForwarder, type Forwarder } from './siem/forwarder.ts';

/** A running listener: its bound address and how to stop it. */
export interface RunningListener {
  name: string;
  address: { host: string; port: number };
  close(): Promise<void>;
}

export interface Honeytrail {
  deps: AppDeps;
  listeners: RunningListener[];
  /** The SIEM forwarder, when SYSLOG_URL is set. */
  forwarder?: Forwarder;
  /** Reports what the storage budget turned away (log, dashboard); `flush()` reports now. */
  overflow: OverflowReporter;
  /** Bound port of a listener by name (`public`, `admin`, …). */
  port(name: string): number;
  /** Stop accepting, drain in-flight work, commit queued hits, close the database. */
  close(): Promise<void>;
}

export interface StartOptions {
  config: Config;
  log: Logger;
  /** Run the alert pipeline (classify, trail, outbox, worker). @default true */
  alerts?: boolean;
}

/** Open storage and start every enabled listener. Port 0 binds an ephemeral port. */
export async function startHoneytrail(opts: StartOptions): Promise<Honeytrail> {
  const { config, log } = opts;
  const budget = createStorageBudget(config.HIT_STORAGE_BUDGET);
  const store = await openStore(config, log, opts.alerts !== false, budget);
  const { db, recorder, worker } = store;
  const deps: AppDeps = { config, db, log, recorder, budget, alerts: opts.alerts !== false ? createAlertActions({ db, config, log }) : undefined };
  // Tokens made before search terms existed become findable by key id, mailbox or user name.
  const indexed = await indexSearchTerms(db, { config }).catch((err: unknown) => {
    log.error({ err }, 'indexing token search terms failed');
    return 0;
  });
  if (indexed) log.info({ tokens: indexed }, 'indexed search terms of existing tokens');
  const listeners: RunningListener[] = [];
  deps.listening = () => listeners;
  let expectedFile: { close(): void } | undefined;
  try {
    // The processes serving the console own the rules file (one writer per deployment role).
    if (config.EXPECTED_ACTIVITY_FILE && config.ADMIN_ENABLED) expectedFile = await watchExpectedFile(db, config.EXPECTED_ACTIVITY_FILE, log);
    if (config.PUBLIC_ENABLED) {
      listeners.push(await listenHttp('public', createPublicServer(deps), config.PUBLIC_HOST, config.PUBLIC_PORT));
    }
    if (config.SMTP_ENABLED) listeners.push(await listenSmtp(deps));
    if (config.ADMIN_ENABLED) {
      const { createServer } = await import('node:http');
      listeners.push(await listenHttp('admin', createServer(createAdminApp(deps)), config.ADMIN_HOST, config.ADMIN_PORT));
    }
    if (config.DNS_ENABLED) listeners.push(await startDnsListener(deps));
  } catch (err) {
    expectedFile?.close();
    await Promise.allSettled(listeners.map((l) => l.close()));
    await store.close();
    throw err;
  }
  for (const l of listeners) log.info({ listener: l.name, ...l.address }, `${l.name} listener ready`);
  const forwarder: Forwarder | undefined = config.SYSLOG_URL
    ? startSyslogForwarder(db, log, { url: config.SYSLOG_URL, facility: facilityNumber(config.SYSLOG_FACILITY), pollMs: config.SYSLOG_POLL_MS })
    : undefined;
  worker?.start();
  const overflow = startOverflowReporter(db, log, budget);

  let closing: Promise<void> | undefined;
  return {
    deps,
    listeners,
    forwarder,
    overflow,
    port(name) {
      const l = listeners.find((x) => x.name === name);
      if (!l) throw new Error(`listener ${name} is not running`);
      return l.address.port;
    },
    close() {
      closing ??= (async () => {
        expectedFile?.close();
        await Promise.allSettled(listeners.map((l) => l.close()));
        await recorder.close();
        await overflow.close();
        await worker?.stop();
        await forwarder?.tick(Number.POSITIVE_INFINITY); // settles every incident change: nothing here writes any more
        await forwarder?.close();
        await store.close();
      })();
      return closing;
    },
  };
}

/** The database with its recorder and alert worker: SQLite (embedded) or PostgreSQL, by DATABASE_URL. */
interface Store {
  db: AnyDb;
  recorder: HitRecorder;
  worker: AlertWorker | null;
  close(): Promise<void>;
}

async function openStore(config: Config, log: Logger, alerts: boolean, budget: StorageBudget): Promise<Store> {
  const flood = createFloodGate({ threshold: config.FLOOD_THRESHOLD, windowMs: config.FLOOD_WINDOW, actionRows: config.FLOOD_ACTION_ROWS, sourceRows: config.HIT_SOURCE_ROWS, budget });
  const { db, close } = await openConfiguredDatabase(config);
  // Intel labels are set before the insert: the trail reads them when it rates the incident.
  const intel = intelMatcher(db);
  const prepare = [intelPrepare(db, intel)];
  const importedScanners = (ip: string) => intel.scannerFor(ip);
  if (isPg(db)) {
    const worker = alerts && config.ALERT_WORKER_ENABLED ? createAlertWorker({ db, config, log }) : null;
    const correlator = alerts ? createPgCorrelator({ db, config, log, onQueued: () => worker?.kick() }) : undefined;
    const recorder = createPgHitRecorder({ db, log, correlator, classify: alerts ? createClassifier(db, config, importedScanners) : undefined, prepare, flood });
    void recorder.catchUp().catch((err: unknown) => log.error({ err }, 'correlating stored hits failed'));
    return { db, recorder, worker, close };
  }
  const checkpointer = startCheckpointer(db, sqlitePath(config.DATABASE_URL), log);
  const pipeline = alerts ? createAlertPipeline({ db, config, log, importedScanners }) : null;
  const recorder = createHitRecorder({ db, log, correlator: pipeline?.correlator, classify: pipeline?.classify, prepare, flood });
  // Hits stored without a trail (a correlation that failed, or hits recorded with the pipeline off), in the background.
  void recorder.catchUp();
  return {
    db,
    recorder,
    worker: pipeline?.worker ?? null,
    async close() {
      await checkpointer?.close();
      await close();
    },
  };
}

function listenHttp(name: string, server: Server, host: string, port: number): Promise<RunningListener> {
  return new Promise((resolvePromise, reject) => {
    const onError = (err: Error) => reject(new Error(`${name} listener could not bind ${host}:${port}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address() as AddressInfo;
      resolvePromise({
        name,
        address: { host: addr.address, port: addr.port },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
            // In-flight requests get a grace period, then their sockets are dropped.
            setTimeout(() => server.closeAllConnections(), 5_000).unref();
          }),
      });
    });
  });
}

/**
 * First run: when no API key exists and none is configured, create one and write it to
 * `<DATA_DIR>/initial-api-key` (mode 0600, in a 0700 folder when it creates one) so the operator can start using the API. The key
 * itself never goes to the log, only the file path.
 */
export async function ensureInitialApiKey(db: AnyDb, config: Config, log: Logger): Promise<string | null> {
  if (config.HONEYTRAIL_API_KEY || (await countApiKeys(db)) > 0) return null;
  const file = resolve(config.DATA_DIR, 'initial-api-key');
  if (existsSync(file)) return file;
  if (ensurePrivateDir(config.DATA_DIR).loose) log.warn({ dir: config.DATA_DIR }, 'DATA_DIR is readable by other users; it holds the first-run API key (chmod 700 it)');
  const { key } = await createApiKey(db, 'initial key (first run)', 'system');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  log.warn({ file }, 'first run: created an API key and wrote it to this file; store it safely, then delete the file');
  return file;
}
