import { sql, type SQL } from 'drizzle-orm';
import { actorOf } from '../alerts/actor.ts';
import { createEnqueuer, type LatestAlert, type NewOutboxRow, type OutboxQueries } from '../alerts/outbox.ts';
import type { Config } from '../config.ts';
import type { PgDb } from '../db/pg.ts';
import type { AlertPayload } from '../db/queries/alerts.ts';
import { allAssets, matchHost, matchIp } from '../db/queries/assets.ts';
import { uncorrelatedHits, type TrailState } from '../db/queries/incidents.ts';
import { alerts, incidents } from '../db/schema-pg.ts';
import type { AssetRow, Classification, Severity } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import type { Token } from '../tokens/kind.ts';
import { CATCH_UP_BATCH, createTrailCore, type AssetView, type Recorded, type TrailQueries } from './trail.ts';

/**
 * The trail on PostgreSQL, for any number of processes sharing one database. Correlation is
 * serialised across them by a transaction-scoped advisory lock: a batch is short (one
 * incident read and write per actor), so taking turns is cheap and, unlike SERIALIZABLE with
 * retries, never aborts. Inside its turn a batch runs the same trail logic as SQLite
 * (createTrailCore) over a snapshot: everything the logic may ask is fetched in a handful of
 * queries first (open incidents of the batch's actors, the "seen" probes for exactly the
 * pairs the batch can ask about, the newest outbox row per incident and target, locked so a
 * worker cannot claim it meanwhile), the logic runs synchronously on the snapshot, and its
 * writes are applied in a few set-based statements before the commit.
 */

/** Names the correlation lock (any fixed int8; one per database). */
const CORRELATE_LOCK = 7_368_797_457;
/** How long the asset map is reused before it is read again. */
const ASSETS_TTL_MS = 2000;

type Tx = Parameters<Parameters<PgDb['transaction']>[0]>[0];

export interface PgCorrelator {
  /** Put stored hits on their trails and queue their alerts; hits another process already correlated are skipped. Resolves with how many this call placed. */
  correlate(batch: readonly Recorded[]): Promise<number>;
  /** Correlate one bounded batch of the oldest stored hits without a trail; returns how many this call placed (0: none left, or another process took them). */
  catchUpSome(): Promise<number>;
}

/** More incidents were opened than ids were reserved; the batch is retried with enough. */
class ReservationExhausted extends Error {}

export function createPgCorrelator(opts: {
  db: PgDb;
  config: Pick<Config, 'TRAIL_WINDOW' | 'ALERT_ON_CLASSIFICATIONS' | 'ALERT_TO' | 'WEBHOOK_URLS' | 'ALERT_DIGEST_SECONDS'>;
  log: Logger;
  /** Called after a commit that queued alerts (wakes an in-process worker). */
  onQueued?: () => void;
}): PgCorrelator {
  const { db, config, log } = opts;
  const core = createTrailCore(config);
  const counted = config.ALERT_ON_CLASSIFICATIONS as readonly Classification[];
  const window = config.TRAIL_WINDOW;
  let assetRows: AssetRow[] = [];
  let assetsAt = 0;
  const assets: AssetView = { ip: (ip) => matchIp(assetRows, ip) ?? null, host: (h) => matchHost(assetRows, h) ?? null };

  /** The asset map is a cache (read outside the batch's transaction, reused for ASSETS_TTL_MS). */
  async function refreshAssets(): Promise<void> {
    if (Date.now() - assetsAt < ASSETS_TTL_MS) return;
    assetRows = await allAssets(db);
    assetsAt = Date.now();
  }

  async function attempt(batch: readonly Recorded[], reserve: (n: number) => number): Promise<{ queued: boolean; placed: number }> {
    await refreshAssets();
    let queued = false;
    let placed = 0;
    await db.transaction(async (tx) => {
      // The hits are durable already (their own commit), so this commit need not wait for its
      // WAL flush. A crash of the database server can lose only the last few hundred
      // milliseconds of correlations; their hits are left without an incident and the catch-up
      // at start correlates them again. Any later synchronous commit (a worker marking an alert
      // sent) flushes this one too; an alert whose delivery a crash interrupts may go out again,
      // as with any crash mid-delivery.
      await tx.execute(sql`set local synchronous_commit = off`);
      await tx.execute(sql`select pg_advisory_xact_lock(${CORRELATE_LOCK})`);
      // Another process may have put some of these hits on a trail already (a catch-up).
      const ids = batch.map((r) => r.hit.id);
      const stored = await tx.execute<{ id: string; incident_id: number | null }>(sql`select id, incident_id from hits where id = any(${bigints(ids)})`);
      const known = new Map(stored.rows.map((r) => [Number(r.id), r.incident_id]));
      for (const r of batch) r.hit.incidentId = known.get(r.hit.id) ?? null;
      const todo = batch.filter((r) => r.hit.incidentId === null && known.has(r.hit.id));
      if (todo.length === 0) return;
      placed = todo.length;

      const snap = await snapshot(tx, todo);
      const ids2 = await tx.execute<{ id: number }>(sql`select nextval(pg_get_serial_sequence('incidents', 'id'))::int as id from generate_series(1, ${reserve(snap.actorsWithoutIncident)})`);
      const fresh = ids2.rows.map((r) => Number(r.id));
      const writes = { created: [] as TrailState[], saved: new Map<number, TrailState>(), assigned: [] as [number, number][], labels: new Map<number, string>(), keys: new Map<number, string>() };
      const q: TrailQueries = {
        findOpen: (actorKey, since) => {
          const inc = snap.open.get(actorKey);
          return inc && inc.lastAt >= since ? inc : undefined;
        },
        create: (actorKey, label, at) => {
          const id = fresh.shift();
          if (id === undefined) throw new ReservationExhausted();
          const inc: TrailState = { id, firstAt: at, lastAt: at, hitCount: 0, tokenCount: 0, locationCount: 0, hostCount: 0, severity: 'low', lateral: false, techniques: [], summary: null };
          writes.created.push(inc);
          writes.keys.set(id, actorKey);
          writes.labels.set(id, label);
          snap.open.set(actorKey, inc);
          return inc;
        },
        save: (s) => void writes.saved.set(s.id, s),
        tokenSeen: (i, t) => snap.tokens.has(`${i}\u0000${t}`),
        locationSeen: (i, l) => snap.locations.has(`${i}\u0000${l}`),
        hostSeen: (i, h) => snap.hosts.has(`${i}\u0000${h.toLowerCase()}`),
        credentialSeen: (i) => snap.credentials.has(i),
        assign: (i, hitIds) => hitIds.forEach((h) => writes.assigned.push([h, i])),
      };
      const outbox = outboxSnapshot(snap.latest);
      const enqueue = createEnqueuer(outbox.q, config, log, () => (queued = true));
      core.run(todo, q, assets, (o) => void enqueue(o));

      const now = new Date();
      if (writes.created.length) {
        await tx.insert(incidents).values(
          writes.created.map((s) => ({ id: s.id, actorKey: writes.keys.get(s.id) ?? '', actorLabel: writes.labels.get(s.id) ?? null, firstAt: new Date(s.firstAt), lastAt: new Date(s.lastAt), updatedAt: now })),
        );
      }
      for (const s of writes.saved.values()) {
        await tx
          .update(incidents)
          .set({
            firstAt: new Date(s.firstAt),
            lastAt: new Date(s.lastAt),
            hitCount: s.hitCount,
            tokenCount: s.tokenCount,
            locationCount: s.locationCount,
            hostCount: s.hostCount,
            severity: s.severity,
            lateral: s.lateral,
            techniques: s.techniques,
            summary: s.summary,
            updatedAt: now,
          })
          .where(sql`${incidents.id} = ${s.id}`);
      }
      if (writes.assigned.length) {
        await tx.execute(sql`update hits set incident_id = x.inc from unnest(${bigints(writes.assigned.map((a) => a[0]))}, ${ints(writes.assigned.map((a) => a[1]))}) as x(id, inc) where hits.id = x.id`);
      }
      for (const row of outbox.inserts) {
        await tx
          .insert(alerts)
          .values({ incidentId: row.incidentId, channel: row.channel, target: row.target, kind: row.kind, status: 'pending', attempts: 0, nextAttemptAt: new Date(row.due), idempotencyKey: row.key, payload: row.payload })
          .onConflictDoNothing({ target: alerts.idempotencyKey });
      }
      for (const a of outbox.appended.values()) {
        await tx.update(alerts).set({ payload: a.payload, nextAttemptAt: new Date(a.nextAttemptAt) }).where(sql`${alerts.id} = ${a.id}`);
      }
    });
    return { queued, placed };
  }

  /** Everything the trail logic and the enqueuer may ask about this batch, in a few queries. */
  async function snapshot(tx: Tx, todo: readonly Recorded[]) {
    const actorKeys = new Map<number, string>();
    for (const r of todo) actorKeys.set(r.hit.id, actorOf(r.hit, assets).key);
    const keys = [...new Set(actorKeys.values())];
    const since = Math.min(...todo.map((r) => r.hit.at.getTime())) - window;
    const openRows = await tx.execute<Record<string, unknown>>(sql`
      select distinct on (actor_key) id, actor_key, ${MS('first_at')}, ${MS('last_at')}, hit_count, token_count, location_count, host_count, severity, "lateral", techniques, summary
      from incidents where actor_key = any(${texts(keys)}) and status <> 'closed' and last_at >= ${new Date(since)}
      order by actor_key, last_at desc`);
    const open = new Map<string, TrailState>(openRows.rows.map((r) => [String(r.actor_key), trailState(r)]));
    // The (incident, token / location / host) pairs this batch can ask about: its actors' open incidents with its tokens.
    const pairs = todo.flatMap((r) => {
      const inc = open.get(actorKeys.get(r.hit.id) ?? '');
      return inc ? [{ inc: inc.id, token: r.token }] : [];
    });
    const classes = texts(counted);
    const seenPairs = async (column: SQL, values: (t: Token) => string | null): Promise<Set<string>> => {
      const list = pairs.flatMap((p) => {
        const v = values(p.token);
        return v === null ? [] : [[p.inc, v] as const];
      });
      if (list.length === 0) return new Set();
      const res = await tx.execute<{ i: number; v: string }>(sql`
        select p.i, p.v from (select distinct * from unnest(${ints(list.map((l) => l[0]))}, ${texts(list.map((l) => l[1]))}) as u(i, v)) p
        where exists (select 1 from hits h join tokens t on t.id = h.token_id where h.incident_id = p.i and ${column} = p.v and h.classification = any(${classes}))`);
      return new Set(res.rows.map((r) => `${r.i}\u0000${r.v}`));
    };
    const incIds = [...new Set(pairs.map((p) => p.inc))];
    const credentials = incIds.length
      ? new Set(
          (
            await tx.execute<{ i: number }>(sql`
              select i from unnest(${ints(incIds)}) as u(i)
              where exists (select 1 from hits where incident_id = u.i and credential is not null and classification = any(${classes}))`)
          ).rows.map((r) => Number(r.i)),
        )
      : new Set<number>();
    // The newest outbox row per (incident, channel, target), locked: a worker's claim (SKIP LOCKED) passes it by until we commit.
    const latestRows = incIds.length
      ? (
          await tx.execute<Record<string, unknown>>(sql`
            select id, incident_id, channel, target, kind, status, claimed_by, payload, ${MS('next_attempt_at')} from alerts
            where id in (select distinct on (incident_id, channel, target) id from alerts where incident_id = any(${ints(incIds)}) order by incident_id, channel, target, id desc)
            for update`)
        ).rows
      : [];
    return {
      open,
      actorsWithoutIncident: keys.filter((k) => !open.has(k)).length,
      tokens: await seenPairs(sql`t.id`, (t) => t.id),
      locations: await seenPairs(sql`t.location`, (t) => t.location),
      hosts: await seenPairs(sql`lower(t.planted_host)`, (t) => t.plantedHost?.toLowerCase() ?? null),
      credentials,
      latest: latestRows.map(latestAlert),
    };
  }

  async function correlate(batch: readonly Recorded[]): Promise<number> {
    if (batch.length === 0) return 0;
    const before = batch.map((r) => r.hit.incidentId);
    // Reserve an id per actor without an open incident; should the window split an actor's hits in two, retry with one per hit.
    for (const generous of [false, true]) {
      try {
        const { queued, placed } = await attempt(batch, (n) => (generous ? batch.length : n + 2));
        if (queued) opts.onQueued?.();
        return placed;
      } catch (err) {
        batch.forEach((r, i) => (r.hit.incidentId = before[i] ?? null));
        core.forget();
        if (!(err instanceof ReservationExhausted) || generous) throw err;
      }
    }
    return 0;
  }

  return {
    correlate,
    async catchUpSome() {
      return correlate(await uncorrelatedHits(db, CATCH_UP_BATCH));
    },
  };
}

/** The enqueuer's view of the outbox for one batch: the locked newest rows, with inserts and folds collected for the commit. */
function outboxSnapshot(latest: (LatestAlert & { incidentId: number; channel: string; target: string; payload: AlertPayload })[]) {
  const byKey = new Map(latest.map((l) => [`${l.incidentId}\u0000${l.channel}\u0000${l.target}`, l]));
  const inserts: NewOutboxRow[] = [];
  const appended = new Map<number, { id: number; payload: AlertPayload; nextAttemptAt: number }>();
  const q: OutboxQueries = {
    latest: (incidentId, channel, target) => byKey.get(`${incidentId}\u0000${channel}\u0000${target}`),
    insert(row) {
      inserts.push(row);
      // A row inserted in this batch is the newest for its key from now on (nobody can claim it before the commit).
      byKey.set(`${row.incidentId}\u0000${row.channel}\u0000${row.target}`, {
        id: -inserts.length,
        incidentId: row.incidentId,
        channel: row.channel,
        target: row.target,
        kind: row.kind,
        status: 'pending',
        claimedBy: null,
        scheduledAt: row.payload.scheduledAt,
        nextAttemptAt: row.due,
        payload: row.payload,
      });
      return true;
    },
    append(id, hitId, escalated, dueBy) {
      const row = [...byKey.values()].find((l) => l.id === id);
      if (!row || row.claimedBy !== null || (row.status !== 'pending' && row.status !== 'failed')) return false;
      row.payload = { ...row.payload, lastHitId: hitId, hitCount: row.payload.hitCount + 1, escalated: escalated || row.payload.escalated === true };
      row.nextAttemptAt = Math.min(row.nextAttemptAt, dueBy);
      if (id < 0) {
        // Folded into a row this batch inserts: change what will be inserted.
        const pending = inserts[-id - 1];
        if (pending) inserts[-id - 1] = { ...pending, payload: row.payload, due: row.nextAttemptAt };
      } else appended.set(id, { id, payload: row.payload, nextAttemptAt: row.nextAttemptAt });
      return true;
    },
  };
  return { q, inserts, appended };
}

function trailState(r: Record<string, unknown>): TrailState {
  return {
    id: Number(r.id),
    firstAt: Number(r.first_at),
    lastAt: Number(r.last_at),
    hitCount: Number(r.hit_count),
    tokenCount: Number(r.token_count),
    locationCount: Number(r.location_count),
    hostCount: Number(r.host_count),
    severity: r.severity as Severity,
    lateral: r.lateral === true,
    techniques: (r.techniques as string[] | null) ?? [],
    summary: (r.summary as string | null) ?? null,
  };
}

function latestAlert(r: Record<string, unknown>) {
  const payload = r.payload as AlertPayload;
  return {
    id: Number(r.id),
    incidentId: Number(r.incident_id),
    channel: String(r.channel),
    target: String(r.target),
    kind: String(r.kind),
    status: String(r.status),
    claimedBy: (r.claimed_by as string | null) ?? null,
    scheduledAt: typeof payload.scheduledAt === 'number' ? payload.scheduledAt : null,
    nextAttemptAt: Number(r.next_attempt_at),
    payload,
  };
}

/** A time column as epoch milliseconds under its own name (raw results carry times as driver strings). */
const MS = (column: string) => sql.raw(`(extract(epoch from ${column}) * 1000)::float8 as ${column}`);

/** Typed array parameters for unnest()/any(), each bound as one parameter (a bare array would become a list). */
const ints = (xs: readonly number[]) => sql`${sql.param(xs)}::int[]`;
const bigints = (xs: readonly number[]) => sql`${sql.param(xs)}::bigint[]`;
const texts = (xs: readonly string[]) => sql`${sql.param(xs)}::text[]`;
