import { technique } from '../hits/attack.ts';
import { incidentEntities, incidentHitIds, incidentsAfter } from '../db/queries/incidents.ts';
import { pathOf } from '../alerts/path.ts';
import type { IncidentRow, IncidentStatus } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';
import { csvRow } from '../csv.ts';
import { jsonLineSafe } from '../text.ts';
import type { IncidentForStix } from './stix.ts';

export interface IncidentExportFilter {
  since?: Date;
  status?: IncidentStatus;
}

const PAGE = 500;

/** Incidents oldest first (by last activity at or after `since`), in pages. */
export async function* iterateIncidents(db: AnyDb, f: IncidentExportFilter): AsyncGenerator<IncidentRow & { hitIds: number[] }> {
  let after = 0;
  for (;;) {
    const page = await incidentsAfter(db, { afterId: after, since: f.since, status: f.status, limit: PAGE });
    for (const incident of page) yield { ...incident, hitIds: await incidentHitIds(db, incident.id) };
    const last = page[page.length - 1];
    if (!last || page.length < PAGE) return;
    after = last.id;
  }
}

export const INCIDENT_CSV_COLUMNS = [
  'id', 'first_at', 'last_at', 'status', 'severity', 'actor', 'hits', 'decoys', 'locations', 'hosts', 'lateral', 'reasons', 'techniques', 'hit_ids', 'url',
  'machines', 'path', 'evidence', 'merged_into',
] as const;

export async function* incidentsCsv(db: AnyDb, f: IncidentExportFilter, adminUrl: string): AsyncGenerator<string> {
  yield csvRow(INCIDENT_CSV_COLUMNS);
  for await (const i of iterateIncidents(db, f)) {
    yield csvRow([
      i.id, i.firstAt, i.lastAt, i.status, i.severity, i.actorLabel ?? i.actorKey, i.hitCount, i.tokenCount, i.locationCount, i.hostCount,
      i.lateral ? 'yes' : 'no', i.summary, i.techniques.join(' '), i.hitIds.join(' '), `${adminUrl}/incidents/${i.id}`,
      i.machineCount, pathOf(await incidentEntities(db, i.id)).text, i.reasons.map((r) => `${r.code}: ${r.text}`).join(' | '), i.mergedInto,
    ]);
  }
}

export async function* incidentsJsonl(db: AnyDb, f: IncidentExportFilter, adminUrl: string): AsyncGenerator<string> {
  for await (const i of iterateIncidents(db, f)) {
    yield `${jsonLineSafe(JSON.stringify({
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
      machineCount: i.machineCount,
      path: pathOf(await incidentEntities(db, i.id)),
      reasons: i.reasons.map((r) => ({ code: r.code, text: r.text, at: new Date(r.at).toISOString(), hitId: r.hitId })),
      mergedInto: i.mergedInto,
    }))}\n`;
  }
}

/** Incidents as STIX groupings input: every incident with its hits (the hits go in as sightings). */
export async function incidentsForStix(db: AnyDb, f: IncidentExportFilter): Promise<IncidentForStix[]> {
  const out: IncidentForStix[] = [];
  for await (const i of iterateIncidents(db, f)) {
    out.push({
      id: i.id,
      firstAt: i.firstAt,
      lastAt: i.lastAt,
      severity: i.severity,
      summary: i.summary,
      actorLabel: i.actorLabel,
      hitIds: i.hitIds,
      mergedInto: i.mergedInto,
      path: pathOf(await incidentEntities(db, i.id)).text,
      reasons: i.reasons.map((r) => `${r.code}: ${r.text}`),
    });
  }
  return out;
}
