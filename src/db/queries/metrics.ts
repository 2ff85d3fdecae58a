import type { Db } from '../client.ts';

/** Counters for /metrics: grouped counts from indexed columns, cheap enough to scrape every 15 s. */
export function metricCounts(db: Db) {
  const rows = <T>(sql: string) => db.$client.prepare(sql).all() as T[];
  return {
    tokens: rows<{ kind: string; enabled: number; n: number }>('select kind, enabled, count(*) as n from tokens where deleted_at is null group by kind, enabled'),
    hits: rows<{ channel: string; classification: string; n: number; total: number }>(
      'select channel, classification, count(*) as n, sum(repeat_count) as total from hits group by channel, classification',
    ),
    incidents: rows<{ status: string; severity: string; n: number }>('select status, severity, count(*) as n from incidents group by status, severity'),
    alerts: rows<{ channel: string; status: string; n: number }>('select channel, status, count(*) as n from alerts group by channel, status'),
  };
}
