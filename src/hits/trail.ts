import { actorOf, assetLookup, sameHost, type Actor, type AssetLookup } from '../alerts/actor.ts';
import { CREDENTIAL_USE_TECHNIQUES } from '../alerts/attack.ts';
import type { Config } from '../config.ts';
import type { Db } from '../db/client.ts';
import { trailStatements, uncorrelatedHits, type TrailState } from '../db/queries/incidents.ts';
import type { Classification, HitRow, Severity } from '../db/schema.ts';
import { SEVERITIES } from '../db/schema.ts';
import type { Token } from '../tokens/kind.ts';
import { findKind } from '../tokens/registry.ts';
import type { Logger } from '../logger.ts';

/** What the correlator tells the outbox about one alerting hit. */
export interface TrailOutcome {
  hit: HitRow;
  token: Token;
  incident: TrailState;
  actor: Actor;
  /** The hit opened the incident. */
  opened: boolean;
  /** Severity rose with this hit (a pending digest should go out now). */
  escalated: boolean;
}

export interface TrailOptions {
  db: Db;
  config: Pick<Config, 'TRAIL_WINDOW' | 'ALERT_ON_CLASSIFICATIONS'>;
  log?: Logger;
  /** Called in the correlation transaction for hits whose classification alerts. */
  onAlertable?: (o: TrailOutcome) => void;
}

/** A stored hit and its token, as the recorder hands them over after the hit's commit. */
export interface Recorded {
  hit: HitRow;
  token: Token;
}

export interface Correlator {
  /**
   * Put stored hits on their actors' trails in one transaction (a savepoint when the
   * recorder calls it inside the hits' own transaction): incident found or opened,
   * counts, lateral movement, severity and techniques updated, `incident_id` set on each
   * hit, outbox rows written. Hits that already have an incident are skipped, so handing
   * the same hit over twice is harmless. Throws when the transaction fails; the hits then
   * stay uncorrelated in the database and `catchUp` takes them later.
   */
  correlate(batch: readonly Recorded[]): void;
  /** Correlate every stored hit that has no incident yet, oldest first, in bounded batches; resolves with how many. */
  catchUp(): Promise<number>;
  /** Correlate one bounded batch (at most CATCH_UP_BATCH) of the oldest uncorrelated hits; resolves with how many (0: none left). */
  catchUpSome(): Promise<number>;
}

/** The columns of a stored hit the trail reads. */
type TrailHit = Pick<HitRow, 'channel' | 'sourceIp' | 'actorUser' | 'actorHost' | 'actorDomain' | 'credential' | 'classification' | 'at' | 'intel'>;

/** Hits per catch-up batch. */
export const CATCH_UP_BATCH = 500;

/**
 * What the trail reads and writes for one batch, synchronously. SQLite answers with prepared
 * statements inside the batch's transaction (`trailStatements`); PostgreSQL with a snapshot
 * prefetched for the batch whose writes are applied afterwards (src/hits/correlate-pg.ts).
 */
export interface TrailQueries {
  findOpen(actorKey: string, since: number): TrailState | undefined;
  create(actorKey: string, label: string, at: number): TrailState;
  save(s: TrailState): void;
  tokenSeen(incidentId: number, tokenId: string): boolean;
  locationSeen(incidentId: number, location: string): boolean;
  hostSeen(incidentId: number, host: string): boolean;
  credentialSeen(incidentId: number): boolean;
  assign(incidentId: number, hitIds: readonly number[]): void;
}

/** The asset map as the trail reads it. */
export type AssetView = Pick<AssetLookup, 'ip' | 'host'>;

/**
 * The trail logic (DESIGN section 5), independent of the database: puts a batch of stored
 * hits on their actors' trails through `q`. Per batch, each actor's open incident (within
 * TRAIL_WINDOW) is read once and written once however many of its hits the batch holds.
 * Only hits of an alerting classification count toward decoys, hosts and severity; the
 * others stay on the trail as context. Call `forget` when a batch's transaction rolled back.
 */
export function createTrailCore(config: TrailOptions['config']) {
  const counted = config.ALERT_ON_CLASSIFICATIONS as readonly Classification[];
  const window = config.TRAIL_WINDOW;
  // (incident, token) pairs known to be on a trail already: hits are append-only, so a "seen" never turns false.
  const seen = new Set<string>();

  /**
   * What one batch has placed so far, per incident: hit ids to assign at the end, and what
   * the "seen" probes would find among them (they are not on the trail in the database yet).
   */
  interface Placed {
    ids: number[];
    tokens: Set<string>;
    locations: Set<string>;
    hosts: Set<string>;
    credential: boolean;
  }

  interface Batch {
    q: TrailQueries;
    assets: AssetView;
    onAlertable?: (o: TrailOutcome) => void;
    /** Open incidents this batch touched, by actor key. */
    open: Map<string, TrailState>;
    placed: Map<TrailState, Placed>;
  }

  /** One hit onto its actor's trail. */
  function place(hit: HitRow, token: Token, b: Batch): void {
    const { q, assets } = b;
    const actor = actorOf(hit, assets);
    const at = hit.at.getTime();
    let opened = false;
    let inc = b.open.get(actor.key);
    if (!inc || inc.lastAt < at - window) inc = q.findOpen(actor.key, at - window);
    if (!inc) {
      inc = q.create(actor.key, actor.label, at);
      opened = true;
    }
    b.open.set(actor.key, inc);
    let here = b.placed.get(inc);
    if (!here) b.placed.set(inc, (here = { ids: [], tokens: new Set(), locations: new Set(), hosts: new Set(), credential: false }));
    const before = inc.severity;
    inc.hitCount += 1;
    inc.lastAt = Math.max(inc.lastAt, at);
    // Hits may reach the trail out of order (several listeners, a catch-up): the incident starts at its earliest hit.
    inc.firstAt = Math.min(inc.firstAt, at);
    const alertable = counted.includes(hit.classification);
    if (alertable) {
      // firstAt in the key: should a failed batch roll an incident back, its id may be reused by another.
      const pair = `${inc.id}:${inc.firstAt}:${token.id}`;
      if (!seen.has(pair) && !here.tokens.has(token.id) && !q.tokenSeen(inc.id, token.id)) {
        inc.tokenCount += 1;
        if (token.location && !here.locations.has(token.location) && !q.locationSeen(inc.id, token.location)) inc.locationCount += 1;
        const host = token.plantedHost?.toLowerCase();
        if (host && token.plantedHost && !here.hosts.has(host) && !q.hostSeen(inc.id, token.plantedHost)) inc.hostCount += 1;
      }
      if (seen.size > 100_000) seen.clear();
      seen.add(pair);
      here.tokens.add(token.id);
      if (token.location) here.locations.add(token.location);
      if (token.plantedHost) here.hosts.add(token.plantedHost.toLowerCase());
      const reasons = lateralReasons(inc, hit, token, actor, assets);
      if (reasons.length) inc.lateral = true;
      // A source on an imported threat-intel list is noted on the incident (not lateral by itself).
      const notes = hit.intel?.length ? [...reasons, `source matches threat intel: ${hit.intel.join(', ')}`] : reasons;
      if (notes.length) {
        const known = new Set((inc.summary ?? '').split('; ').filter(Boolean));
        for (const r of notes) known.add(r);
        inc.summary = [...known].join('; ').slice(0, 2000);
      }
      const techniques = techniquesOf(inc, token, hit.credential !== null);
      if (techniques) inc.techniques = techniques;
      const state = inc;
      const p = here;
      inc.severity = maxSeverity(inc.severity, severityOf(inc, hit, () => p.credential || q.credentialSeen(state.id)));
      if (hit.credential !== null) here.credential = true;
    }
    here.ids.push(hit.id);
    hit.incidentId = inc.id;
    if (alertable) b.onAlertable?.({ hit, token, incident: inc, actor, opened, escalated: !opened && inc.severity !== before });
  }

  return {
    /** Place every hit of `batch` that has no incident yet (a flood-folded repeat comes back as its earlier, placed row). */
    run(batch: readonly Recorded[], q: TrailQueries, assets: AssetView, onAlertable?: (o: TrailOutcome) => void): void {
      const b: Batch = { q, assets, onAlertable, open: new Map(), placed: new Map() };
      const done = new Set<number>();
      for (const { hit, token } of batch) {
        if (hit.incidentId !== null || done.has(hit.id)) continue;
        done.add(hit.id);
        place(hit, token, b);
      }
      for (const [inc, p] of b.placed) {
        q.save(inc);
        q.assign(inc.id, p.ids);
      }
    },
    forget(): void {
      seen.clear();
    },
  };
}

/**
 * The trail on SQLite, run right after the hits' own insert ("record first, correlate right
 * after"): a hit is durable before anything else happens to it, and a failure here can
 * delay an alert but never lose a hit.
 */
export function createTrail(opts: TrailOptions): Correlator {
  const { db } = opts;
  const counted = opts.config.ALERT_ON_CLASSIFICATIONS as readonly Classification[];
  const q = trailStatements(db, counted);
  const assets = assetLookup(db);
  const core = createTrailCore(opts.config);
  const correlateTx = db.$client.transaction((batch: readonly Recorded[]) => core.run(batch, q, assets, opts.onAlertable));

  return {
    correlate(batch) {
      if (batch.length === 0) return;
      const before = batch.map((r) => r.hit.incidentId);
      try {
        correlateTx(batch);
      } catch (err) {
        // The transaction rolled back: undo what this attempt wrote into the in-memory rows.
        batch.forEach((r, i) => (r.hit.incidentId = before[i] ?? null));
        core.forget();
        throw err;
      }
    },
    async catchUpSome() {
      const batch = await uncorrelatedHits(db, CATCH_UP_BATCH);
      this.correlate(batch);
      return batch.length;
    },
    async catchUp() {
      let total = 0;
      for (let n = await this.catchUpSome(); n > 0; n = await this.catchUpSome()) total += n;
      return total;
    },
  };
}

/** The incident's techniques with this hit's added, or null when nothing changes (the common case). */
function techniquesOf(inc: TrailState, token: Token, credential: boolean): string[] | null {
  const add = [...(findKind(token.kind)?.techniques ?? []), ...(credential ? CREDENTIAL_USE_TECHNIQUES : []), ...(inc.lateral ? ['T1021'] : [])];
  if (add.every((t) => inc.techniques.includes(t))) return null;
  return [...new Set([...inc.techniques, ...add])].sort();
}

/** Why this hit suggests lateral movement (empty when it does not). */
function lateralReasons(inc: TrailState, hit: TrailHit, token: Token, actor: Actor, assets: AssetView): string[] {
  const out: string[] = [];
  if (inc.hostCount >= 2) out.push(`decoys on ${inc.hostCount} different hosts touched`);
  else if (inc.locationCount >= 2) out.push(`decoys in ${inc.locationCount} different locations touched`);
  if (hit.credential && token.plantedHost && !sameHost(actor.host, token.plantedHost)) {
    out.push(`credential planted on ${token.plantedHost} used from ${actor.host ?? actor.label}`);
  }
  const decoySegment = assets.host(token.plantedHost)?.segment ?? null;
  if (!actor.relay && actor.segment && decoySegment && actor.segment !== decoySegment) {
    out.push(`source in segment ${actor.segment}, decoy planted in ${decoySegment}`);
  }
  return out;
}

/**
 * DESIGN severity: low (nothing human-looking yet), medium (one human touch), high (credential
 * use or cross-host), critical (three or more hosts, or credential use plus other touches).
 * A source matching imported threat intel is at least high (critical with lateral movement or
 * credential use).
 */
function severityOf(inc: TrailState, hit: TrailHit, credentialSeen: () => boolean): Severity {
  if (inc.tokenCount === 0) return 'low';
  if (inc.hostCount >= 3) return 'critical';
  // A known-bad source (imported threat intel) raises severity one step, at least to high.
  if (hit.intel?.length) return inc.lateral || hit.credential !== null ? 'critical' : 'high';
  const credential = hit.credential !== null || (inc.tokenCount >= 2 && inc.severity !== 'critical' && credentialSeen());
  if (credential && inc.tokenCount >= 2) return 'critical';
  if (credential || inc.lateral) return 'high';
  return 'medium';
}

function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITIES.indexOf(a) >= SEVERITIES.indexOf(b) ? a : b;
}
