import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../config.ts';
import { claimDue, finishAlert, threadAnchor } from '../db/queries/alerts.ts';
import { isPg, type AnyDb } from '../db/store.ts';
import { pgClaimDue } from './claim-pg.ts';
import type { AlertRow } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import type { DeliveryResult } from './deliver.ts';
import type { AlertPayload } from '../hits/paging.ts';
import { createMailer, messageIdFor, renderEmail, type Threading } from './email.ts';
import { buildAlertView, type AlertView } from './view.ts';
import { sendWebhook } from './webhook.ts';

/** A claim lasts longer than the slowest delivery (SMTP socket timeout 30 s, webhooks 5 s). */
const BATCH = 10;
const MAX_BACKOFF_MS = 3_600_000;

type WorkerConfig = Pick<
  Config,
  | 'ADMIN_URL'
  | 'ALERT_ON_CLASSIFICATIONS'
  | 'ALERT_GROUP_WINDOW'
  | 'SMTP_URL'
  | 'ALERT_FROM'
  | 'WEBHOOK_SECRET'
  | 'WEBHOOK_ALLOW_PRIVATE'
  | 'ALERT_POLL_MS'
  | 'ALERT_RETRY_BASE_MS'
  | 'ALERT_DEAD_AFTER'
  | 'ALERT_LEASE'
>;

export interface AlertWorker {
  readonly id: string;
  /** Poll every ALERT_POLL_MS until stopped. */
  start(): void;
  /** Look for due rows soon (called after a hit queued alerts), instead of waiting for the next poll. */
  kick(): void;
  /** Claim and deliver what is due now; resolves with the number of rows handled. */
  runOnce(): Promise<number>;
  /** Stop polling and wait for deliveries in flight. */
  stop(): Promise<void>;
}

/** Stable across retries of one row, so a receiver can drop a redelivery it already processed. */
function deliveryId(row: AlertRow): string {
  return createHash('sha256').update(row.idempotencyKey).digest('hex').slice(0, 24);
}

/**
 * Exponential backoff with jitter: base * 2^(attempt-1), capped at an hour, times a random
 * factor in [0.5, 1.5) so that many failed alerts do not retry in lockstep.
 */
export function backoffMs(attempt: number, baseMs: number, random = Math.random): number {
  const exp = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (0.5 + random()));
}

/**
 * The outbox worker: claims due rows (compare-and-swap with a lease, so a crashed worker's
 * claims expire and are retried), renders each from the database, delivers it, and records
 * the result on the row. Failures retry with backoff until ALERT_DEAD_AFTER has passed since
 * the row was queued; then the row is `dead`, logged at error level and listed by the API.
 */
export function createAlertWorker(deps: {
  db: AnyDb;
  config: WorkerConfig;
  log: Logger;
  id?: string;
  /** Let the poll timer keep the process alive (the standalone worker). In-process, the listeners do. @default false */
  keepAlive?: boolean;
}): AlertWorker {
  const { db, config, log } = deps;
  const id = deps.id ?? `worker-${process.pid}-${randomBytes(4).toString('hex')}`;
  const mailer = createMailer(config);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let again = false;
  let stopped = false;
  let kicked = false;

  async function deliver(row: AlertRow): Promise<void> {
    let view: AlertView | null = null;
    let result: DeliveryResult;
    try {
      view = await buildAlertView(db, config, row);
      if (!view) result = { ok: false, error: 'incident or hits no longer exist' };
      else if (row.channel === 'email') {
        result = await mailer.send(
          row.target,
          renderEmail(view),
          row.idempotencyKey,
          { 'X-Honeytrail-Incident': String(view.incident.id), 'X-Honeytrail-Severity': view.severity, 'X-Honeytrail-Thread': row.thread ?? `incident:${row.incidentId ?? 0}` },
          await threading(row),
        );
      } else result = await sendWebhook(config, row.target, view, deliveryId(row));
    } catch (err) {
      result = { ok: false, error: `render/delivery error: ${(err as Error).message}` };
    }
    await record(row, result, view === null && !result.ok && result.error === 'incident or hits no longer exist');
  }

  /**
   * One intrusion is one mail thread: every mail after the thread's first answers it
   * (In-Reply-To) and names it, and the first mails of intrusions merged into it, in References.
   */
  async function threading(row: AlertRow): Promise<Threading | undefined> {
    const thread = row.thread ?? `incident:${row.incidentId ?? 0}`;
    const anchor = await threadAnchor(db, thread, 'email', row.target);
    const merged = ((row.payload as Partial<AlertPayload>).mergedFrom ?? []).slice(0, 20);
    const others = await Promise.all(merged.map((id) => threadAnchor(db, `incident:${id}`, 'email', row.target)));
    const refs = [anchor && anchor.id !== row.id ? anchor : undefined, ...others].flatMap((a) => (a ? [messageIdFor(a.idempotencyKey, config.ALERT_FROM)] : []));
    const first = refs[0];
    return first ? { inReplyTo: first, references: [...new Set(refs)] } : undefined;
  }

  async function record(row: AlertRow, r: DeliveryResult, hopeless: boolean): Promise<void> {
    const now = Date.now();
    const ctx = { alertId: row.id, incidentId: row.incidentId, channel: row.channel, target: row.target, kind: row.kind, attempts: row.attempts, status: r.status };
    if (r.ok) {
      await finishAlert(db, row.id, id, { status: 'sent', sentAt: now, result: r });
      log.info(ctx, 'alert delivered');
      return;
    }
    const age = now - row.createdAt.getTime();
    if (hopeless || age >= config.ALERT_DEAD_AFTER) {
      await finishAlert(db, row.id, id, { status: 'dead', error: r.error ?? 'failed', result: r });
      log.error({ ...ctx, error: r.error, ageMs: age }, 'alert gave up (dead): it was never delivered');
      return;
    }
    const next = now + backoffMs(row.attempts, config.ALERT_RETRY_BASE_MS);
    await finishAlert(db, row.id, id, { status: 'failed', error: r.error ?? 'failed', nextAttemptAt: next, result: r });
    log.warn({ ...ctx, error: r.error, retryAt: new Date(next).toISOString() }, 'alert delivery failed; will retry');
  }

  async function cycle(): Promise<number> {
    let handled = 0;
    for (let round = 0; round < 100 && !stopped; round++) {
      // SQLite: one compare-and-swap UPDATE; PostgreSQL: FOR UPDATE SKIP LOCKED, so workers on other machines take other rows.
      const rows = isPg(db) ? await pgClaimDue(db, id, Date.now(), config.ALERT_LEASE, BATCH) : claimDue(db, id, Date.now(), config.ALERT_LEASE, BATCH);
      if (rows.length === 0) break;
      await Promise.all(rows.map(deliver));
      handled += rows.length;
    }
    return handled;
  }

  function runOnce(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = cycle()
      .catch((err: unknown) => {
        log.error({ err }, 'alert worker cycle failed');
        return 0;
      })
      .finally(() => {
        running = undefined;
        if (again && !stopped) {
          again = false;
          void runOnce();
        }
      });
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      void runOnce().finally(schedule);
    }, config.ALERT_POLL_MS);
    if (!deps.keepAlive) timer.unref();
  }

  return {
    id,
    start() {
      stopped = false;
      void runOnce();
      schedule();
    },
    kick() {
      if (stopped || kicked) return;
      kicked = true;
      // After the hit's transaction has committed (the kick is requested from inside it).
      setImmediate(() => {
        kicked = false;
        void runOnce();
      });
    },
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (running) await running;
      mailer.close();
    },
  };
}
