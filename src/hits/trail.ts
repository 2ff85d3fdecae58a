import { actorOf, assetLookup, sameHost, type Actor } from '../alerts/actor.ts';
import { CREDENTIAL_USE_TECHNIQUES } from '../alerts/attack.ts';
import type { Config } from '../config.ts';
import type { Db } from '../db/client.ts';
import { trailStatements, type TrailState } from '../db/queries/incidents.ts';
import type { Classification, HitRow, Severity } from '../db/schema.ts';
import { SEVERITIES } from '../db/schema.ts';
import type { Token } from '../tokens/kind.ts';
import { findKind } from '../tokens/registry.ts';
import type { HitPrepare, HitStep } from './record-hit.ts';

/** What the trail step tells the outbox about one alerting hit. */
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
  /** Called in the same transaction for hits whose classification alerts. */
  onAlertable?: (o: TrailOutcome) => void;
}

/** The columns of a hit the trail reads (a row about to be inserted, or a stored hit). */
type TrailHit = Pick<HitRow, 'channel' | 'sourceIp' | 'actorUser' | 'actorHost' | 'actorDomain' | 'credential' | 'classification' | 'at' | 'intel'>;

/**
 * The trail (DESIGN section 5), run in each hit's transaction. `prepare` (before the insert)
 * finds the actor's open incident within TRAIL_WINDOW or opens one, counts distinct decoys,
 * planted locations and hosts, decides whether lateral movement is suspected, raises
 * severity, collects ATT&CK techniques and sets the row's `incidentId`. `step` (after the
 * insert, when the hit has its id) hands alerting hits to the outbox. Only hits of an
 * alerting classification count toward decoys, hosts and severity; the others stay on the
 * trail as context.
 */
export function createTrail(opts: TrailOptions): { prepare: HitPrepare; step: HitStep } {
  const counted = opts.config.ALERT_ON_CLASSIFICATIONS as readonly Classification[];
  const q = trailStatements(opts.db, counted);
  const assets = assetLookup(opts.db);
  const window = opts.config.TRAIL_WINDOW;
  // (incident, token) pairs known to be on a trail already: hits are append-only, so a "seen" never turns false.
  const seen = new Set<string>();
  let pending: Omit<TrailOutcome, 'hit'> | null = null;

  const prepare: HitPrepare = (row, token) => {
    pending = null;
    const hit: TrailHit = {
      channel: row.channel,
      sourceIp: row.sourceIp ?? null,
      actorUser: row.actorUser ?? null,
      actorHost: row.actorHost ?? null,
      actorDomain: row.actorDomain ?? null,
      credential: row.credential ?? null,
      classification: row.classification ?? 'alert',
      at: row.at,
      intel: row.intel ?? null,
    };
    const actor = actorOf(hit, assets);
    const at = hit.at.getTime();
    let opened = false;
    let inc = q.findOpen(actor.key, at - window);
    if (!inc) {
      inc = q.create(actor.key, actor.label, at);
      opened = true;
    }
    const before = inc.severity;
    inc.hitCount += 1;
    inc.lastAt = Math.max(inc.lastAt, at);
    const alertable = counted.includes(hit.classification);
    if (alertable) {
      // firstAt in the key: should a failed batch roll an incident back, its id may be reused by another.
      const pair = `${inc.id}:${inc.firstAt}:${token.id}`;
      if (!seen.has(pair) && !q.tokenSeen(inc.id, token.id)) {
        inc.tokenCount += 1;
        if (token.location && !q.locationSeen(inc.id, token.location)) inc.locationCount += 1;
        if (token.plantedHost && !q.hostSeen(inc.id, token.plantedHost)) inc.hostCount += 1;
      }
      if (seen.size > 100_000) seen.clear();
      seen.add(pair);
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
      inc.severity = maxSeverity(inc.severity, severityOf(inc, hit, () => q.credentialSeen(inc.id)));
    }
    q.save(inc);
    row.incidentId = inc.id;
    if (alertable) pending = { token, incident: inc, actor, opened, escalated: !opened && inc.severity !== before };
  };

  const step: HitStep = (_db, hit, token) => {
    const p = pending;
    pending = null;
    if (p && p.token.id === token.id && p.incident.id === hit.incidentId) opts.onAlertable?.({ ...p, hit });
  };
  return { prepare, step };
}

/** The incident's techniques with this hit's added, or null when nothing changes (the common case). */
function techniquesOf(inc: TrailState, token: Token, credential: boolean): string[] | null {
  const add = [...(findKind(token.kind)?.techniques ?? []), ...(credential ? CREDENTIAL_USE_TECHNIQUES : []), ...(inc.lateral ? ['T1021'] : [])];
  if (add.every((t) => inc.techniques.includes(t))) return null;
  return [...new Set([...inc.techniques, ...add])].sort();
}

/** Why this hit suggests lateral movement (empty when it does not). */
function lateralReasons(inc: TrailState, hit: TrailHit, token: Token, actor: Actor, assets: ReturnType<typeof assetLookup>): string[] {
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
