import type { EntityState, IntrusionReads, IntrusionState, IntrusionWrites } from '../hits/intrusions.ts';
import type { AlertPayload, AlertTail } from '../hits/paging.ts';
import type { Db } from './client.ts';
import type { AlertStatus, EntityKind, IncidentReason, IncidentStatus, Severity } from './schema.ts';

/**
 * The intrusion logic's reads and writes on SQLite (src/hits/intrusions.ts): prepared
 * statements answered inside the batch's transaction, which holds SQLite's only write lock, so
 * nothing changes under the batch between its reads and its writes.
 */

interface IncidentRaw {
  id: number;
  actorKey: string;
  actorLabel: string | null;
  firstAt: number;
  lastAt: number;
  hitCount: number;
  tokenCount: number;
  locationCount: number;
  hostCount: number;
  machineCount: number;
  severity: Severity;
  lateral: number;
  techniques: string;
  reasons: string;
  summary: string | null;
  status: IncidentStatus;
  mergedInto: number | null;
  alertGroup: string | null;
}

interface EntityRaw {
  key: string;
  kind: EntityKind;
  label: string;
  claimed: number;
  firstAt: number;
  lastAt: number;
  firstHitId: number | null;
  hits: number;
  data: string | null;
}

const INCIDENT_COLUMNS =
  'id, actor_key as actorKey, actor_label as actorLabel, first_at as firstAt, last_at as lastAt, hit_count as hitCount, token_count as tokenCount, location_count as locationCount, host_count as hostCount, machine_count as machineCount, severity, lateral, techniques, reasons, summary, status, merged_into as mergedInto, alert_group as alertGroup';
const ENTITY_COLUMNS = 'key, kind, label, claimed, first_at as firstAt, last_at as lastAt, first_hit_id as firstHitId, hits, data';
const LINK_KIND_LIST = "('host', 'ip', 'user', 'via', 'hop')";

function entity(r: EntityRaw): EntityState {
  return { ...r, claimed: r.claimed === 1, data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : null };
}

/** Statements over one SQLite database; `reads()` starts a batch's view, `apply()` writes its result. */
export function sqliteIntrusions(db: Db) {
  const c = db.$client;
  const linkedIds = c.prepare<[string, number], { key: string; id: number; lastAt: number }>(
    `select e.key, e.incident_id as id, e.last_at as lastAt from incident_entities e join incidents i on i.id = e.incident_id
     where e.key in (select value from json_each(?)) and e.last_at >= ? and i.merged_into is null and i.status != 'closed'`,
  );
  const byId = c.prepare<[number], IncidentRaw>(`select ${INCIDENT_COLUMNS} from incidents where id = ?`);
  const linkEntities = c.prepare<[number], EntityRaw>(`select ${ENTITY_COLUMNS} from incident_entities where incident_id = ? and kind in ${LINK_KIND_LIST}`);
  const oneEntity = c.prepare<[number, string], EntityRaw>(`select ${ENTITY_COLUMNS} from incident_entities where incident_id = ? and key = ?`);
  const recent = c.prepare<[string, number, number, number], { id: number }>(
    `select e.incident_id as id from incident_entities e join incidents i on i.id = e.incident_id
     where e.key = ? and e.last_at >= ? and e.first_at >= ? and i.merged_into is null limit ?`,
  );
  const seen = c.prepare<[string, number, number, number], { one: number }>(
    'select 1 as one from incident_entities where key = ? and last_at >= ? and incident_id != ? and claimed >= ? limit 1',
  );
  const paged = c.prepare<[number], { n: number }>("select count(distinct incident_id) as n from alerts where kind = 'first' and created_at >= ?");
  const tail = c.prepare<[string, string, string], { id: number; kind: string; status: AlertStatus; claimedBy: string | null; nextAttemptAt: number; sentAt: number | null; payload: string }>(
    'select id, kind, status, claimed_by as claimedBy, next_attempt_at as nextAttemptAt, sent_at as sentAt, payload from alerts where thread = ? and channel = ? and target = ? order by id desc limit 1',
  );
  const sequence = c.prepare<[], { seq: number }>("select coalesce((select seq from sqlite_sequence where name = 'incidents'), 0) as seq");

  // Positional parameters throughout the writes: binding by name costs about a third more per row
  // (a new source per hit writes an intrusion and its entities for every hit).
  const insertIncident = c.prepare(
    `insert into incidents (id, actor_key, actor_label, status, first_at, last_at, hit_count, token_count, location_count, host_count, machine_count, severity, lateral, techniques, reasons, summary, merged_into, alert_group, updated_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const updateIncident = c.prepare(
    `update incidents set first_at = ?, last_at = ?, hit_count = ?, token_count = ?, location_count = ?, host_count = ?, machine_count = ?, severity = ?, lateral = ?,
     techniques = ?, reasons = ?, summary = ?, merged_into = ?, alert_group = ?, updated_at = ? where id = ?`,
  );
  const moveHits = c.prepare<[number, number]>('update hits set incident_id = ? where incident_id = ?');
  const moveEntities = c.prepare<[number, number]>(
    `insert into incident_entities (incident_id, key, kind, label, claimed, first_at, last_at, first_hit_id, hits, data)
     select ?, key, kind, label, claimed, first_at, last_at, first_hit_id, hits, data from incident_entities where incident_id = ? and true
     on conflict (incident_id, key) do update set first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at),
       hits = hits + excluded.hits, claimed = claimed and excluded.claimed, first_hit_id = coalesce(min(first_hit_id, excluded.first_hit_id), first_hit_id, excluded.first_hit_id)`,
  );
  const dropEntities = c.prepare<[number]>('delete from incident_entities where incident_id = ?');
  const moveAlerts = c.prepare<[number, string, number, string]>(
    "update alerts set incident_id = ?, thread = ? where incident_id = ? and thread = ? and status in ('pending', 'failed') and claimed_by is null",
  );
  const upsertEntity = c.prepare(
    `insert into incident_entities (incident_id, key, kind, label, claimed, first_at, last_at, first_hit_id, hits, data)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     on conflict (incident_id, key) do update set label = excluded.label, claimed = claimed and excluded.claimed, data = excluded.data,
       first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at), hits = hits + excluded.hits,
       first_hit_id = coalesce(first_hit_id, excluded.first_hit_id)`,
  );
  const recount = c.prepare<[number]>(
    `update incidents set
       token_count = (select count(*) from incident_entities where incident_id = incidents.id and kind = 'decoy'),
       location_count = (select count(*) from incident_entities where incident_id = incidents.id and kind = 'place'),
       host_count = (select count(*) from incident_entities where incident_id = incidents.id and kind = 'planted'),
       machine_count = (select count(*) from incident_entities where incident_id = incidents.id and kind in ('host', 'ip'))
     where id = ?`,
  );
  // Every assignment of a batch in one statement: pairs [hit id, incident id].
  const assign = c.prepare<[string]>(
    "update hits set incident_id = a.incident from (select value ->> 0 as hit, value ->> 1 as incident from json_each(?)) a where hits.id = a.hit",
  );
  const insertAlert = c.prepare(
    "insert or ignore into alerts (incident_id, thread, channel, target, kind, status, attempts, next_attempt_at, idempotency_key, payload) values (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
  );
  const foldAlert = c.prepare<[string, number, number]>("update alerts set payload = ?, next_attempt_at = ? where id = ? and claimed_by is null and status in ('pending', 'failed')");

  function load(id: number): IntrusionState | undefined {
    const r = byId.get(id);
    if (!r) return undefined;
    const entities = new Map(linkEntities.all(id).map((e) => [e.key, entity(e)]));
    return {
      ...r,
      lateral: r.lateral === 1,
      techniques: JSON.parse(r.techniques) as string[],
      reasons: JSON.parse(r.reasons) as IncidentReason[],
      entities,
    };
  }

  return {
    /** The database as this batch finds it (call inside the batch's transaction). */
    reads(): IntrusionReads {
      let next = 0;
      // An intrusion is read once per batch (with its link entities, which grow with it); later reads
      // get the same state, which the batch has been updating, as PostgreSQL's snapshot gives.
      const loaded = new Map<number, IntrusionState | undefined>();
      const incident = (id: number): IntrusionState | undefined => {
        if (!loaded.has(id)) loaded.set(id, load(id));
        return loaded.get(id);
      };
      // What the database holds for a link key, read once per batch for the earliest time asked
      // (a batch's hits ask about the same keys, later hits with later times).
      const links = new Map<string, { since: number; rows: { id: number; lastAt: number }[] }>();
      const linked = (keys: readonly string[], since: number): IntrusionState[] => {
        const missing = keys.filter((k) => {
          const have = links.get(k);
          return !have || have.since > since;
        });
        if (missing.length) {
          for (const k of missing) links.set(k, { since, rows: [] });
          for (const r of linkedIds.all(JSON.stringify(missing), since)) links.get(r.key)?.rows.push(r);
        }
        const ids = new Set<number>();
        for (const k of keys) for (const r of links.get(k)?.rows ?? []) if (r.lastAt >= since) ids.add(r.id);
        return [...ids].flatMap((id) => incident(id) ?? []);
      };
      return {
        linked,
        incident,
        entity: (id, key) => {
          const r = oneEntity.get(id, key);
          return r ? entity(r) : undefined;
        },
        recentWith: (key, since, limit) => recent.all(key, since, since, limit).map((r) => r.id),
        seenSince: (key, since, except, reportedOnly) => seen.get(key, since, except, reportedOnly ? 1 : 0) !== undefined,
        pagedSince: (since) => paged.get(since)?.n ?? 0,
        tail: (thread, channel, target) => {
          const r = tail.get(thread, channel, target);
          return r ? { ...r, payload: JSON.parse(r.payload) as AlertPayload } satisfies AlertTail : undefined;
        },
        newIncidentId: () => {
          if (next === 0) next = (sequence.get()?.seq ?? 0) + 1;
          return next++;
        },
      };
    },

    /** Apply a batch's writes (inside its transaction). */
    apply(w: IntrusionWrites): void {
      const now = Date.now();
      // The columns an intrusion's state sets, in the order both incident statements bind them.
      const state = (s: IntrusionState) =>
        [s.firstAt, s.lastAt, s.hitCount, s.tokenCount, s.locationCount, s.hostCount, s.machineCount, s.severity, s.lateral ? 1 : 0,
          JSON.stringify(s.techniques), JSON.stringify(s.reasons), s.summary, s.mergedInto, s.alertGroup, now] as const;
      for (const s of w.created) insertIncident.run(s.id, s.actorKey, s.actorLabel, s.status, ...state(s));
      for (const m of w.merges) {
        moveHits.run(m.parent, m.child);
        moveEntities.run(m.parent, m.child);
        dropEntities.run(m.child);
        moveAlerts.run(m.parent, `incident:${m.parent}`, m.child, `incident:${m.child}`);
      }
      for (const s of w.saved) updateIncident.run(...state(s), s.id);
      for (const { incidentId, entity: e, added } of w.entities) {
        upsertEntity.run(incidentId, e.key, e.kind, e.label, e.claimed ? 1 : 0, e.firstAt, e.lastAt, e.firstHitId, added, e.data ? JSON.stringify(e.data) : null);
      }
      for (const id of w.recount) recount.run(id);
      if (w.assigned.length) assign.run(JSON.stringify(w.assigned.map((a) => [a.hitId, a.incidentId])));
      for (const r of w.alerts.inserts) insertAlert.run(r.incidentId, r.thread, r.channel, r.target, r.kind, r.due, r.key, JSON.stringify(r.payload));
      for (const f of w.alerts.folds) foldAlert.run(JSON.stringify(f.payload), f.due, f.id);
    },
  };
}
