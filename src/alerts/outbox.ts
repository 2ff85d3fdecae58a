import type { Config } from '../config.ts';
import type { AlertPayload } from '../db/queries/alerts.ts';
import type { TrailOutcome } from '../hits/trail.ts';
import type { Logger } from '../logger.ts';

/** One place an alert goes: an email recipient or a webhook URL. */
export interface AlertTarget {
  channel: 'email' | 'webhook';
  target: string;
}

/** Recipients of a token's alerts: its own emails and webhooks plus ALERT_TO and WEBHOOK_URLS. */
export function targetsFor(token: { alertEmails: readonly string[]; webhooks: readonly string[] }, config: Pick<Config, 'ALERT_TO' | 'WEBHOOK_URLS'>): AlertTarget[] {
  const emails = new Set([...token.alertEmails, ...config.ALERT_TO].map((e) => e.trim().toLowerCase()).filter(Boolean));
  const hooks = new Set([...token.webhooks, ...config.WEBHOOK_URLS].map((u) => u.trim()).filter(Boolean));
  return [...[...emails].map((target) => ({ channel: 'email' as const, target })), ...[...hooks].map((target) => ({ channel: 'webhook' as const, target }))];
}

/** The newest outbox row of an (incident, channel, target), as the enqueuer reads it. */
export interface LatestAlert {
  id: number;
  kind: string;
  status: string;
  claimedBy: string | null;
  scheduledAt: number | null;
  nextAttemptAt: number;
}

/** A new outbox row. */
export interface NewOutboxRow {
  incidentId: number;
  channel: 'email' | 'webhook';
  target: string;
  kind: 'first' | 'digest';
  due: number;
  key: string;
  payload: AlertPayload;
}

/**
 * What the enqueuer reads and writes, synchronously: SQLite's prepared statements
 * (`outboxStatements`) or a PostgreSQL snapshot of the batch's incidents (src/hits/correlate-pg.ts).
 */
export interface OutboxQueries {
  latest(incidentId: number, channel: string, target: string): LatestAlert | undefined;
  /** False when the idempotency key exists already. */
  insert(row: NewOutboxRow): boolean;
  /** Fold one more hit into an unclaimed pending/failed row; false when it was claimed meanwhile. */
  append(id: number, hitId: number, escalated: boolean, dueBy: number): boolean;
}

/**
 * Writes outbox rows for an alerting hit, inside the hit's transaction. Per incident and
 * target: the first hit makes a `first` row due now; later hits fold into the newest row
 * that no worker has claimed yet, or open a `digest` row due ALERT_DIGEST_SECONDS after the
 * previous one was scheduled. A rise in severity makes the waiting row due at once. The
 * idempotency key (incident, target, first hit) makes a replayed enqueue a no-op.
 */
export function createEnqueuer(
  q: OutboxQueries,
  config: Pick<Config, 'ALERT_TO' | 'WEBHOOK_URLS' | 'ALERT_DIGEST_SECONDS'>,
  log: Logger,
  onQueued?: () => void,
) {
  const digestMs = config.ALERT_DIGEST_SECONDS * 1000;
  const globalTargets = targetsFor({ alertEmails: [], webhooks: [] }, config);
  return (o: TrailOutcome): number => {
    const now = Date.now();
    let queued = 0;
    const targets = o.token.alertEmails.length === 0 && o.token.webhooks.length === 0 ? globalTargets : targetsFor(o.token, config);
    if (targets.length === 0 && o.opened) {
      log.warn({ incidentId: o.incident.id, tokenId: o.token.id, actor: o.actor.label }, 'alerting hit but no recipient: set ALERT_TO/WEBHOOK_URLS or the token\'s alertEmails/webhooks (the incident is stored)');
    }
    for (const t of targets) {
      const prev = q.latest(o.incident.id, t.channel, t.target);
      if (prev && prev.claimedBy === null && (prev.status === 'pending' || prev.status === 'failed')) {
        if (q.append(prev.id, o.hit.id, o.escalated, o.escalated ? now : Number.MAX_SAFE_INTEGER)) continue;
      }
      const kind = prev ? 'digest' : 'first';
      const due = !prev || o.escalated ? now : Math.max(now, (prev.scheduledAt ?? prev.nextAttemptAt) + digestMs);
      const payload: AlertPayload = { firstHitId: o.hit.id, lastHitId: o.hit.id, hitCount: 1, scheduledAt: due, escalated: o.escalated };
      const key = `${kind}:${o.incident.id}:${t.channel}:${t.target}:${o.hit.id}`;
      if (q.insert({ incidentId: o.incident.id, channel: t.channel, target: t.target, kind, due, key, payload })) queued++;
    }
    if (queued > 0 || o.escalated) onQueued?.();
    return queued;
  };
}
