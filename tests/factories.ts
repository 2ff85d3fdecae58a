import { eq, sql } from 'drizzle-orm';
import { setHitIncident } from '../src/db/queries/hits.ts';
import type { AlertRow, HitRow, IncidentRow, NewHitRow } from '../src/db/schema.ts';
import { shared, type AnyDb, type Tables } from '../src/db/store.ts';

/**
 * Factories for rows the tests need but do not exercise: hits, incidents and alert outbox
 * rows. They write through the same tables the pipeline uses, so pages read real rows.
 */

/** Store a hit on `tokenId` (and count it on the token, as the recorder does); either database. */
export async function makeHit(db: AnyDb, tokenId: string, fields: Partial<NewHitRow> = {}): Promise<HitRow> {
  const { db: q, t } = shared(db);
  const at = fields.at ?? new Date();
  const [hit] = await q.insert(t.hits).values({ tokenId, channel: 'http', at, sourceIp: '10.20.4.17', method: 'GET', path: '/x', userAgent: 'curl/8.5.0', ...fields }).returning();
  if (!hit) throw new Error('no hit row');
  await q.update(t.tokens).set({ hitCount: sql`${t.tokens.hitCount} + 1`, lastHitAt: at }).where(eq(t.tokens.id, tokenId));
  return hit;
}

export interface IncidentSpec extends Partial<Omit<Tables['incidents']['$inferInsert'], 'id'>> {
  /** Hits to link to the incident (their times set firstAt/lastAt unless given). */
  hits?: readonly HitRow[];
}

/** An incident row, with `hits` linked to it. */
export async function makeIncident(db: AnyDb, spec: IncidentSpec = {}): Promise<IncidentRow> {
  const { db: q, t } = shared(db);
  const { hits = [], ...fields } = spec;
  const times = hits.map((h) => h.at.getTime());
  const now = Date.now();
  const [row] = await q
    .insert(t.incidents)
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
export async function makeAlert(db: AnyDb, incidentId: number, fields: Partial<Tables['alerts']['$inferInsert']> = {}): Promise<AlertRow> {
  const { db: q, t } = shared(db);
  const [row] = await q
    .insert(t.alerts)
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
    .returning();
  if (!row) throw new Error('no alert row');
  return row;
}
