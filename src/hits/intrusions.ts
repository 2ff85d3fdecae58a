import ipaddr from 'ipaddr.js';
import type { Config } from '../config.ts';
import type { Classification, EntityKind, HitRow, IncidentReason, IncidentStatus, Severity } from '../db/schema.ts';
import { SEVERITIES } from '../db/schema.ts';
import { normalizeIp } from '../net.ts';
import type { HitMeaning, Token } from '../tokens/kind.ts';
import { actorOf, type Actor, type AssetLookup } from './actor.ts';
import { HOP_TECHNIQUES } from './attack.ts';
import { entitiesOf, LINK_KINDS, type EntityDraft } from './entities.ts';
import { ipOwnerNow, ownerText } from './ip-owner.ts';
import { explainHit } from './meaning.ts';
import { drillActor, drillEntities, drillRunOf } from '../drills/tag.ts';
import { createPager, type AlertTail, type PagerWrites } from './paging.ts';
import { parseSegmentHours, parseWorkingHours, type WorkingHours } from './working-hours.ts';

/**
 * Intrusions (DESIGN section 5): the correlation of stored hits, written once for both
 * databases. A batch of hits is placed through `IntrusionReads` (what the database held when
 * the batch began; SQLite answers with prepared statements, PostgreSQL from a snapshot it
 * fetched for the batch) and comes back as `IntrusionWrites`, which the database's adapter
 * applies in the same transaction (src/db/intrusions-sqlite.ts, src/db/intrusions-pg.ts).
 *
 * An intrusion is the connected set of hits whose entities link within TRAIL_WINDOW: the same
 * machine, the same user identity, or a planted secret or local file from host A used on
 * machine B (which names A even when A never fired). A hit that links two intrusions merges
 * them into the older. Lateral movement is a hop: the intrusion seen on a second machine, or
 * something planted on one host's own storage used from another. Severity rises with the
 * evidence (touch < credential found < credential used < hop), then with context (threat
 * intel, a public source, off-hours, a first-seen machine, a sensitive asset); each step is a
 * reason naming its evidence.
 */

/** One entity of an intrusion, as the logic holds it. */
export interface EntityState {
  key: string;
  kind: EntityKind;
  label: string;
  claimed: boolean;
  firstAt: number;
  lastAt: number;
  firstHitId: number | null;
  hits: number;
  data: Record<string, unknown> | null;
}

/** An intrusion (an incident row) as the logic reads and writes it. */
export interface IntrusionState {
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
  lateral: boolean;
  techniques: string[];
  reasons: IncidentReason[];
  summary: string | null;
  status: IncidentStatus;
  mergedInto: number | null;
  alertGroup: string | null;
  /** Every link entity (machines, users, via, hops) and whatever other entities the batch looked up. */
  entities: Map<string, EntityState>;
}

/** What the logic may ask the database, synchronously, about the state before this batch. */
export interface IntrusionReads {
  /** Open, unmerged intrusions holding an entity with one of `keys` last seen at or after `since`, link entities loaded. */
  linked(keys: readonly string[], since: number): IntrusionState[];
  /** One intrusion by id, whatever its status, link entities loaded. */
  incident(id: number): IntrusionState | undefined;
  /** One entity of an intrusion (for kinds not loaded with it: decoy, place, planted, cred, relay). */
  entity(incidentId: number, key: string): EntityState | undefined;
  /** Unmerged intrusions that first named `key` at or after `since` (at most `limit` ids). */
  recentWith(key: string, since: number, limit: number): number[];
  /**
   * Some intrusion other than `exceptIncident` holds `key` (a machine) last seen at or after
   * `since`; with `reportedOnly`, only a sighting that was itself reported by a machine (not
   * observed on the network) counts.
   */
  seenSince(key: string, since: number, exceptIncident: number, reportedOnly: boolean): boolean;
  /** Distinct intrusions paged with a `first` alert at or after `since`. */
  pagedSince(since: number): number;
  /** The newest outbox row of a thread for one target. */
  tail(thread: string, channel: string, target: string): AlertTail | undefined;
  /** An id for a new incident row. */
  newIncidentId(): number;
}

/** What one batch changes, for the adapter to apply in order: merges, incidents, entities, hits, alerts. */
export interface IntrusionWrites {
  merges: { child: number; parent: number }[];
  /** Intrusions to insert (created in this batch) with their final state. */
  created: IntrusionState[];
  /** Intrusions to update with their final state. */
  saved: IntrusionState[];
  /**
   * Entities to upsert: inserted as they are, or added to the stored row (hits added, first and
   * last seen widened, label and data replaced), so that applying them after a merge's own move
   * of entities counts everything once.
   */
  entities: { incidentId: number; entity: EntityState; added: number }[];
  /** Merged parents whose counts are recomputed from their entities once the merges are applied. */
  recount: number[];
  assigned: { hitId: number; incidentId: number }[];
  alerts: PagerWrites;
  /** Some alert became due now: wake the worker after the commit. */
  wake: boolean;
}

/** A stored hit and its token, as the recorder hands them over after the hit's commit. */
export interface Recorded {
  hit: HitRow;
  token: Token;
  /** The hit was folded into this earlier row (flood control) rather than stored as a row. */
  repeat?: boolean;
}

export interface IntrusionConfig
  extends Pick<Config, 'TRAIL_WINDOW' | 'ALERT_ON_CLASSIFICATIONS' | 'ALERT_TO' | 'WEBHOOK_URLS' | 'ALERT_DIGEST_SECONDS' | 'ALERT_GROUP_AFTER' | 'ALERT_GROUP_WINDOW' | 'ALERT_FIRST_PER_MINUTE'>,
    Partial<Pick<Config, 'WORKING_HOURS' | 'WORKING_HOURS_SEGMENTS' | 'NOVELTY_DAYS'>> {}

const EVIDENCE_RANK: Record<string, number> = { touch: 1, 'credential-found': 2, 'credential-used': 3, hop: 4, impact: 4 };
const SEVERITY_OF_RANK: Severity[] = ['low', 'medium', 'high', 'high', 'critical'];
/** Reasons kept per code ("why this severity" stays short; the trail has every hit). */
const REASONS_PER_CODE: Record<string, number> = { impact: 5, touch: 3, 'credential-found': 3, 'credential-used': 10, hop: 20, merge: 10, intel: 5, external: 3, 'off-hours': 3, 'first-seen': 3, sensitive: 3, unusual: 5, stale: 3 };
/** Context that raises severity a step each (at most two): threat intel, then this deployment's own context. */
export const CONTEXT_CODES = ['intel', 'external', 'off-hours', 'first-seen', 'sensitive'] as const;
const DAY = 24 * 3600 * 1000;

/** Entity kinds that are machines (a hop joins two of them). */
const MACHINE_KINDS: readonly EntityKind[] = ['host', 'ip'];

/**
 * Place one batch of stored hits on their intrusions and page what must be paged. Pure but for
 * `reads`: the same inputs give the same writes on either database.
 */
export function correlateBatch(batch: readonly Recorded[], reads: IntrusionReads, assets: AssetLookup, config: IntrusionConfig, now = Date.now()): IntrusionWrites {
  const counted = config.ALERT_ON_CLASSIFICATIONS as readonly Classification[];
  const window = config.TRAIL_WINDOW;
  const known = new Map<number, IntrusionState>();
  const byKey = new Map<string, Set<number>>();
  const created = new Set<number>();
  const touched = new Set<number>();
  // Hits added per entity in this batch, per intrusion (the entity rows' deltas).
  const entityTouched = new Map<number, Map<string, number>>();
  const absent = new Set<string>();
  const merges: IntrusionWrites['merges'] = [];
  const assigned: IntrusionWrites['assigned'] = [];
  const pager = createPager(reads, config, now);
  const done = new Set<number>();
  const hours = workingHoursOf(config);
  const novelty = (config.NOVELTY_DAYS ?? 30) * DAY;

  /** The state this batch holds for an intrusion (loading it once), followed to the intrusion it was merged into. */
  const hold = (s: IntrusionState): IntrusionState => {
    let held: IntrusionState = known.get(s.id) ?? s;
    known.set(held.id, held);
    for (let hops = 0; held.mergedInto !== null && hops < 20; hops++) {
      const parent: IntrusionState | undefined = known.get(held.mergedInto) ?? reads.incident(held.mergedInto);
      if (!parent) break;
      known.set(parent.id, parent);
      held = parent;
    }
    return held;
  };

  function candidates(keys: readonly string[], since: number): IntrusionState[] {
    const out = new Map<number, IntrusionState>();
    for (const s of reads.linked(keys, since)) {
      const h = hold(s);
      if (h.status !== 'closed' && h.mergedInto === null) out.set(h.id, h);
    }
    for (const k of keys) {
      for (const id of byKey.get(k) ?? []) {
        const s = known.get(id);
        if (!s) continue;
        const h = hold(s);
        const e = s.entities.get(k);
        if (h.status !== 'closed' && h.mergedInto === null && e && e.lastAt >= since) out.set(h.id, h);
      }
    }
    return [...out.values()];
  }

  function entity(inc: IntrusionState, key: string): EntityState | undefined {
    const have = inc.entities.get(key);
    if (have || LINK_KINDS.includes(key.slice(0, key.indexOf(':')) as EntityKind) || created.has(inc.id)) return have;
    const tag = `${inc.id}\u0000${key}`;
    if (absent.has(tag)) return undefined;
    const e = reads.entity(inc.id, key);
    if (e) inc.entities.set(key, e);
    else absent.add(tag);
    return e;
  }

  function touch(inc: IntrusionState, d: EntityDraft, hit: HitRow, at: number): boolean {
    const e = entity(inc, d.key);
    if (e) {
      e.lastAt = Math.max(e.lastAt, at);
      e.firstAt = Math.min(e.firstAt, at);
      e.hits += 1;
      // A later hit fills in what was not known (an address); it never changes what an earlier one recorded.
      if (d.data) e.data = { ...Object.fromEntries(Object.entries(d.data).filter(([, v]) => v !== null && v !== undefined)), ...Object.fromEntries(Object.entries(e.data ?? {}).filter(([, v]) => v !== null && v !== undefined)) };
      if (!d.claimed) e.claimed = false;
    } else {
      inc.entities.set(d.key, { key: d.key, kind: d.kind, label: d.label, claimed: d.claimed, firstAt: at, lastAt: at, firstHitId: hit.id, hits: 1, data: d.data ?? null });
      if (d.link || d.kind === 'decoy' || d.kind === 'relay') {
        let ids = byKey.get(d.key);
        if (!ids) byKey.set(d.key, (ids = new Set()));
        ids.add(inc.id);
      }
    }
    added(inc.id, d.key);
    return !e;
  }

  function added(id: number, key: string): void {
    let keys = entityTouched.get(id);
    if (!keys) entityTouched.set(id, (keys = new Map()));
    keys.set(key, (keys.get(key) ?? 0) + 1);
  }

  function create(actor: Actor, at: number): IntrusionState {
    const s = newIntrusion(reads.newIncidentId(), actor, at);
    known.set(s.id, s);
    created.add(s.id);
    return s;
  }

  /** Fold `children` into `parent`: counts and evidence now, entities and hits by the adapter (then recounted). */
  function merge(parent: IntrusionState, children: IntrusionState[], why: string, hit: HitRow, at: number): void {
    for (const c of children) {
      c.mergedInto = parent.id;
      touched.add(c.id);
      merges.push({ child: c.id, parent: parent.id });
      parent.firstAt = Math.min(parent.firstAt, c.firstAt);
      parent.lastAt = Math.max(parent.lastAt, c.lastAt);
      parent.hitCount += c.hitCount;
      parent.tokenCount += c.tokenCount;
      parent.locationCount += c.locationCount;
      parent.hostCount += c.hostCount;
      parent.lateral ||= c.lateral;
      parent.techniques = [...new Set([...parent.techniques, ...c.techniques])].sort();
      for (const r of c.reasons) addReason(parent, r);
      for (const [k, e] of c.entities) {
        const mine = parent.entities.get(k);
        if (mine) {
          mine.firstAt = Math.min(mine.firstAt, e.firstAt);
          mine.lastAt = Math.max(mine.lastAt, e.lastAt);
          mine.hits += e.hits;
        } else parent.entities.set(k, { ...e });
        let ids = byKey.get(k);
        if (!ids) byKey.set(k, (ids = new Set()));
        ids.add(parent.id);
      }
      if (c.alertGroup && !parent.alertGroup) parent.alertGroup = c.alertGroup;
      addReason(parent, { code: 'merge', text: `joined incident #${c.id} (${oneOf(c)}): ${why}`, at, hitId: hit.id });
      parent.severity = maxSeverity(parent.severity, c.severity);
    }
    parent.machineCount = countKinds(parent, MACHINE_KINDS);
  }

  function place({ hit, token }: Recorded): void {
    const meaning = explainHit(hit, token);
    const run = drillRunOf(token);
    const actor = drillActor(actorOf(hit, assets, meaning.user), run);
    const isCounted = counted.includes(hit.classification);
    const at = hit.at.getTime();
    const ents = drillEntities(entitiesOf(hit, token, actor, meaning, isCounted, assets), run);
    const cands = candidates(ents.links, at - window);
    let inc: IntrusionState;
    const severityBefore = new Map<number, Severity>();
    let mergedWhy: string | null = null;
    let mergedFrom: number[] = [];
    // A new machine that joined through another of the hit's entities (a user seen on a second host).
    const machine = actor.machine;
    const elsewhere = machine ? newMachineFor(cands, machine.key, machine.host !== null) : null;
    const linkedBy = elsewhere && machine ? linkWords(ents.all, cands.filter((c) => !c.entities.has(machine.key))) : undefined;
    if (cands.length === 0) inc = create(actor, at);
    else if (isCounted && cands.length > 1) {
      const sorted = [...cands].sort((a, b) => a.firstAt - b.firstAt || a.id - b.id);
      inc = sorted[0] as IntrusionState;
      for (const c of sorted) severityBefore.set(c.id, c.severity);
      mergedWhy = `this hit links them: ${linkWords(ents.all, sorted)}`;
      mergedFrom = sorted.slice(1).map((c) => c.id);
      merge(inc, sorted.slice(1), mergedWhy, hit, at);
    } else inc = [...cands].sort((a, b) => b.lastAt - a.lastAt)[0] as IntrusionState;
    const before = severityBefore.get(inc.id) ?? inc.severity;
    touched.add(inc.id);
    inc.hitCount += 1;
    inc.firstAt = Math.min(inc.firstAt, at);
    inc.lastAt = Math.max(inc.lastAt, at);
    const urgent: string[] = [];
    if (mergedWhy) urgent.push('merge');
    let newCredential = false;
    let newMachine = false;
    for (const d of ents.all) {
      const fresh = touch(inc, d, hit, at);
      if (!fresh) continue;
      if (d.key === machine?.key) newMachine = true;
      if (d.kind === 'decoy') inc.tokenCount += 1;
      else if (d.kind === 'place') inc.locationCount += 1;
      else if (d.kind === 'planted') inc.hostCount += 1;
      else if (d.kind === 'cred') newCredential = true;
    }
    inc.machineCount = countKinds(inc, MACHINE_KINDS);
    if (isCounted) {
      assess(inc, hit, token, actor, meaning, at);
      context(inc, hit, token, actor, at, newMachine);
      if (newCredential) urgent.push('credential');
      const hops = [
        ents.takenFrom && machine ? hop(inc, ents.takenFrom.key, ents.takenFrom.label, machine.key, machine.label, meaning.evidence === 'credential-used' ? 'credential' : 'decoy', token, hit, at, false) : null,
        elsewhere && machine && !ents.takenFrom
          ? hop(inc, elsewhere.key, elsewhere.label, machine.key, machine.label, 'identity', token, hit, at, machine.claimed || elsewhere.claimed, linkedBy)
          : null,
      ].filter((h) => h !== null);
      if (hops.some((h) => h)) urgent.push('hop');
      inc.severity = maxSeverity(inc.severity, severityOf(inc));
      if (inc.severity !== before) urgent.push('severity');
    }
    inc.summary = inc.reasons.filter((r) => r.code === 'hop').map((r) => r.text).join('; ').slice(0, 2000) || null;
    assigned.push({ hitId: hit.id, incidentId: inc.id });
    hit.incidentId = inc.id;
    if (isCounted) {
      const groupKeys = [`decoy:${token.id}`, ...(actor.relay?.ip && (actor.machine?.claimed || actor.user) ? [`relay:${actor.relay.ip}`] : [])];
      pager.page({ hit, token, incident: inc, urgent, groupKeys, mergedFrom });
    }
  }

  /** Evidence, context and techniques of one counted hit. */
  function assess(inc: IntrusionState, hit: HitRow, token: Token, actor: Actor, meaning: HitMeaning, at: number): void {
    const where = token.location ? ` at ${token.location}` : token.plantedHost ? ` on ${token.plantedHost}` : '';
    const text =
      meaning.evidence === 'touch'
        ? `decoy "${token.name}"${where} touched: ${meaning.action}`
        : meaning.evidence === 'impact'
          ? `destructive burst on decoy "${token.name}"${where}: ${meaning.action}`
          : meaning.evidence === 'credential-found'
          ? `planted credential "${token.name}"${where} found: ${meaning.action}`
          : `planted credential ${hit.credential ? `${hit.credential} ` : ''}("${token.name}"${where}) used: ${meaning.action}`;
    addReason(inc, { code: meaning.evidence, text, at, hitId: hit.id, key: `${meaning.evidence}:${token.id}` });
    const escaped = hit.details?.unusualForRule as { id: number; name: string; why: string } | undefined;
    if (escaped) addReason(inc, { code: 'unusual', text: `who and when match expected-activity rule "${escaped.name}" (#${escaped.id}), but ${escaped.why}`, at, hitId: hit.id, key: `unusual:${escaped.id}:${token.id}` });
    const stale = hit.details?.stale as { rotatedAt?: string; current?: string | null } | undefined;
    if (stale?.rotatedAt) {
      const current = stale.current ? `; the current artifact is token ${stale.current}` : '';
      addReason(inc, { code: 'stale', text: `old artifact (rotated on ${stale.rotatedAt.slice(0, 10)}) of decoy "${token.name}"${where}: a copy taken before the rotation${current}`, at, hitId: hit.id, key: `stale:${token.id}` });
    }
    if (hit.intel?.length) addReason(inc, { code: 'intel', text: `source ${hit.sourceIp ?? ''} matches threat intel: ${hit.intel.join(', ')}`, at, hitId: hit.id, key: `intel:${hit.intel.join(',')}` });
    const add = meaning.techniques.filter((t) => !inc.techniques.includes(t));
    if (add.length) inc.techniques = [...inc.techniques, ...add].sort();
  }

  /**
   * Context of one counted hit that makes it worse (each a named reason): a public source the
   * asset map does not declare internal (with its owner), a time outside working hours, a
   * machine that touched nothing in the last NOVELTY_DAYS, a machine or planted host the asset
   * map marks high or critical.
   */
  function context(inc: IntrusionState, hit: HitRow, token: Token, actor: Actor, at: number, newMachine: boolean): void {
    if (actor.ip && !actor.asset && isExternal(actor.ip)) {
      const owner = ipOwnerNow(actor.ip);
      const whose = owner ? `; ${ownerText(owner)}` : '';
      addReason(inc, { code: 'external', text: `source ${actor.ip} is outside the organisation's networks (a public address${whose})`, at, hitId: hit.id, key: `external:${actor.ip}` });
    }
    const span = (actor.segment ? hours.segments.get(actor.segment.toLowerCase()) : undefined) ?? hours.all;
    if (span && !span.contains(hit.at)) {
      const whose = actor.segment && hours.segments.has(actor.segment.toLowerCase()) ? ` of segment ${actor.segment}` : '';
      addReason(inc, { code: 'off-hours', text: `at ${span.local(hit.at)}, outside the working hours${whose} (${span.text})`, at, hitId: hit.id, key: 'off-hours' });
    }
    const machine = actor.machine;
    // A name the attacker's machine reported is known only if such a report came before: naming a host seen on the network must not make a new machine look familiar.
    if (machine && newMachine && !reads.seenSince(machine.key, at - novelty, inc.id, machine.claimed)) {
      const days = Math.round(novelty / DAY);
      addReason(inc, { code: 'first-seen', text: `${machine.label}${machine.host && machine.ip ? ` (${machine.ip})` : ''} had touched no decoy or honey service in the ${days} days before`, at, hitId: hit.id, key: `first-seen:${machine.key}` });
    }
    for (const [what, asset] of [
      ['source', actor.asset],
      ['planted host', token.plantedHost ? assets.host(token.plantedHost) : null],
    ] as const) {
      if (!asset || (asset.criticality !== 'high' && asset.criticality !== 'critical')) continue;
      const where = asset.segment ? ` in segment ${asset.segment}` : '';
      addReason(inc, { code: 'sensitive', text: `${what} ${asset.label}${where} is marked ${asset.criticality} in the asset map`, at, hitId: hit.id, key: `sensitive:${asset.id}` });
    }
  }

  /** Record a hop between two machines of the intrusion; false when it was known already. */
  function hop(
    inc: IntrusionState,
    fromKey: string,
    fromLabel: string,
    toKey: string,
    toLabel: string,
    via: 'credential' | 'decoy' | 'identity',
    token: Token,
    hit: HitRow,
    at: number,
    claimed: boolean,
    linkedBy?: string,
  ): boolean {
    if (fromKey === toKey) return false;
    const key = `hop:${fromKey}>${toKey}`;
    const text =
      via === 'credential'
        ? `credential planted on ${fromLabel} ("${token.name}") used from ${toLabel}`
        : via === 'decoy'
          ? `decoy from ${fromLabel}'s own storage ("${token.name}") touched from ${toLabel}`
          : `the intrusion, seen on ${fromLabel}, reached ${toLabel}${linkedBy ? ` (${linkedBy})` : ''}${claimed ? '; host names reported by the attacker' : ''}`;
    const fresh = touch(inc, { key, kind: 'hop', label: `${fromLabel} → ${toLabel}`, claimed, link: false, data: { from: fromLabel, to: toLabel, fromKey, toKey, via, tokenId: token.id, text } }, hit, at);
    if (!fresh) return false;
    inc.lateral = true;
    addReason(inc, { code: 'hop', text, at, hitId: hit.id, key });
    if (via === 'credential') inc.techniques = [...new Set([...inc.techniques, ...HOP_TECHNIQUES])].sort();
    return true;
  }

  /** A repeat folded into a row already on an intrusion: count it there, and in the alert that reports the row. */
  function repeat({ hit, token }: Recorded): void {
    const start = known.get(hit.incidentId ?? -1) ?? reads.incident(hit.incidentId ?? -1);
    if (!start) return;
    const inc = hold(start);
    const at = (hit.lastAt ?? hit.at).getTime();
    touched.add(inc.id);
    inc.hitCount += 1;
    inc.lastAt = Math.max(inc.lastAt, at);
    const actor = actorOf(hit, assets, null);
    const e = inc.entities.get(actor.key);
    if (e) {
      e.lastAt = Math.max(e.lastAt, at);
      e.hits += 1;
      added(inc.id, e.key);
    }
    if (counted.includes(hit.classification)) pager.repeat({ hit, token, incident: inc });
  }

  for (const r of batch) {
    if (r.repeat) {
      if (r.hit.incidentId !== null) repeat(r);
      continue;
    }
    if (r.hit.incidentId !== null || done.has(r.hit.id)) continue;
    done.add(r.hit.id);
    place(r);
  }

  return finish();

  /**
   * The writes, with everything an intrusion merged in this batch held moved to the intrusion it
   * joined: an intrusion both created and merged here is never written; one loaded and merged
   * is moved by the adapter (hits, entities, waiting alerts) before the rest is applied.
   */
  function finish(): IntrusionWrites {
    const root = (id: number): number => {
      let s = known.get(id);
      for (let n = 0; s && s.mergedInto !== null && n < 20; n++) s = known.get(s.mergedInto);
      return s?.id ?? id;
    };
    const alerts = pager.writes();
    for (const row of alerts.inserts) {
      const to = root(row.incidentId);
      if (to === row.incidentId) continue;
      if (row.thread === `incident:${row.incidentId}`) row.thread = `incident:${to}`;
      row.incidentId = to;
    }
    const out: IntrusionWrites = {
      merges: merges.filter((m) => !created.has(m.child)).map((m) => ({ child: m.child, parent: root(m.parent) })),
      created: [],
      saved: [],
      entities: [],
      recount: [...new Set(merges.map((m) => root(m.parent)))],
      assigned: assigned.map((a) => ({ hitId: a.hitId, incidentId: root(a.incidentId) })),
      alerts,
      wake: alerts.wake,
    };
    for (const id of touched) {
      const s = known.get(id);
      if (!s) continue;
      if (created.has(id)) {
        if (s.mergedInto === null) out.created.push(s);
      } else out.saved.push(s);
    }
    // One write per (intrusion, entity): a merged intrusion's additions join its parent's.
    const entities = new Map<string, IntrusionWrites['entities'][number]>();
    for (const [id, keys] of entityTouched) {
      const s = known.get(id);
      if (!s) continue;
      const to = root(id);
      for (const [k, n] of keys) {
        const e = s.entities.get(k);
        if (!e) continue;
        const tag = `${to}\u0000${k}`;
        const have = entities.get(tag);
        if (!have) entities.set(tag, { incidentId: to, entity: { ...e }, added: n });
        else {
          have.added += n;
          have.entity.firstAt = Math.min(have.entity.firstAt, e.firstAt);
          have.entity.lastAt = Math.max(have.entity.lastAt, e.lastAt);
          have.entity.claimed &&= e.claimed;
        }
      }
    }
    out.entities = [...entities.values()];
    const rows = new Map(batch.map((r) => [r.hit.id, r.hit]));
    for (const a of out.assigned) {
      const h = rows.get(a.hitId);
      if (h) h.incidentId = a.incidentId;
    }
    return out;
  }
}

/** What a batch may ask about, for adapters that fetch a snapshot first (PostgreSQL). */
export interface BatchKeys {
  /** Keys hits link on. */
  links: string[];
  /** Other entity keys the batch names (decoys, places, planted hosts, credentials, relays). */
  others: string[];
  /** Flood keys an opening page may be grouped under. */
  groups: string[];
  /** Intrusions the batch's repeats were counted on. */
  repeats: number[];
  /** Earliest time a link may have been seen to count (the batch's earliest hit minus TRAIL_WINDOW). */
  since: number;
  /** Machines of counted hits, asked whether they were seen before (first-seen context). */
  machines: string[];
  /** Earliest time such a sighting counts (the batch's earliest hit minus NOVELTY_DAYS). */
  seenSince: number;
}

/** An intrusion opened for `actor` at `at`, before its first hit is counted. */
export function newIntrusion(id: number, actor: Pick<Actor, 'key' | 'label'>, at: number): IntrusionState {
  return {
    id,
    actorKey: actor.key,
    actorLabel: actor.label,
    firstAt: at,
    lastAt: at,
    hitCount: 0,
    tokenCount: 0,
    locationCount: 0,
    hostCount: 0,
    machineCount: 0,
    severity: 'low',
    lateral: false,
    techniques: [],
    reasons: [],
    summary: null,
    status: 'open',
    mergedInto: null,
    alertGroup: null,
    entities: new Map(),
  };
}

/** The keys `correlateBatch` can ask `reads` about for this batch (the same derivation it uses). */
export function batchKeys(batch: readonly Recorded[], assets: AssetLookup, config: Pick<IntrusionConfig, 'ALERT_ON_CLASSIFICATIONS' | 'TRAIL_WINDOW' | 'NOVELTY_DAYS'>): BatchKeys {
  const counted = config.ALERT_ON_CLASSIFICATIONS as readonly Classification[];
  const links = new Set<string>();
  const others = new Set<string>();
  const groups = new Set<string>();
  const repeats = new Set<number>();
  const machines = new Set<string>();
  let since = Number.POSITIVE_INFINITY;
  let seenSince = Number.POSITIVE_INFINITY;
  for (const { hit, token, repeat } of batch) {
    if (hit.incidentId !== null) {
      if (repeat) repeats.add(hit.incidentId);
      continue;
    }
    const meaning = explainHit(hit, token);
    const run = drillRunOf(token);
    const actor = drillActor(actorOf(hit, assets, meaning.user), run);
    const isCounted = counted.includes(hit.classification);
    for (const e of drillEntities(entitiesOf(hit, token, actor, meaning, isCounted, assets), run).all) (e.link ? links : others).add(e.key);
    if (isCounted) {
      if (actor.machine) machines.add(actor.machine.key);
      seenSince = Math.min(seenSince, hit.at.getTime() - (config.NOVELTY_DAYS ?? 30) * DAY);
      groups.add(`decoy:${token.id}`);
      if (actor.relay?.ip) groups.add(`relay:${actor.relay.ip}`);
    }
    since = Math.min(since, hit.at.getTime() - config.TRAIL_WINDOW);
  }
  return { links: [...links], others: [...others], groups: [...groups], repeats: [...repeats], since: Number.isFinite(since) ? since : 0, machines: [...machines], seenSince: Number.isFinite(seenSince) ? seenSince : 0 };
}

/** The machine the intrusion was last seen on before this hit, in a candidate that did not hold `machineKey`: the start of a hop to it. */
function newMachineFor(cands: readonly IntrusionState[], machineKey: string, named: boolean): EntityState | null {
  let best: EntityState | null = null;
  for (const c of cands) {
    if (c.entities.has(machineKey)) continue;
    for (const e of c.entities.values()) {
      // Named hosts hop to named hosts and bare addresses to bare addresses: a name and an address may be one machine.
      if (e.kind !== (named ? 'host' : 'ip') || e.key === machineKey) continue;
      if (!best || e.lastAt > best.lastAt) best = e;
    }
  }
  return best;
}

/** Which of the hit's entities tie it to the intrusions: `user CORP\m.keller`, `host WS-22`. */
function linkWords(all: readonly EntityDraft[], cands: readonly IntrusionState[]): string {
  const words: string[] = [];
  for (const d of all) {
    if (!d.link) continue;
    const known = cands.map((c) => c.entities.get(d.key)).find((e) => e !== undefined);
    if (!known) continue;
    words.push(`${d.kind === 'user' ? 'user' : d.kind === 'via' ? 'relay and decoy' : 'machine'} ${known.label}`);
  }
  return words.join(', ') || 'shared entities';
}

function oneOf(s: IntrusionState): string {
  return s.actorLabel ?? s.actorKey;
}

function countKinds(s: IntrusionState, kinds: readonly EntityKind[]): number {
  let n = 0;
  for (const e of s.entities.values()) if (kinds.includes(e.kind)) n++;
  return n;
}

/** Add a reason unless one with the same code and text is there; each code keeps a bounded number. */
export function addReason(s: IntrusionState, r: IncidentReason): void {
  const same = (x: IncidentReason) => x.code === r.code && (x.key ?? x.text) === (r.key ?? r.text);
  if (s.reasons.some(same)) return;
  if (s.reasons.filter((x) => x.code === r.code).length >= (REASONS_PER_CODE[r.code] ?? 5)) return;
  s.reasons = [...s.reasons, r];
}

/**
 * Severity from evidence, then context: a touch is medium, a credential found or used high, a
 * hop critical; a source on a threat-intel list or outside the organisation raises it a step
 * each. Nothing an attacker writes lowers it.
 */
export function severityOf(s: Pick<IntrusionState, 'reasons' | 'lateral'>): Severity {
  let rank = s.lateral ? 4 : 0;
  for (const r of s.reasons) rank = Math.max(rank, EVIDENCE_RANK[r.code] ?? 0);
  let sev = SEVERITY_OF_RANK[rank] ?? 'low';
  if (rank === 0) return sev;
  const codes = new Set(s.reasons.map((r) => r.code));
  const steps = Math.min(2, CONTEXT_CODES.filter((c) => codes.has(c)).length);
  for (let i = 0; i < steps; i++) sev = raise(sev);
  // Critical means a credential used, a hop or a source threat intel names; a touch in bad context is high.
  if (rank <= 1 && sev === 'critical' && !codes.has('intel')) sev = 'high';
  return sev;
}

/** Working hours as configured, parsed once per setting. */
const hoursCache = new Map<string, { all: WorkingHours | null; segments: Map<string, WorkingHours> }>();
function workingHoursOf(config: Pick<IntrusionConfig, 'WORKING_HOURS' | 'WORKING_HOURS_SEGMENTS'>): { all: WorkingHours | null; segments: Map<string, WorkingHours> } {
  const tag = `${config.WORKING_HOURS ?? ''}\u0000${config.WORKING_HOURS_SEGMENTS ?? ''}`;
  let h = hoursCache.get(tag);
  if (!h) {
    h = { all: config.WORKING_HOURS ? parseWorkingHours(config.WORKING_HOURS) : null, segments: config.WORKING_HOURS_SEGMENTS ? parseSegmentHours(config.WORKING_HOURS_SEGMENTS) : new Map() };
    if (hoursCache.size > 8) hoursCache.clear();
    hoursCache.set(tag, h);
  }
  return h;
}

function raise(s: Severity): Severity {
  return SEVERITIES[Math.min(SEVERITIES.length - 1, SEVERITIES.indexOf(s) + 1)] ?? s;
}

export function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITIES.indexOf(a) >= SEVERITIES.indexOf(b) ? a : b;
}

/** A public unicast address: outside every private, loopback, link-local, CGNAT or documentation range. */
function isExternal(ip: string): boolean {
  const n = normalizeIp(ip);
  if (!ipaddr.isValid(n)) return false;
  const addr = ipaddr.process(n);
  return addr.range() === 'unicast';
}
