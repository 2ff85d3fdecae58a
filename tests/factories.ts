import type { Db } from '../src/db/client.ts';
import { hitWriter, setHitIncident } from '../src/db/queries/hits.ts';
import { alerts, incidents, type AlertRow, type HitRow, type IncidentRow, type NewHitRow } from '../src/db/schema.ts';

/**
 * Factories for rows the tests need but do not exercise: hits, incidents and alert outbox
 * rows. They write through the same tables the pipeline uses, so pages read real rows.
 */

/** Store a hit on `tokenId` (and count it on the token, as the recorder does). */
export function makeHit(db: Db, tokenId: string, fields: Partial<NewHitRow> = {}): HitRow {
  const w = hitWriter(db);
  const at = fields.at ?? new Date();
  const hit = w.insert({ tokenId, channel: 'http', at, sourceIp: '10.20.4.17', method: 'GET', path: '/x', userAgent: 'curl/8.5.0', ...fields });
  w.touchToken(tokenId, 1, at);
  return hit;
}

export interface IncidentSpec extends Partial<Omit<typeof incidents.$inferInsert, 'id'>> {
  /** Hits to link to the incident (their times set firstAt/lastAt unless given). */
  hits?: readonly HitRow[];
}

/** An incident row, with `hits` linked to it. */
export async function makeIncident(db: Db, spec: IncidentSpec = {}): Promise<IncidentRow> {
  const { hits = [], ...fields } = spec;
  const times = hits.map((h) => h.at.getTime());
  const now = Date.now();
  const [row] = await db
    .insert(incidents)
    .values({
      actorKey: '10.20.4.17',
      actorLabel: '10.20.4.17 (WS-ACCT-07)',
      firstAt: new Date(times.length ? Math.min(...times) : now),
      lastAt: new Date(times.length ? Math.max(...times) : now),
      hitCount: hits.length,
      tokenCount: new Set(hits.map((h) => h.tokenId)).size,
      severity: 'high',
      status: 'open',
      techniques: ['T1083'],
      ...fields,
    })
    .returning();
  if (!row) throw new Error('no incident row');
  for (const h of hits) await setHitIncident(db, h.id, row.id);
  return row;
}

/** An alert outbox row for an incident; a retry is not due for an hour, so a running worker leaves it alone. */
export function makeAlert(db: Db, incidentId: number, fields: Partial<typeof alerts.$inferInsert> = {}): AlertRow {
  return db
    .insert(alerts)
    .values({
      incidentId,
      channel: 'email',
      target: 'soc@corp.example',
      status: 'sent',
      attempts: 1,
      nextAttemptAt: new Date(Date.now() + 3600_000),
      sentAt: new Date(),
      idempotencyKey: `test-${incidentId}-${Math.random().toString(36).slice(2)}`,
      ...fields,
    })
    .returning()
    .get();
}
