import { count, isNull, sql } from 'drizzle-orm';
import { shared, textAsc, type AnyDb } from '../store.ts';

/** Counters for /metrics: grouped counts from indexed columns, cheap enough to scrape every 15 s. */
export async function metricCounts(db: AnyDb) {
  const { db: q, t } = shared(db);
  const { tokens, hits, incidents, alerts } = t;
  const [tokenRows, hitRows, incidentRows, alertRows] = await Promise.all([
    q
      .select({ kind: tokens.kind, enabled: tokens.enabled, n: count() })
      .from(tokens)
      .where(isNull(tokens.deletedAt))
      .groupBy(tokens.kind, tokens.enabled)
      .orderBy(textAsc(db, tokens.kind), tokens.enabled),
    q
      .select({ channel: hits.channel, classification: hits.classification, n: count(), total: sql<number>`coalesce(sum(${hits.repeatCount}), 0)`.mapWith(Number) })
      .from(hits)
      .groupBy(hits.channel, hits.classification)
      .orderBy(textAsc(db, hits.channel), textAsc(db, hits.classification)),
    q
      .select({ status: incidents.status, severity: incidents.severity, n: count() })
      .from(incidents)
      .groupBy(incidents.status, incidents.severity)
      .orderBy(textAsc(db, incidents.status), textAsc(db, incidents.severity)),
    q
      .select({ channel: alerts.channel, status: alerts.status, n: count() })
      .from(alerts)
      .groupBy(alerts.channel, alerts.status)
      .orderBy(textAsc(db, alerts.channel), textAsc(db, alerts.status)),
  ]);
  return { tokens: tokenRows, hits: hitRows, incidents: incidentRows, alerts: alertRows };
}
