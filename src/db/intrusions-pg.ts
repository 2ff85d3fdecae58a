import type pg from 'pg';
import type { BatchKeys, EntityState, IntrusionReads, IntrusionState, IntrusionWrites } from '../hits/intrusions.ts';
import type { AlertPayload, AlertTail } from '../hits/paging.ts';
import { q, raw, run, together } from './pg-sql.ts';
import type { AlertStatus, EntityKind, IncidentReason, IncidentStatus, Severity } from './schema.ts';

/**
 * The intrusion logic's reads and writes on PostgreSQL (src/hits/intrusions.ts). The logic is
 * synchronous, so a batch's reads are fetched first in a handful of queries (`snapshot`, from
 * the keys the batch can ask about) and its writes applied afterwards in set-based statements
 * (`apply`), both inside the batch's transaction, which holds the locks of its keys. They go
 * straight to node-postgres (src/db/pg-sql.ts): this is the recording path.
 */

/** A connection of the pool in a transaction (src/db/pg-sql.ts). */
export type PgTx = pg.ClientBase;

/** Thrown when a batch opened more intrusions than ids were reserved for it; it is retried with enough. */
export class ReservationExhausted extends Error {}

/** A time column as epoch milliseconds under its own name (raw results carry times as driver strings). */
const MS = (column: string, as = column) => raw(`(extract(epoch from ${column}) * 1000)::float8 as ${as}`);
/** Typed array parameters for unnest()/any(), each bound as one parameter (a bare array would become a list). */
const ints = (xs: readonly number[]) => q`${xs}::int[]`;
const bigints = (xs: readonly number[]) => q`${xs}::bigint[]`;
const texts = (xs: readonly (string | null)[]) => q`${xs}::text[]`;
const floats = (xs: readonly number[]) => q`${xs}::float8[]`;
const bools = (xs: readonly boolean[]) => q`${xs}::boolean[]`;
const jsons = (xs: readonly (string | null)[]) => q`${xs}::jsonb[]`;
/** Epoch milliseconds to timestamptz inside SQL. */
const ts = (expr: string) => raw(`to_timestamp(${expr} / 1000.0)`);

const LINK_KINDS = ['host', 'ip', 'user', 'via', 'hop'];

function entity(r: Record<string, unknown>): EntityState {
  return {
    key: String(r.key),
    kind: r.kind as EntityKind,
    label: String(r.label),
    claimed: r.claimed === true,
    firstAt: Number(r.first_at),
    lastAt: Number(r.last_at),
    firstHitId: r.first_hit_id === null ? null : Number(r.first_hit_id),
    hits: Number(r.hits),
    data: (r.data as Record<string, unknown> | null) ?? null,
  };
}

function incident(r: Record<string, unknown>): IntrusionState {
  return {
    id: Number(r.id),
    actorKey: String(r.actor_key),
    actorLabel: (r.actor_label as string | null) ?? null,
    firstAt: Number(r.first_at),
    lastAt: Number(r.last_at),
    hitCount: Number(r.hit_count),
    tokenCount: Number(r.token_count),
    locationCount: Number(r.location_count),
    hostCount: Number(r.host_count),
    machineCount: Number(r.machine_count),
    severity: r.severity as Severity,
    lateral: r.lateral === true,
    techniques: (r.techniques as string[] | null) ?? [],
    reasons: (r.reasons as IncidentReason[] | null) ?? [],
    summary: (r.summary as string | null) ?? null,
    status: r.status as IncidentStatus,
    mergedInto: r.merged_into === null ? null : Number(r.merged_into),
    alertGroup: (r.alert_group as string | null) ?? null,
    entities: new Map(),
  };
}

/**
 * Everything the logic may ask about a batch with these keys, fetched in one go: the open
 * intrusions its link keys reach (with their link entities), the other entities it names on
 * them, the intrusions its repeats were counted on (and those they were merged into), flood
 * counts, the newest outbox row of every thread it can write to (locked, so a worker's
 * SKIP LOCKED claim passes it by until the commit) and `reserve` fresh incident ids.
 */
export async function snapshot(tx: PgTx, keys: BatchKeys, now: number, group: { window: number; limit: number }, reserve: number): Promise<IntrusionReads> {
  const linkRows = keys.links.length
    ? (
        await run<{ key: string; id: number; last_at: number }>(tx, q`
          select e.key, e.incident_id as id, ${MS('e.last_at', 'last_at')} from incident_entities e join incidents i on i.id = e.incident_id
          where e.key = any(${texts(keys.links)}) and e.last_at >= ${new Date(keys.since)} and i.merged_into is null and i.status <> 'closed'`)
      ).map((r) => ({ key: r.key, id: Number(r.id), lastAt: Number(r.last_at) }))
    : [];
  const incidents = new Map<number, IntrusionState>();
  let want = [...new Set([...linkRows.map((r) => r.id), ...keys.repeats])];
  // Repeats may point at intrusions merged since: follow them to where they went.
  for (let round = 0; want.length && round < 10; round++) {
    const rows = (
      await run(tx, q`
        select id, actor_key, actor_label, ${MS('first_at')}, ${MS('last_at')}, hit_count, token_count, location_count, host_count, machine_count, severity, "lateral",
               techniques, reasons, summary, status, merged_into, alert_group
        from incidents where id = any(${ints(want)}) order by id for update`)
    ).map(incident);
    for (const r of rows) incidents.set(r.id, r);
    want = rows.flatMap((r) => (r.mergedInto !== null && !incidents.has(r.mergedInto) ? [r.mergedInto] : []));
  }
  const ids = [...incidents.keys()];
  const entities = new Map<string, EntityState>();
  if (ids.length) {
    const rows = await run(tx, q`
      select incident_id, key, kind, label, claimed, ${MS('first_at')}, ${MS('last_at')}, first_hit_id, hits, data from incident_entities
      where incident_id = any(${ints(ids)}) and (kind = any(${texts(LINK_KINDS)}) or key = any(${texts(keys.others)}))`);
    for (const r of rows) {
      const e = entity(r);
      const id = Number(r.incident_id);
      if (LINK_KINDS.includes(e.kind)) incidents.get(id)?.entities.set(e.key, e);
      else entities.set(`${id}\u0000${e.key}`, e);
    }
  }
  // The reads that depend on nothing read before them go in one round trip: intrusions opened
  // recently per group, machines seen before (any intrusion, and reported ones), the first pages
  // of the last minute, and the reserved incident ids.
  const groupsSince = new Date(now - group.window);
  const seenSince = new Date(keys.seenSince);
  const side = (
    await run<{ recent: { key: string; id: number; first_at: number }[] | null; seen: { key: string; id: number; reported: boolean }[] | null; paged: number; fresh: number[] | null }>(tx, q`
      select
        (select json_agg(json_build_object('key', k.key, 'id', x.id, 'first_at', x.first_at)) from unnest(${texts(keys.groups)}) as k(key)
           cross join lateral (
             select e.incident_id as id, (extract(epoch from e.first_at) * 1000)::float8 as first_at
             from incident_entities e join incidents i on i.id = e.incident_id
             where e.key = k.key and e.first_at >= ${groupsSince} and e.last_at >= ${groupsSince} and i.merged_into is null
             limit ${group.limit}) x) as recent,
        (select json_agg(json_build_object('key', s.key, 'id', s.id, 'reported', s.reported)) from (
           select k.key, x.id, false as reported from unnest(${texts(keys.machines)}) as k(key)
           cross join lateral (select incident_id as id from incident_entities e where e.key = k.key and e.last_at >= ${seenSince} limit 2) x
           union all
           select k.key, x.id, true from unnest(${texts(keys.machines)}) as k(key)
           cross join lateral (select incident_id as id from incident_entities e where e.key = k.key and e.last_at >= ${seenSince} and e.claimed limit 2) x) s) as seen,
        (select count(distinct incident_id)::int from alerts where kind = 'first' and created_at >= ${new Date(now - 60_000)}) as paged,
        (select array_agg(nextval(pg_get_serial_sequence('incidents', 'id'))::int) from generate_series(1, ${reserve})) as fresh`)
  )[0];
  const recent = new Map<string, { id: number; firstAt: number }[]>();
  for (const r of side?.recent ?? []) {
    const list = recent.get(r.key) ?? [];
    list.push({ id: Number(r.id), firstAt: Number(r.first_at) });
    recent.set(r.key, list);
  }
  // Up to two intrusions per machine seen within the novelty window: enough to tell whether one is not the hit's own.
  const seen = new Map<string, { id: number; reported: boolean }[]>();
  for (const r of side?.seen ?? []) seen.set(r.key, [...(seen.get(r.key) ?? []), { id: Number(r.id), reported: r.reported === true }]);
  const paged = Number(side?.paged ?? 0);
  const threads = new Set<string>(['group:overflow', ...keys.groups.map((g) => `group:${g}`)]);
  for (const s of incidents.values()) {
    threads.add(`incident:${s.id}`);
    if (s.alertGroup) threads.add(s.alertGroup);
  }
  const tails = new Map<string, AlertTail>();
  const tailRows = await run(tx, q`
    select id, thread, channel, target, kind, status, claimed_by, ${MS('next_attempt_at')}, ${MS('sent_at')}, payload from alerts
    where id in (select distinct on (thread, channel, target) id from alerts where thread = any(${texts([...threads])}) order by thread, channel, target, id desc)
    for update`);
  for (const r of tailRows) {
    tails.set(`${String(r.thread)}\u0000${String(r.channel)}\u0000${String(r.target)}`, {
      id: Number(r.id),
      kind: String(r.kind),
      status: r.status as AlertStatus,
      claimedBy: (r.claimed_by as string | null) ?? null,
      nextAttemptAt: Number(r.next_attempt_at),
      sentAt: r.sent_at === null ? null : Number(r.sent_at),
      payload: r.payload as AlertPayload,
    });
  }
  const fresh = (side?.fresh ?? []).map(Number);

  return {
    linked(wanted, since) {
      const set = new Set(wanted);
      const found = new Set<number>();
      for (const r of linkRows) if (set.has(r.key) && r.lastAt >= since) found.add(r.id);
      return [...found].flatMap((id) => incidents.get(id) ?? []);
    },
    incident: (id) => incidents.get(id),
    entity: (id, key) => entities.get(`${id}\u0000${key}`),
    recentWith: (key, since, limit) => (recent.get(key) ?? []).filter((r) => r.firstAt >= since).slice(0, limit).map((r) => r.id),
    seenSince: (key, _since, except, reportedOnly) => (seen.get(key) ?? []).some((r) => r.id !== except && (r.reported || !reportedOnly)),
    pagedSince: () => paged,
    tail: (thread, channel, target) => tails.get(`${thread}\u0000${channel}\u0000${target}`),
    newIncidentId() {
      const id = fresh.shift();
      if (id === undefined) throw new ReservationExhausted();
      return id;
    },
  };
}

/**
 * Apply a batch's writes, in the order the logic expects (see IntrusionWrites). A batch without
 * merges (nearly all) sends them as one statement, each write a data-modifying `WITH` part: they
 * touch different rows (new intrusions, existing ones, entities, hits, new and existing alerts),
 * none reads what another writes, and foreign keys are checked at the end of the statement, so
 * one round trip does what took up to six (each a round trip of the node and a wake-up of the
 * server, in the one correlation turn every caller of the node waits for). A merge moves hits and
 * entities that later writes count, so a batch with merges writes step by step.
 */
export async function apply(tx: PgTx, w: IntrusionWrites): Promise<void> {
  const now = new Date();
  const rows = (list: readonly IntrusionState[]) => ({
    id: ints(list.map((s) => s.id)),
    firstAt: floats(list.map((s) => s.firstAt)),
    lastAt: floats(list.map((s) => s.lastAt)),
    hitCount: bigints(list.map((s) => s.hitCount)),
    tokenCount: ints(list.map((s) => s.tokenCount)),
    locationCount: ints(list.map((s) => s.locationCount)),
    hostCount: ints(list.map((s) => s.hostCount)),
    machineCount: ints(list.map((s) => s.machineCount)),
    severity: texts(list.map((s) => s.severity)),
    lateral: bools(list.map((s) => s.lateral)),
    techniques: jsons(list.map((s) => JSON.stringify(s.techniques))),
    reasons: jsons(list.map((s) => JSON.stringify(s.reasons))),
    summary: texts(list.map((s) => s.summary)),
    mergedInto: ints(list.map((s) => s.mergedInto ?? 0)),
    alertGroup: texts(list.map((s) => s.alertGroup)),
  });
  const created = () => {
    const r = rows(w.created);
    return q`
      insert into incidents (id, actor_key, actor_label, first_at, last_at, hit_count, token_count, location_count, host_count, machine_count, severity, status, "lateral",
                             techniques, reasons, summary, merged_into, alert_group, updated_at)
      select x.id, x.ak, x.al, ${ts('x.fa')}, ${ts('x.la')}, x.hc, x.tc, x.lc, x.hoc, x.mc, x.sev, x.st, x.lat, x.tech, x.rea, x.sum, nullif(x.mi, 0), x.ag, ${now}
      from unnest(${r.id}, ${texts(w.created.map((s) => s.actorKey))}, ${texts(w.created.map((s) => s.actorLabel))}, ${r.firstAt}, ${r.lastAt}, ${r.hitCount}, ${r.tokenCount},
                  ${r.locationCount}, ${r.hostCount}, ${r.machineCount}, ${r.severity}, ${texts(w.created.map((s) => s.status))}, ${r.lateral}, ${r.techniques}, ${r.reasons},
                  ${r.summary}, ${r.mergedInto}, ${r.alertGroup})
        as x(id, ak, al, fa, la, hc, tc, lc, hoc, mc, sev, st, lat, tech, rea, sum, mi, ag)`;
  };
  const saved = () => {
    const r = rows(w.saved);
    return q`
      update incidents i set first_at = ${ts('x.fa')}, last_at = ${ts('x.la')}, hit_count = x.hc, token_count = x.tc, location_count = x.lc, host_count = x.hoc, machine_count = x.mc,
        severity = x.sev, "lateral" = x.lat, techniques = x.tech, reasons = x.rea, summary = x.sum, merged_into = nullif(x.mi, 0), alert_group = x.ag, updated_at = ${now}
      from unnest(${r.id}, ${r.firstAt}, ${r.lastAt}, ${r.hitCount}, ${r.tokenCount}, ${r.locationCount}, ${r.hostCount}, ${r.machineCount}, ${r.severity}, ${r.lateral},
                  ${r.techniques}, ${r.reasons}, ${r.summary}, ${r.mergedInto}, ${r.alertGroup})
        as x(id, fa, la, hc, tc, lc, hoc, mc, sev, lat, tech, rea, sum, mi, ag)
      where i.id = x.id`;
  };
  const entities = () => {
    const e = w.entities;
    return q`
      insert into incident_entities (incident_id, key, kind, label, claimed, first_at, last_at, first_hit_id, hits, data)
      select x.i, x.k, x.kd, x.l, x.c, ${ts('x.fa')}, ${ts('x.la')}, x.fh, x.n, x.d
      from unnest(${ints(e.map((x) => x.incidentId))}, ${texts(e.map((x) => x.entity.key))}, ${texts(e.map((x) => x.entity.kind))}, ${texts(e.map((x) => x.entity.label))},
                  ${bools(e.map((x) => x.entity.claimed))}, ${floats(e.map((x) => x.entity.firstAt))}, ${floats(e.map((x) => x.entity.lastAt))},
                  ${q`${e.map((x) => x.entity.firstHitId)}::bigint[]`}, ${bigints(e.map((x) => x.added))},
                  ${jsons(e.map((x) => (x.entity.data ? JSON.stringify(x.entity.data) : null)))})
        as x(i, k, kd, l, c, fa, la, fh, n, d)
      on conflict (incident_id, key) do update set label = excluded.label, claimed = incident_entities.claimed and excluded.claimed, data = excluded.data,
        first_at = least(incident_entities.first_at, excluded.first_at), last_at = greatest(incident_entities.last_at, excluded.last_at),
        hits = incident_entities.hits + excluded.hits, first_hit_id = coalesce(incident_entities.first_hit_id, excluded.first_hit_id)`;
  };
  const assigned = () => q`
      update hits set incident_id = x.inc from unnest(${bigints(w.assigned.map((a) => a.hitId))}, ${ints(w.assigned.map((a) => a.incidentId))}) as x(id, inc)
      where hits.id = x.id`;
  const a = w.alerts;
  const inserts = () => q`
      insert into alerts (incident_id, thread, channel, target, kind, status, attempts, next_attempt_at, idempotency_key, payload)
      select x.i, x.th, x.ch, x.t, x.k, 'pending', 0, ${ts('x.due')}, x.key, x.p
      from unnest(${ints(a.inserts.map((r) => r.incidentId))}, ${texts(a.inserts.map((r) => r.thread))}, ${texts(a.inserts.map((r) => r.channel))}, ${texts(a.inserts.map((r) => r.target))},
                  ${texts(a.inserts.map((r) => r.kind))}, ${floats(a.inserts.map((r) => r.due))}, ${texts(a.inserts.map((r) => r.key))}, ${jsons(a.inserts.map((r) => JSON.stringify(r.payload)))})
        as x(i, th, ch, t, k, due, key, p)
      on conflict (idempotency_key) do nothing`;
  const folds = () => q`
      update alerts set payload = x.p, next_attempt_at = ${ts('x.due')}
      from unnest(${ints(a.folds.map((f) => f.id))}, ${jsons(a.folds.map((f) => JSON.stringify(f.payload)))}, ${floats(a.folds.map((f) => f.due))}) as x(id, p, due)
      where alerts.id = x.id and alerts.claimed_by is null and alerts.status in ('pending', 'failed')`;

  if (w.merges.length === 0 && w.recount.length === 0) {
    const parts = [
      w.created.length ? created() : null,
      w.saved.length ? saved() : null,
      w.entities.length ? entities() : null,
      w.assigned.length ? assigned() : null,
      a.inserts.length ? inserts() : null,
      a.folds.length ? folds() : null,
    ].filter((part) => part !== null);
    if (parts.length) await run(tx, together(parts));
    return;
  }

  if (w.created.length) await run(tx, created());
  for (const m of w.merges) {
    await run(tx, q`update hits set incident_id = ${m.parent} where incident_id = ${m.child}`);
    await run(tx, q`
      insert into incident_entities (incident_id, key, kind, label, claimed, first_at, last_at, first_hit_id, hits, data)
      select ${m.parent}, key, kind, label, claimed, first_at, last_at, first_hit_id, hits, data from incident_entities where incident_id = ${m.child}
      on conflict (incident_id, key) do update set first_at = least(incident_entities.first_at, excluded.first_at), last_at = greatest(incident_entities.last_at, excluded.last_at),
        hits = incident_entities.hits + excluded.hits, claimed = incident_entities.claimed and excluded.claimed,
        first_hit_id = least(incident_entities.first_hit_id, excluded.first_hit_id)`);
    await run(tx, q`delete from incident_entities where incident_id = ${m.child}`);
    await run(tx, q`
      update alerts set incident_id = ${m.parent}, thread = ${`incident:${m.parent}`}
      where incident_id = ${m.child} and thread = ${`incident:${m.child}`} and status in ('pending', 'failed') and claimed_by is null`);
  }
  if (w.saved.length) await run(tx, saved());
  if (w.entities.length) await run(tx, entities());
  if (w.recount.length) {
    await run(tx, q`
      update incidents i set
        token_count = (select count(*) from incident_entities where incident_id = i.id and kind = 'decoy'),
        location_count = (select count(*) from incident_entities where incident_id = i.id and kind = 'place'),
        host_count = (select count(*) from incident_entities where incident_id = i.id and kind = 'planted'),
        machine_count = (select count(*) from incident_entities where incident_id = i.id and kind in ('host', 'ip'))
      where i.id = any(${ints(w.recount)})`);
  }
  if (w.assigned.length) await run(tx, assigned());
  if (a.inserts.length) await run(tx, inserts());
  if (a.folds.length) await run(tx, folds());
}
