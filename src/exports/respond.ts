import type { Response } from 'express';
import { TECHNIQUES } from '../hits/attack.ts';
import type { AppDeps } from '../deps.ts';
import type { IncidentStatus } from '../db/schema.ts';
import { hitsCsv, hitsJsonl } from './hits.ts';
import { incidentsCsv, incidentsForStix, incidentsJsonl } from './incidents.ts';
import { buildStixBundle } from './stix.ts';

export type ExportFormat = 'csv' | 'jsonl' | 'stix';

export interface ExportRequest {
  what: 'hits' | 'incidents';
  format: ExportFormat;
  since?: Date;
  tokenId?: string;
  status?: IncidentStatus;
}

/** Write a generator of text chunks to the response, respecting backpressure. */
async function stream(res: Response, chunks: AsyncIterable<string>): Promise<void> {
  for await (const chunk of chunks) {
    if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
}

/**
 * Send an export as a download: CSV and JSON Lines stream row by row (bounded memory at millions
 * of hits); STIX is one bundle document. Shared by the API (`/api/v1/exports/*`) and the admin UI.
 */
export async function sendExport(res: Response, deps: Pick<AppDeps, 'db' | 'config'>, q: ExportRequest): Promise<void> {
  const stamp = new Date().toISOString().slice(0, 10);
  const base = `honeytrail-${q.what}-${stamp}`;
  const techniqueName = (id: string) => TECHNIQUES[id];
  res.set('Cache-Control', 'no-store');
  if (q.format === 'stix') {
    const bundle =
      q.what === 'hits'
        ? await buildStixBundle(deps.db, deps.config, { since: q.since, tokenId: q.tokenId, techniqueName })
        : await (async () => {
            const incidents = await incidentsForStix(deps.db, { since: q.since, status: q.status });
            const hitIds = new Set(incidents.flatMap((i) => i.hitIds));
            const from = incidents.reduce<Date | undefined>((min, i) => (!min || i.firstAt < min ? i.firstAt : min), undefined);
            return buildStixBundle(deps.db, deps.config, { since: from ?? new Date(), incidents, hitIds, techniqueName });
          })();
    res.attachment(`${base}.stix.json`).type('application/stix+json;version=2.1').send(JSON.stringify(bundle));
    return;
  }
  if (q.format === 'csv') res.attachment(`${base}.csv`).type('text/csv; charset=utf-8');
  else res.attachment(`${base}.jsonl`).type('application/x-ndjson');
  const adminUrl = deps.config.ADMIN_URL;
  const chunks =
    q.what === 'hits'
      ? q.format === 'csv'
        ? hitsCsv(deps.db, q)
        : hitsJsonl(deps.db, q)
      : q.format === 'csv'
        ? incidentsCsv(deps.db, q, adminUrl)
        : incidentsJsonl(deps.db, q, adminUrl);
  await stream(res, chunks);
}
