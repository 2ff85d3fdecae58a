import type { Config } from '../config.ts';
import { drillOfKey } from '../drills/tag.ts';
import { firstHitsOf, getIncident, incidentEntities, incidentHitsBetween, incidentTrailSample, type TrailEntry } from '../db/queries/incidents.ts';
import type { AlertKind, AlertRow, Classification, EntityRow, IncidentReason, IncidentRow, Severity } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';
import { actorOf, assetSnapshot, type AssetLookup } from '../hits/actor.ts';
import { technique, type Technique } from '../hits/attack.ts';
import { CONTEXT_CODES } from '../hits/intrusions.ts';
import { ipOwner, ownerText } from '../hits/ip-owner.ts';
import { explainHit } from '../hits/meaning.ts';
import type { AlertPayload } from '../hits/paging.ts';
import { oneLine, unique } from '../text.ts';
import { nextSteps } from './next-steps.ts';
import { pathOf, type PathView } from './path.ts';

/**
 * Everything an alert message says, computed once from the database and handed to every
 * renderer (email templates, webhook formats). Strings coming from tokens or hits are made
 * single-line here; the renderers escape them for their medium.
 */
export interface AlertView {
  kind: AlertKind;
  severity: Severity;
  /** `[Honeytrail #12] [HIGH] Lateral movement: …`: the bracketed number is the same for every message of a thread. */
  subject: string;
  /** The thread's stable subject prefix, `[Honeytrail #12]`. */
  threadTag: string;
  /** The conclusion, e.g. `Lateral movement: WS-22 → JUMP01 (credential planted on WS-22 used from JUMP01)`. */
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
    machineCount: number;
    lateral: boolean;
    /** The hops (kept as `reasons` for v1 consumers). */
    reasons: string[];
    /**
     * Why this severity, deduplicated, in three parts: `evidence` (what was done: touch,
     * credential found or used, hop, merge), `context` (public source, off-hours, first-seen,
     * sensitive asset) and `intel` (threat-intel labels on the source).
     */
    evidence: { group: 'evidence' | 'context' | 'intel'; code: string; text: string; at: string }[];
    /** Intrusions merged into this one. */
    merged: number[];
    url: string;
    /** The purple-team drill run this incident belongs to (its hits came from a drill's own decoys), else null. */
    drill: string | null;
  };
  actor: {
    label: string;
    /** The actor's own address; null when a relay (resolver, mail server) carried the hit. */
    ip: string | null;
    asset: string | null;
    segment: string | null;
    criticality: string | null;
    user: string | null;
    computer: string | null;
    domain: string | null;
    /** User, computer or domain were reported by the attacker's machine or message, not observed. */
    claimed: boolean;
    userAgent: string | null;
    /** The relay that carried the hit, in words; null when the actor came directly. */
    relay: string | null;
    relayIp: string | null;
    facts: { name: string; value: string }[];
  };
  decoy: { id: string; name: string; kind: string; location: string | null; plantedHost: string | null; url: string };
  /** The hits this message reports (a digest lists every one since the previous message). */
  newHits: TrailLine[];
  newHitsMore: number;
  /** Triggers the message reports, counting flood-folded repeats. */
  newEvents: number;
  /** The whole trail so far (bounded), oldest first. */
  trail: TrailLine[];
  trailMore: number;
  path: PathView;
  techniques: Technique[];
  nextSteps: string[];
  /** Grouped alerts: many intrusions on one decoy, through one resolver, or past the per-minute cap. */
  group: GroupView | null;
}

export interface GroupView {
  /** `decoy`, `relay` or `overflow`. */
  by: string;
  /** What the intrusions share, in words. */
  about: string;
  intrusions: number;
  /** The first hit of each grouped intrusion listed (bounded). */
  sample: { incidentId: number; url: string; at: string; source: string; what: string }[];
}

export interface TrailLine {
  hitId: number;
  at: string;
  decoy: string;
  decoyUrl: string;
  kind: string;
  planted: string;
  /** What happened, in words (the kind's action sentence). */
  what: string;
  /** Where it came from: the machine (host and address), or the relay for resolver and mail hits. */
  source: string;
  classification: Classification;
  isNew: boolean;
  /** Identical triggers folded into this row (flood control); 1 for a single one. */
  repeats: number;
  techniques: string[];
}

const TRAIL_SHOWN = 50;
const NEW_SHOWN = 200;
const SAMPLE_SHOWN = 25;

const opt = (v: string | null | undefined, max?: number): string | null => (v ? oneLine(v, max) : null);

/** Build the view of an outbox row from the intrusion and hits it refers to. */
export async function buildAlertView(db: AnyDb, config: Pick<Config, 'ADMIN_URL' | 'ALERT_ON_CLASSIFICATIONS' | 'ALERT_GROUP_WINDOW'>, row: AlertRow): Promise<AlertView | null> {
  if (row.incidentId === null) return null;
  let incident = await getIncident(db, row.incidentId);
  for (let n = 0; incident?.mergedInto && n < 20; n++) incident = await getIncident(db, incident.mergedInto);
  if (!incident) return null;
  const p = row.payload as Partial<AlertPayload>;
  const assets = await assetSnapshot(db);
  if (row.kind === 'group' || row.thread?.startsWith('group:')) return buildGroupView(db, config, row, incident, p, assets);
  const classes = config.ALERT_ON_CLASSIFICATIONS;
  const fresh = await incidentHitsBetween(db, incident.id, p.firstHitId ?? 0, p.lastHitId ?? Number.MAX_SAFE_INTEGER, classes, NEW_SHOWN + 1);
  const { entries: trail, total: trailTotal } = await incidentTrailSample(db, incident.id);
  if (!fresh[0] && !trail[0]) return null;
  const rows = typeof p.hitCount === 'number' ? p.hitCount : fresh.length;
  const newEvents = fresh.slice(0, NEW_SHOWN).reduce((n, e) => n + e.hit.repeatCount, 0) + Math.max(0, rows - fresh.length) + (p.repeats ?? 0);
  const view = composeView({
    assets,
    adminUrl: config.ADMIN_URL,
    kind: row.kind,
    incident,
    entities: await incidentEntities(db, incident.id),
    fresh: fresh.slice(0, NEW_SHOWN),
    freshTotal: Math.max(rows, fresh.length),
    newEvents,
    trail,
    trailTotal,
    merged: p.mergedFrom ?? [],
  });
  // Who owns a public source, from the shipped offline database (never a lookup over the network).
  if (view.actor.ip && !view.actor.asset) {
    const owner = await ipOwner(view.actor.ip).catch(() => null);
    if (owner) view.actor.facts = [{ name: 'Network owner', value: ownerText(owner) }, ...view.actor.facts];
  }
  return view;
}

/** Compose the view from rows (also used by the drill with a synthetic intrusion). */
export function composeView(a: {
  /** The asset map, to name sources and segments. */
  assets: AssetLookup;
  adminUrl: string;
  kind: AlertKind;
  incident: IncidentRow;
  entities: readonly EntityRow[];
  fresh: TrailEntry[];
  freshTotal: number;
  newEvents?: number;
  /** The trail (or a sample of a long one, see incidentTrailSample). */
  trail: TrailEntry[];
  /** Hits on the whole trail, when `trail` is a sample. */
  trailTotal?: number;
  merged?: number[];
}): AlertView {
  const { incident } = a;
  const freshIds = new Set(a.fresh.map((e) => e.hit.id));
  // The message leads with its strongest new hit (a credential used beats a touch; the latest of equals):
  // its actor, action and decoy are what the sentence says, so they always belong together.
  const pool = a.fresh.length ? a.fresh : a.trail;
  const lead = strongest(pool.filter((e) => e.hit.classification === 'alert')) ?? pool[pool.length - 1] ?? a.trail[0];
  if (!lead) throw new Error(`incident ${incident.id} has no hits`);
  const human = lead;
  const leadMeaning = explainHit(lead.hit, lead.token);
  const humanMeaning = leadMeaning;
  const actor = actorOf(human.hit, a.assets, humanMeaning.user);
  const line = (e: TrailEntry): TrailLine => trailLine(e, a.adminUrl, a.assets, freshIds.has(e.hit.id));
  const shown = a.trail.length > TRAIL_SHOWN ? [...a.trail.slice(0, 10), ...a.trail.slice(-(TRAIL_SHOWN - 10))] : a.trail;
  const path = pathOf(a.entities);
  const reasons = incident.reasons ?? [];
  const hops = reasons.filter((r) => r.code === 'hop').map((r) => oneLine(r.text));
  const credentials = reasons.filter((r) => r.code === 'credential-used');
  const decoys = `${incident.tokenCount} decoy${incident.tokenCount === 1 ? '' : 's'}`;
  const who = oneLine(actor.label, 120);
  let conclusion: string;
  const impact = reasons.find((r) => r.code === 'impact');
  if (impact) conclusion = `Ransomware canary: mass file changes on "${human.token.name}" by ${who}`;
  else if (incident.lateral) conclusion = `Lateral movement: ${path.text || who}${hops[0] ? ` (${hops[0]})` : ''}`;
  else if (credentials.length) conclusion = `Planted credential used: ${humanMeaning.evidence === 'credential-used' ? humanMeaning.action : `"${human.token.name}"`} (${who})`;
  else if (reasons.some((r) => r.code === 'credential-found')) conclusion = `Planted credential found: "${human.token.name}" by ${who}`;
  else if (incident.severity === 'low') conclusion = `Automated visit: "${lead.token.name}" fetched by ${who}`;
  else conclusion = `Decoy touched: "${human.token.name}" by ${who}`;
  const intel = [...new Set(a.trail.flatMap((e) => e.hit.intel ?? []))];
  if (intel.length) conclusion += ` (known ${intel.join(', ')} source)`;
  conclusion = oneLine(conclusion, 200);
  const threadTag = a.kind === 'test' ? '[Honeytrail drill]' : `[Honeytrail #${incident.id}]`;
  const newEvents = a.newEvents ?? a.freshTotal;
  // A purple-team drill's incident says so first: whoever reads it at 3 am knows it was planned.
  const drill = drillOfKey(incident.actorKey);
  const prefix =
    a.kind === 'test' ? '[TEST] Drill: ' : `${drill ? `[DRILL ${drill}] ` : ''}${threadTag} [${incident.severity.toUpperCase()}] ${a.kind === 'digest' ? `Update (+${newEvents}): ` : ''}`;

  const where = [lead.token.location, lead.token.plantedHost ? `on ${lead.token.plantedHost}` : null].filter(Boolean).join(' ');
  const machines = Math.max(incident.machineCount ?? 0, path.machines.length);
  const sentence = oneLine(
    `${actor.label}: ${leadMeaning.action}, decoy "${lead.token.name}" (${lead.token.kind}${where ? `, planted at ${where}` : ''}) at ${lead.hit.at.toISOString()}` +
      (incident.tokenCount > 1 || machines > 1 ? `. This intrusion has touched ${decoys} from ${machines} machine${machines === 1 ? '' : 's'} since ${incident.firstAt.toISOString()}` : '') +
      (a.merged?.length ? `. Incident${a.merged.length > 1 ? 's' : ''} ${a.merged.map((m) => `#${m}`).join(', ')} turned out to be part of it and ${a.merged.length > 1 ? 'were' : 'was'} merged in` : '') +
      (hops.length ? `. Lateral movement: ${hops.join('; ')}.` : '.'),
    1200,
  );

  return {
    kind: a.kind,
    severity: incident.severity,
    subject: oneLine(prefix + conclusion, 240),
    threadTag,
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
      machineCount: machines,
      lateral: incident.lateral,
      drill,
      reasons: hops,
      evidence: evidenceOf(reasons),
      merged: a.merged ?? [],
      url: `${a.adminUrl}/incidents/${incident.id}`,
    },
    actor: {
      label: oneLine(actor.label),
      ip: opt(actor.ip),
      asset: opt(actor.asset?.label),
      segment: opt(actor.asset?.segment),
      criticality: actor.asset?.criticality ?? null,
      user: opt(actor.user?.label ?? null),
      computer: opt(human.hit.actorHost),
      domain: opt(human.hit.actorDomain),
      claimed: !!(actor.machine?.claimed || actor.user),
      userAgent: opt(human.hit.userAgent, 500),
      relay: actor.relay ? `${actor.relay.label} (${actor.relay.kind === 'resolver' ? 'the actor is a client of this resolver' : 'relaying for the sender'})` : null,
      relayIp: actor.relay?.ip ?? null,
      facts: channelFacts(human.hit),
    },
    decoy: decoyOf(lead, a.adminUrl),
    newHits: a.fresh.map(line),
    newHitsMore: Math.max(0, a.freshTotal - a.fresh.length),
    newEvents,
    trail: shown.map(line),
    trailMore: Math.max(0, (a.trailTotal ?? a.trail.length) - shown.length),
    path,
    techniques: incident.techniques.map(technique),
    nextSteps: nextSteps(a.trail, actor, actor.user?.label ?? null, `${a.adminUrl}/incidents/${incident.id}`, path),
    group: null,
  };
}

/** A grouped alert: the intrusions it folds, with the first hit of each as a sample. */
async function buildGroupView(
  db: AnyDb,
  config: Pick<Config, 'ADMIN_URL' | 'ALERT_GROUP_WINDOW'>,
  row: AlertRow,
  incident: IncidentRow,
  p: Partial<AlertPayload>,
  assets: AssetLookup,
): Promise<AlertView | null> {
  const ids = p.incidents?.length ? p.incidents : [incident.id];
  const firsts = await firstHitsOf(db, ids.slice(0, SAMPLE_SHOWN));
  const lead = firsts[0];
  if (!lead) return null;
  const thread = row.thread ?? '';
  const by = thread.startsWith('group:decoy:') ? 'decoy' : thread.startsWith('group:relay:') ? 'relay' : 'overflow';
  const count = p.incidentCount ?? ids.length;
  const minutes = Math.round(config.ALERT_GROUP_WINDOW / 60_000);
  const about =
    by === 'decoy'
      ? `decoy "${oneLine(lead.token.name, 120)}"`
      : by === 'relay'
        ? `DNS resolver ${oneLine(thread.slice('group:relay:'.length), 60)} (names reported by the lookups)`
        : 'the paging limit (ALERT_FIRST_PER_MINUTE)';
  const sources = unique(firsts.map((e) => sourceOf(e, assets)));
  const conclusion = oneLine(
    by === 'overflow'
      ? `${count} more new intrusion${count === 1 ? '' : 's'} past the paging limit: ${sources.slice(0, 3).join(', ')}${sources.length > 3 ? ' …' : ''}`
      : `${count} more intrusion${count === 1 ? '' : 's'} on ${about} within ${minutes} min: ${sources.slice(0, 3).join(', ')}${sources.length > 3 ? ' …' : ''}`,
    200,
  );
  const root = p.groupRoot ?? incident.id;
  const threadTag = `[Honeytrail #${root} group]`;
  const severity = incident.severity;
  const line = (e: TrailEntry): TrailLine => trailLine(e, config.ADMIN_URL, assets, true);
  const sample = firsts.map((e) => ({
    incidentId: e.hit.incidentId ?? 0,
    url: `${config.ADMIN_URL}/incidents/${e.hit.incidentId ?? 0}`,
    at: e.hit.at.toISOString(),
    source: oneLine(sourceOf(e, assets), 160),
    what: oneLine(explainHit(e.hit, e.token).action, 300),
  }));
  const actor = actorOf(lead.hit, assets, null);
  return {
    kind: 'group',
    severity,
    subject: oneLine(`${threadTag} [${severity.toUpperCase()}] ${conclusion}`, 240),
    threadTag,
    conclusion,
    sentence: oneLine(
      `${count} intrusion${count === 1 ? '' : 's'} opened on ${about} are paged together so that a flood pages once; each is its own incident, stored with every hit, and one that escalates (a planted credential used, a hop) pages on its own.`,
      600,
    ),
    incident: {
      id: incident.id,
      status: incident.status,
      firstAt: incident.firstAt.toISOString(),
      lastAt: incident.lastAt.toISOString(),
      hitCount: incident.hitCount,
      tokenCount: incident.tokenCount,
      locationCount: incident.locationCount,
      hostCount: incident.hostCount,
      machineCount: incident.machineCount,
      lateral: incident.lateral,
      reasons: [],
      evidence: evidenceOf(incident.reasons ?? []),
      merged: [],
      url: `${config.ADMIN_URL}/incidents/${incident.id}`,
      drill: drillOfKey(incident.actorKey),
    },
    actor: {
      label: oneLine(`${count} sources`),
      ip: null,
      asset: null,
      segment: null,
      criticality: null,
      user: null,
      computer: null,
      domain: null,
      claimed: false,
      userAgent: null,
      relay: actor.relay ? actor.relay.label : null,
      relayIp: actor.relay?.ip ?? null,
      facts: [],
    },
    decoy: decoyOf(lead, config.ADMIN_URL),
    newHits: firsts.map(line),
    newHitsMore: Math.max(0, count - firsts.length),
    newEvents: count,
    trail: firsts.map(line),
    trailMore: Math.max(0, count - firsts.length),
    path: { text: '', hops: [], machines: [] },
    techniques: incident.techniques.map(technique),
    nextSteps: [
      by === 'decoy'
        ? `Find out how "${oneLine(lead.token.name, 120)}" reached this many sources (a leaked or forwarded link, a scanner that is not on the scanner list); if they are a known service, add its range with honeytrail intel import --purpose scanner.`
        : by === 'relay'
          ? `Search the query log of the resolver for the decoy names to find the real clients; the user and computer names in these lookups are the attacker's to choose.`
          : 'Review the incident list: more intrusions opened this minute than ALERT_FIRST_PER_MINUTE pages one by one.',
      `Open the grouped incidents from the list below; each pages on its own as soon as it escalates.`,
    ],
    group: { by, about: oneLine(about, 200), intrusions: count, sample },
  };
}

const RANK: Record<string, number> = { touch: 1, 'credential-found': 2, 'credential-used': 3, impact: 4 };

/** The hit with the strongest evidence, the latest among equals. */
function strongest(entries: readonly TrailEntry[]): TrailEntry | undefined {
  let best: TrailEntry | undefined;
  let rank = -1;
  for (const e of entries) {
    const r = RANK[explainHit(e.hit, e.token).evidence] ?? 0;
    if (r >= rank) {
      best = e;
      rank = r;
    }
  }
  return best;
}

function decoyOf(e: TrailEntry, adminUrl: string): AlertView['decoy'] {
  return {
    id: e.token.id,
    name: oneLine(e.token.name),
    kind: e.token.kind,
    location: opt(e.token.location),
    plantedHost: opt(e.token.plantedHost),
    url: `${adminUrl}/tokens/${e.token.id}`,
  };
}

const GROUP_ORDER = { evidence: 0, context: 1, intel: 2 } as const;

/** Why this severity: evidence, then context, then intel, each in the order it came. */
function evidenceOf(reasons: readonly IncidentReason[]): AlertView['incident']['evidence'] {
  const groupOf = (code: string): keyof typeof GROUP_ORDER => (code === 'intel' ? 'intel' : (CONTEXT_CODES as readonly string[]).includes(code) || code === 'unusual' || code === 'stale' ? 'context' : 'evidence');
  return reasons
    .map((r, i) => ({ group: groupOf(r.code), code: r.code, text: oneLine(r.text, 400), at: new Date(r.at).toISOString(), i }))
    .sort((a, b) => GROUP_ORDER[a.group] - GROUP_ORDER[b.group] || a.i - b.i)
    .map(({ i: _i, ...e }) => e);
}

/** Where a hit came from, in words: `WS-22 (10.20.4.22)`, `10.9.9.9`, `via DNS resolver 10.0.0.53`. */
export function sourceOf(e: TrailEntry, assets: AssetLookup): string {
  const a = actorOf(e.hit, assets, null);
  const m = a.machine;
  const machine = m ? `${m.label}${m.host && m.ip ? ` (${m.ip})` : ''}${m.claimed ? ' (reported)' : ''}` : null;
  const via = a.relay ? `via ${a.relay.label}` : null;
  return [machine, via].filter(Boolean).join(' ') || 'unknown source';
}

function trailLine(e: TrailEntry, adminUrl: string, assets: AssetLookup, isNew: boolean): TrailLine {
  const meaning = explainHit(e.hit, e.token);
  return {
    hitId: e.hit.id,
    at: e.hit.at.toISOString(),
    decoy: oneLine(e.token.name, 120),
    decoyUrl: `${adminUrl}/tokens/${e.token.id}`,
    kind: e.token.kind,
    planted: oneLine([e.token.location, e.token.plantedHost ? `on ${e.token.plantedHost}` : null].filter(Boolean).join(' ') || 'unknown', 200),
    what: oneLine(meaning.action + (e.hit.classification === 'alert' ? '' : ` [${e.hit.classification}]`) + (e.hit.repeatCount > 1 ? ` (×${e.hit.repeatCount})` : ''), 400),
    source: oneLine(sourceOf(e, assets), 160),
    classification: e.hit.classification,
    isNew,
    repeats: e.hit.repeatCount,
    techniques: meaning.techniques,
  };
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
    ['Scanner hint', typeof h.details?.scannerHint === 'string' ? `the request names ${h.details.scannerHint} (not trusted: no scanner network)` : null],
    ['Classified as', h.classification === 'alert' ? null : `${h.classification}${typeof h.details?.classifiedBy === 'string' ? ` (${h.details.classifiedBy})` : ''}`],
  ];
  return f.filter((x): x is [string, string] => !!x[1]).map(([name, value]) => ({ name, value: oneLine(value, 500) }));
}
