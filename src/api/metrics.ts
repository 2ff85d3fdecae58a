import type { RequestHandler } from 'express';
import { metricCounts } from '../db/queries/metrics.ts';
import type { AppDeps } from '../deps.ts';

const label = (v: string | number) => String(v).replace(/["\\\n]/g, '_');

/**
 * GET /metrics in the Prometheus text format: tokens, triggers (rows and folded repeats), incidents,
 * alert outbox states (`dead` alerts deserve an alert of their own), the recorder's batching,
 * and what flood control and the storage budget folded, left unstored or refused.
 */
export function metricsHandler(deps: AppDeps): RequestHandler {
  return async (_req, res) => {
    const c = await metricCounts(deps.db);
    const lines: string[] = [];
    const metric = (name: string, help: string, type: 'gauge' | 'counter', samples: [Record<string, string | number>, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) {
        const l = Object.entries(labels).map(([k, v]) => `${k}="${label(v)}"`).join(',');
        lines.push(`${name}${l ? `{${l}}` : ''} ${value}`);
      }
    };
    metric('honeytrail_tokens', 'Live tokens by kind and state.', 'gauge', c.tokens.map((r) => [{ kind: r.kind, enabled: r.enabled ? 'true' : 'false' }, r.n]));
    metric('honeytrail_hits_total', 'Token triggers stored, by channel and classification (folded repeats included).', 'counter', c.hits.map((r) => [{ channel: r.channel, classification: r.classification }, r.total]));
    metric('honeytrail_hit_rows', 'Hit rows stored (identical floods fold into one row).', 'gauge', c.hits.map((r) => [{ channel: r.channel, classification: r.classification }, r.n]));
    metric('honeytrail_incidents', 'Incidents by status and severity.', 'gauge', c.incidents.map((r) => [{ status: r.status, severity: r.severity }, r.n]));
    metric('honeytrail_alerts', 'Alert outbox rows by channel and delivery state.', 'gauge', c.alerts.map((r) => [{ channel: r.channel, status: r.status }, r.n]));
    metric('honeytrail_recorder_batches_total', 'Group-commit transactions written by this process.', 'counter', [[{}, deps.recorder.stats.batches]]);
    metric('honeytrail_recorder_hits_total', 'Hits committed by this process.', 'counter', [[{}, deps.recorder.stats.hits]]);
    const b = deps.budget;
    if (b) {
      metric('honeytrail_hits_folded_total', 'Hits folded into an earlier row by flood control, by level (identical, action, source, budget); this process.', 'counter', Object.entries(b.counts.folded).map(([reason, n]) => [{ reason }, n]));
      metric('honeytrail_hits_unstored_total', 'Hits over the storage budget with no row to fold into: counted on their token, not stored as rows; this process.', 'counter', [[{}, b.counts.unstored]]);
      metric('honeytrail_http_rate_limited_total', 'Public HTTP requests refused by PUBLIC_RATE_LIMIT (503, not recorded); this process.', 'counter', [[{}, b.counts.rateLimited]]);
      if (b.perMinute > 0) metric('honeytrail_storage_budget_available_bytes', 'Bytes of new hit rows the storage budget can take now (HIT_STORAGE_BUDGET per minute).', 'gauge', [[{}, b.available()]]);
    }
    metric('process_resident_memory_bytes', 'Resident memory of this process.', 'gauge', [[{}, process.memoryUsage().rss]]);
    res.type('text/plain; version=0.0.4').send(`${lines.join('\n')}\n`);
  };
}
