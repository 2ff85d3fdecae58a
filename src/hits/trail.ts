import { actorOf, assetLookup, sameHost, type Actor } from '../alerts/actor.ts';
import { CREDENTIAL_USE_TECHNIQUES } from '../alerts/attack.ts';
import type { Config } from '../config.ts';
import type { Db } from '../db/client.ts';
import { trailStatements, type TrailState } from '../db/queries/incidents.ts';
import type { Classification, HitRow, Severity } from '../db/schema.ts';
import { SEVERITIES } from '../db/schema.ts';
import type { Token } from '../tokens/kind.ts';
import { findKind } from '../tokens/registry.ts';
import type { HitStep } from './record-hit.ts';

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

/**
 * The trail step (DESIGN section 5), run in each hit's transaction: find the actor's open
 * incident within TRAIL_WINDOW (or open one), count distinct decoys, planted locations and
 * hosts, decide whether lateral movement is suspected, raise severity, collect ATT&CK
 * techniques, and link the hit to the incident. Only hits of an alerting classification
 * count toward decoys, hosts and severity; the others are kept on the trail as context.
 */
export function createTrailStep(opts: TrailOptions): HitStep {
  const counted = opts.config.ALERT_ON_CLASSIFICATIONS as readonly Classification[];
  const q = trailStatements(opts.db, counted);
  const assets = assetLookup(opts.db);
  const window = opts.config.TRAIL_WINDOW;

  return (_db, hit, token) => {
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
      if (!q.tokenSeen(inc.id, token.id)) {
        inc.tokenCount += 1;
        if (token.location && !q.locationSeen(inc.id, token.location)) inc.locationCount += 1;
        if (token.plantedHost && !q.hostSeen(inc.id, token.plantedHost)) inc.hostCount += 1;
      }
      const reasons = lateralReasons(inc, hit, token, actor, assets);
      if (reasons.length) {
        inc.lateral = true;
        const known = new Set((inc.summary ?? '').split('; ').filter(Boolean));
        for (const r of reasons) known.add(r);
        inc.summary = [...known].join('; ').slice(0, 2000);
      }
      const kind = findKind(token.kind);
      const techniques = new Set([...inc.techniques, ...(kind?.techniques ?? []), ...(hit.credential ? CREDENTIAL_USE_TECHNIQUES : [])]);
      if (inc.lateral) techniques.add('T1021');
      inc.techniques = [...techniques].sort();
      inc.severity = maxSeverity(inc.severity, severityOf(inc, hit, () => q.credentialSeen(inc.id)));
    }
    q.save(inc);
    q.setHitIncident(hit.id, inc.id);
    const stored = { ...hit, incidentId: inc.id };
    if (alertable) opts.onAlertable?.({ hit: stored, token, incident: inc, actor, opened, escalated: !opened && inc.severity !== before });
    return stored;
  };
}

/** Why this hit suggests lateral movement (empty when it does not). */
function lateralReasons(inc: TrailState, hit: HitRow, token: Token, actor: Actor, assets: ReturnType<typeof assetLookup>): string[] {
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
 */
function severityOf(inc: TrailState, hit: HitRow, credentialSeen: () => boolean): Severity {
  if (inc.tokenCount === 0) return 'low';
  if (inc.hostCount >= 3) return 'critical';
  const credential = hit.credential !== null || (inc.tokenCount >= 2 && inc.severity !== 'critical' && credentialSeen());
  if (credential && inc.tokenCount >= 2) return 'critical';
  if (credential || inc.lateral) return 'high';
  return 'medium';
}

function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITIES.indexOf(a) >= SEVERITIES.indexOf(b) ? a : b;
}
