import type { Config } from '../config.ts';
import type { AlertPayload } from '../db/queries/alerts.ts';
import { getIncident, incidentHitsBetween, incidentTrailSample, type TrailEntry } from '../db/queries/incidents.ts';
import type { AlertRow, Classification, IncidentRow, Severity } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';
import { actorOf, assetSnapshot, type AssetLookup } from './actor.ts';
import { technique, type Technique } from './attack.ts';
import { nextSteps } from './next-steps.ts';
import { oneLine, unique } from './text.ts';

/**
 * Everything an alert message says, computed once from the database and handed to every
 * renderer (email templates, webhook formats). Strings coming from tokens or hits are made
 * single-line here; the renderers escape them for their medium.
 */
export interface AlertView {
  kind: 'first' | 'digest' | 'test';
  severity: Severity;
  subject: string;
  /** The conclusion, e.g. `Lateral movement: 10.20.4.17 (WS-ACCT-07) touched 3 decoys on 2 hosts`. */
  conclusion: string;
  /** What happened, in one sentence. */
  sentence: string;
  incident: {
    id: number;
    status: string;
    firstAt: string;
    lastAt: string;
    hitCount: number;
    tokenCount: number;
    locationCount: number;
    hostCount: number;
    lateral: boolean;
    reasons: string[];
    url: string;
  };
  actor: {
    label: string;
    ip: string | null;
    asset: string | null;
    segment: string | null;
    criticality: string | null;
    user: string | null;
    computer: string | null;
    domain: string | null;
    userAgent: string | null;
    relay: string | null;
    facts: { name: string; value: string }[];
  };
  decoy: { id: string; name: string; kind: string; location: string | null; plantedHost: string | null; url: string };
  /** The hits this message reports (a digest lists every one since the previous message). */
  newHits: TrailLine[];
  newHitsMore: number;
  /** The whole trail so far (bounded), oldest first. */
  trail: TrailLine[];
  trailMore: number;
  techniques: Technique[];
  nextSteps: string[];
}

export interface TrailLine {
  hitId: number;
  at: string;
  decoy: string;
  decoyUrl: string;
  kind: string;
  planted: string;
  what: string;
  source: string;
  classification: Classification;
  isNew: boolean;
}

const TRAIL_SHOWN = 50;
const NEW_SHOWN = 200;

const opt = (v: string | null | undefined, max?: number): string | null => (v ? oneLine(v, max) : null);

/** Build the view of an outbox row from the incident and hits it refers to. */
export async function buildAlertView(db: AnyDb, config: Pick<Config, 'ADMIN_URL' | 'ALERT_ON_CLASSIFICATIONS'>, row: AlertRow): Promise<AlertView | null> {
  if (row.incidentId === null) return null;
  const incident = await getIncident(db, row.incidentId);
  if (!incident) return null;
  const p = row.payload as Partial<AlertPayload>;
  const classes = config.ALERT_ON_CLASSIFICATIONS;
  const fresh = await incidentHitsBetween(db, incident.id, p.firstHitId ?? 0, p.lastHitId ?? Number.MAX_SAFE_INTEGER, classes, NEW_SHOWN + 1);
  const { entries: trail, total: trailTotal } = await incidentTrailSample(db, incident.id);
  const first = fresh[0] ?? trail[0];
  if (!first) return null;
  const total = typeof p.hitCount === 'number' ? p.hitCount : fresh.length;
  return composeView({
    assets: await assetSnapshot(db),
    adminUrl: config.ADMIN_URL,
    kind: row.kind,
    incident,
    fresh: fresh.slice(0, NEW_SHOWN),
    freshTotal: Math.max(total, fresh.length),
    trail,
    trailTotal,
  });
}

/** Compose the view from rows (also used by the drill with a synthetic incident). */
export function composeView(a: {
  /** The asset map, to name sources and segments. */
  assets: AssetLookup;
  adminUrl: string;
  kind: 'first' | 'digest' | 'test';
  incident: IncidentRow;
  fresh: TrailEntry[];
  freshTotal: number;
  /** The trail (or a sample of a long one, see incidentTrailSample). */
  trail: TrailEntry[];
  /** Hits on the whole trail, when `trail` is a sample. */
  trailTotal?: number;
}): AlertView {
  const { incident } = a;
  const freshIds = new Set(a.fresh.map((e) => e.hit.id));
  const lead = a.fresh[0] ?? a.trail[a.trail.length - 1] ?? a.trail[0];
  if (!lead) throw new Error(`incident ${incident.id} has no hits`);
  const human = [...a.trail].reverse().find((e) => e.hit.classification === 'alert') ?? lead;
  const hit = lead.hit;
  const actor = actorOf(human.hit, a.assets);
  const line = (e: TrailEntry): TrailLine => trailLine(e, a.adminUrl, freshIds.has(e.hit.id));
  const shown = a.trail.length > TRAIL_SHOWN ? [...a.trail.slice(0, 10), ...a.trail.slice(-(TRAIL_SHOWN - 10))] : a.trail;

  const hosts = unique(a.trail.filter((e) => e.hit.classification === 'alert').map((e) => e.token.plantedHost));
  const reasons = (incident.summary ?? '').split('; ').filter(Boolean).map((r) => oneLine(r));
  const credentials = unique(a.trail.map((e) => e.hit.credential));
  const subjectActor = actor.asset && !actor.relay && human.hit.sourceIp && !human.hit.actorUser && !human.hit.actorHost ? `${human.hit.sourceIp} (${actor.asset.label})` : actor.label;
  const decoys = `${incident.tokenCount} decoy${incident.tokenCount === 1 ? '' : 's'}`;
  let conclusion: string;
  if (incident.lateral && incident.hostCount >= 2) conclusion = `Lateral movement: ${subjectActor} touched ${decoys} on ${incident.hostCount} hosts`;
  else if (incident.lateral && incident.locationCount >= 2) conclusion = `Lateral movement: ${subjectActor} touched ${decoys} in ${incident.locationCount} locations`;
  else if (incident.lateral && credentials.length) conclusion = `Lateral movement: planted credential used by ${subjectActor} away from its host`;
  else if (incident.lateral) conclusion = `Lateral movement: ${subjectActor} touched "${lead.token.name}" from another network segment`;
  else if (credentials.length) conclusion = `Planted credential used: "${lead.token.name}" by ${subjectActor}`;
  else if (incident.severity === 'low') conclusion = `Automated visit: "${lead.token.name}" fetched by ${subjectActor}`;
  else conclusion = `Decoy touched: "${lead.token.name}" by ${subjectActor}`;
  const intel = [...new Set(a.trail.flatMap((e) => e.hit.intel ?? []))];
  if (intel.length) conclusion += ` (known ${intel.join(', ')} source)`;
  conclusion = oneLine(conclusion, 180);
  const prefix = a.kind === 'test' ? '[TEST] Drill: ' : `[${incident.severity.toUpperCase()}] ${a.kind === 'digest' ? `Update (+${a.freshTotal}): ` : ''}`;

  const where = [lead.token.location, lead.token.plantedHost ? `on ${lead.token.plantedHost}` : null].filter(Boolean).join(' ');
  const sentence = oneLine(
    `${actor.label} ${describeAction(hit)} on decoy "${lead.token.name}" (${lead.token.kind}${where ? `, planted at ${where}` : ''}) at ${hit.at.toISOString()}` +
      (incident.tokenCount > 1 ? `; this actor has touched ${decoys} on ${Math.max(hosts.length, incident.hostCount)} host(s) since ${incident.firstAt.toISOString()}` : '') +
      (reasons.length ? `. Lateral movement suspected: ${reasons.join('; ')}.` : '.'),
    1000,
  );

  return {
    kind: a.kind,
    severity: incident.severity,
    subject: oneLine(prefix + conclusion, 240),
    conclusion,
    sentence,
    incident: {
      id: incident.id,
      status: incident.status,
      firstAt: incident.firstAt.toISOString(),
      lastAt: incident.lastAt.toISOString(),
      hitCount: incident.hitCount,
      tokenCount: incident.tokenCount,
      locationCount: incident.locationCount,
      hostCount: incident.hostCount,
      lateral: incident.lateral,
      reasons,
      url: `${a.adminUrl}/incidents/${incident.id}`,
    },
    actor: {
      label: oneLine(actor.label),
      ip: opt(human.hit.sourceIp),
      asset: opt(actor.asset?.label),
      segment: opt(actor.asset?.segment),
      criticality: actor.asset?.criticality ?? null,
      user: opt(human.hit.actorUser),
      computer: opt(human.hit.actorHost),
      domain: opt(human.hit.actorDomain),
      userAgent: opt(human.hit.userAgent, 500),
      relay: actor.relay === 'resolver' ? 'DNS resolver (the actor is a client of it)' : actor.relay === 'mail-server' ? 'mail server (relaying for the sender)' : null,
      facts: channelFacts(human.hit),
    },
    decoy: {
      id: lead.token.id,
      name: oneLine(lead.token.name),
      kind: lead.token.kind,
      location: opt(lead.token.location),
      plantedHost: opt(lead.token.plantedHost),
      url: `${a.adminUrl}/tokens/${lead.token.id}`,
    },
    newHits: a.fresh.map(line),
    newHitsMore: Math.max(0, a.freshTotal - a.fresh.length),
    trail: shown.map(line),
    trailMore: Math.max(0, (a.trailTotal ?? a.trail.length) - shown.length),
    techniques: incident.techniques.map(technique),
    nextSteps: nextSteps(a.trail, actor, human.hit.actorUser ? `${human.hit.actorDomain ? `${human.hit.actorDomain}\\` : ''}${human.hit.actorUser}` : null, `${a.adminUrl}/incidents/${incident.id}`),
  };
}

function trailLine(e: TrailEntry, adminUrl: string, isNew: boolean): TrailLine {
  return {
    hitId: e.hit.id,
    at: e.hit.at.toISOString(),
    decoy: oneLine(e.token.name, 120),
    decoyUrl: `${adminUrl}/tokens/${e.token.id}`,
    kind: e.token.kind,
    planted: oneLine([e.token.location, e.token.plantedHost ? `on ${e.token.plantedHost}` : null].filter(Boolean).join(' ') || 'unknown', 200),
    what: oneLine(describeAction(e.hit) + (e.hit.classification === 'alert' ? '' : ` [${e.hit.classification}]`), 300),
    source: oneLine(e.hit.actorUser || e.hit.actorHost ? `${e.hit.actorUser ?? ''}@${e.hit.actorHost ?? ''}` : (e.hit.sourceIp ?? ''), 120),
    classification: e.hit.classification,
    isNew,
  };
}

/** What the actor did, in a few words. */
function describeAction(h: TrailEntry['hit']): string {
  const parts: string[] = [];
  if (h.credential) parts.push(`used planted credential ${h.credential}`);
  if (h.channel === 'http') parts.push(`requested ${h.method ?? 'GET'} ${h.path ?? '/'}`);
  if (h.channel === 'dns') parts.push(`resolved ${h.qtype ?? ''} ${h.qname ?? ''}`.replace(/\s+/g, ' '));
  if (h.channel === 'smtp') parts.push(`sent mail${h.mailFrom ? ` from ${h.mailFrom}` : ''}${h.mailSubject ? ` "${h.mailSubject}"` : ''}`);
  return oneLine(parts.join(', '), 300);
}

function channelFacts(h: TrailEntry['hit']): { name: string; value: string }[] {
  const f: [string, string | null][] = [
    ['Channel', h.channel],
    ['Request', h.channel === 'http' ? `${h.method ?? ''} ${h.path ?? ''}${h.query ? `?${h.query}` : ''}` : null],
    ['Referer', h.referer],
    ['Forwarded for', h.forwardedFor],
    ['DNS query', h.qname ? `${h.qname} (${h.qtype ?? '?'})` : null],
    ['Mail from', h.mailFrom],
    ['Mail to', h.mailTo],
    ['Mail subject', h.mailSubject],
    ['Credential', h.credential],
    ['Threat intel', h.intel?.length ? `source matches ${h.intel.join(', ')}` : null],
    ['Classified as', h.classification === 'alert' ? null : `${h.classification}${typeof h.details?.classifiedBy === 'string' ? ` (${h.details.classifiedBy})` : ''}`],
  ];
  return f.filter((x): x is [string, string] => !!x[1]).map(([name, value]) => ({ name, value: oneLine(value, 500) }));
}
