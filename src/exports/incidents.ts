import { technique } from '../alerts/attack.ts';
import type { Db } from '../db/client.ts';
import type { IncidentRow, IncidentStatus } from '../db/schema.ts';
import { csvRow } from '../csv.ts';
import type { IncidentForStix } from './stix.ts';

export interface IncidentExportFilter {
  since?: Date;
  status?: IncidentStatus;
}

const PAGE = 500;

/** Incidents oldest first (by last activity at or after `since`), in pages. */
export function* iterateIncidents(db: Db, f: IncidentExportFilter): Generator<IncidentRow & { hitIds: number[] }> {
  const page = db.$client.prepare(
    `select id from incidents where id > ? and (? is null or last_at >= ?) and (? is null or status = ?) order by id limit ${PAGE}`,
  );
  const row = db.$client.prepare('select * from incidents where id = ?');
  const hits = db.$client.prepare('select id from hits where incident_id = ? order by id');
  let after = 0;
  const since = f.since?.getTime() ?? null;
  const status = f.status ?? null;
  for (;;) {
    const ids = page.all(after, since, since, status, status) as { id: number }[];
    for (const { id } of ids) {
      const r = row.get(id) as Record<string, unknown>;
      yield { ...toIncident(r), hitIds: (hits.all(id) as { id: number }[]).map((h) => h.id) };
    }
    const last = ids[ids.length - 1];
    if (!last || ids.length < PAGE) return;
    after = last.id;
  }
}

function toIncident(r: Record<string, unknown>): IncidentRow {
  const date = (v: unknown) => (v === null || v === undefined ? null : new Date(Number(v)));
  return {
    id: Number(r.id),
    actorKey: String(r.actor_key),
    actorLabel: (r.actor_label as string | null) ?? null,
    firstAt: date(r.first_at) ?? new Date(0),
    lastAt: date(r.last_at) ?? new Date(0),
    hitCount: Number(r.hit_count),
    tokenCount: Number(r.token_count),
    locationCount: Number(r.location_count),
    hostCount: Number(r.host_count),
    severity: r.severity as IncidentRow['severity'],
    status: r.status as IncidentRow['status'],
    lateral: Boolean(r.lateral),
    techniques: JSON.parse(String(r.techniques ?? '[]')) as string[],
    summary: (r.summary as string | null) ?? null,
    updatedAt: date(r.updated_at),
  };
}

export const INCIDENT_CSV_COLUMNS = [
  'id', 'first_at', 'last_at', 'status', 'severity', 'actor', 'hits', 'decoys', 'locations', 'hosts', 'lateral', 'reasons', 'techniques', 'hit_ids', 'url',
] as const;

export function* incidentsCsv(db: Db, f: IncidentExportFilter, adminUrl: string): Generator<string> {
  yield csvRow(INCIDENT_CSV_COLUMNS);
  for (const i of iterateIncidents(db, f)) {
    yield csvRow([
      i.id, i.firstAt, i.lastAt, i.status, i.severity, i.actorLabel ?? i.actorKey, i.hitCount, i.tokenCount, i.locationCount, i.hostCount,
      i.lateral ? 'yes' : 'no', i.summary, i.techniques.join(' '), i.hitIds.join(' '), `${adminUrl}/incidents/${i.id}`,
    ]);
  }
}

export function* incidentsJsonl(db: Db, f: IncidentExportFilter, adminUrl: string): Generator<string> {
  for (const i of iterateIncidents(db, f)) {
    yield `${JSON.stringify({
      id: i.id,
      actorKey: i.actorKey,
      actorLabel: i.actorLabel,
      firstAt: i.firstAt.toISOString(),
      lastAt: i.lastAt.toISOString(),
      status: i.status,
      severity: i.severity,
      hitCount: i.hitCount,
      tokenCount: i.tokenCount,
      locationCount: i.locationCount,
      hostCount: i.hostCount,
      lateral: i.lateral,
      lateralReasons: (i.summary ?? '').split('; ').filter(Boolean),
      techniques: i.techniques.map(technique),
      hitIds: i.hitIds,
      url: `${adminUrl}/incidents/${i.id}`,
    })}\n`;
  }
}

/** Incidents as STIX groupings input: every incident with its hits (the hits go in as sightings). */
export function incidentsForStix(db: Db, f: IncidentExportFilter): IncidentForStix[] {
  return [...iterateIncidents(db, f)].map((i) => ({ id: i.id, firstAt: i.firstAt, lastAt: i.lastAt, severity: i.severity, summary: i.summary, actorLabel: i.actorLabel, hitIds: i.hitIds }));
}
