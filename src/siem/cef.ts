import type { HitRow, IncidentRow, Severity, TokenRow } from '../db/schema.ts';
import { explainHit } from '../hits/meaning.ts';

/**
 * ArcSight CEF (v0) and RFC 5424 syslog framing for SIEM forwarding. CEF header fields escape
 * `\` and `|`; extension values escape `\`, `=` and line breaks. Attacker-controlled text
 * (user agents, paths, DNS names) therefore cannot forge fields or lines.
 */
const header = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
const ext = (s: string) => s.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r?\n|\r/g, '\\n');

/** CEF severity (0-10) of a hit: real alerts high, ignored/scanner/echo low. */
function severityOf(hit: HitRow): number {
  if (hit.classification !== 'alert') return 3;
  return hit.credential ? 9 : 7;
}

/**
 * One hit as a CEF event. `src` is the actor's own address only: a DNS hit comes from a
 * resolver and a mail hit from a mail server, which go in `flexString1` (the relay) instead, so
 * a SIEM playbook that isolates `src` never isolates a domain controller. `msg` says what
 * happened in words.
 */
export function hitToCef(hit: HitRow, token: TokenRow | undefined, version: string): string {
  const relayed = hit.channel === 'dns' || hit.channel === 'smtp';
  const fields: [string, string | number | null | undefined][] = [
    ['rt', hit.at.getTime()],
    ['src', relayed ? null : hit.sourceIp],
    ['spt', relayed ? null : hit.sourcePort],
    ['flexString1Label', relayed ? (hit.channel === 'dns' ? 'dnsResolver' : 'mailServer') : null],
    ['flexString1', relayed ? hit.sourceIp : null],
    ['requestMethod', hit.method],
    ['request', hit.path ? `${hit.path}${hit.query ? `?${hit.query}` : ''}` : hit.qname],
    ['requestClientApplication', hit.userAgent],
    ['suser', hit.actorUser],
    ['shost', hit.actorHost],
    ['sntdom', hit.actorDomain],
    ['duser', hit.credential],
    ['app', hit.channel],
    ['cs1Label', 'tokenId'],
    ['cs1', hit.tokenId],
    ['cs2Label', 'plantedLocation'],
    ['cs2', token?.location],
    ['cs3Label', 'plantedHost'],
    ['cs3', token?.plantedHost],
    ['cs4Label', 'classification'],
    ['cs4', hit.classification],
    ['cs5Label', 'tokenKind'],
    ['cs5', token?.kind],
    ['cn1Label', 'incidentId'],
    ['cn1', hit.incidentId],
    ['externalId', hit.id],
    ['cs6Label', 'threatIntel'],
    ['cs6', hit.intel?.join(',')],
    ['msg', token ? explainHit(hit, token).action : null],
  ];
  const name = `Honeytoken triggered: ${token?.name ?? hit.tokenId}`;
  return `CEF:0|Honeytrail|Honeytrail|${header(version)}|hit:${header(token?.kind ?? 'unknown')}|${header(name)}|${severityOf(hit)}|${extension(fields)}`;
}

/** CEF severity (0-10) of an incident's severity. */
export const INCIDENT_CEF_SEVERITY: Record<Severity, number> = { low: 3, medium: 5, high: 8, critical: 10 };

/** Join CEF extension fields, leaving out empty ones. */
function extension(fields: [string, string | number | null | undefined][]): string {
  return fields
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${ext(String(v))}`)
    .join(' ');
}

/**
 * An incident's state as one CEF event: what the SIEM correlates on (actor, severity, lateral
 * movement, techniques) next to the hit events that carry its id in `cn1`. Sent when the
 * incident opens and again whenever it changes (new hits, severity, status).
 */
export function incidentToCef(incident: IncidentRow, version: string): string {
  const [kind, ...rest] = incident.actorKey.split(':');
  const actor = rest.join(':');
  const ip = kind === 'ip' ? actor : undefined;
  const fields: [string, string | number | null | undefined][] = [
    ['rt', incident.updatedAt?.getTime() ?? incident.lastAt.getTime()],
    ['start', incident.firstAt.getTime()],
    ['end', incident.lastAt.getTime()],
    ['src', ip],
    ['shost', kind === 'host' ? actor : undefined],
    ['suser', kind === 'user' ? actor : undefined],
    ['cnt', incident.hitCount],
    ['act', incident.status],
    ['cn1Label', 'incidentId'],
    ['cn1', incident.id],
    ['cn2Label', 'tokenCount'],
    ['cn2', incident.tokenCount],
    ['cn3Label', 'hostCount'],
    ['cn3', incident.hostCount],
    ['cs1Label', 'actor'],
    ['cs1', incident.actorLabel ?? incident.actorKey],
    ['cs2Label', 'severity'],
    ['cs2', incident.severity],
    ['cs3Label', 'lateralMovement'],
    ['cs3', incident.lateral ? 'true' : 'false'],
    ['cs4Label', 'attackTechniques'],
    ['cs4', incident.techniques.join(',')],
    ['cs5Label', 'mergedInto'],
    ['cs5', incident.mergedInto === null ? null : `incident-${incident.mergedInto}`],
    ['cs6Label', 'evidence'],
    ['cs6', [...new Set(incident.reasons.map((r) => r.code))].join(',')],
    ['flexNumber1Label', 'machineCount'],
    ['flexNumber1', incident.machineCount],
    ['msg', incident.summary ?? incident.reasons[incident.reasons.length - 1]?.text],
    ['externalId', `incident-${incident.id}`],
  ];
  const name =
    incident.mergedInto !== null
      ? `Honeytrail incident #${incident.id} merged into #${incident.mergedInto}`
      : incident.summary
        ? `Honeytrail incident: lateral movement: ${incident.summary}`
        : `Honeytrail incident #${incident.id}: ${incident.actorLabel ?? incident.actorKey}`;
  return `CEF:0|Honeytrail|Honeytrail|${header(version)}|incident:${header(incident.severity)}|${header(name)}|${INCIDENT_CEF_SEVERITY[incident.severity]}|${extension(fields)}`;
}

/** RFC 5424 message: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG` (no structured data). */
export function syslog5424(msg: string, opts: { facility: number; severity: number; hostname: string; msgid: string; at: Date }): string {
  const pri = opts.facility * 8 + opts.severity;
  const host = opts.hostname.replace(/[^\x21-\x7e]/g, '').slice(0, 255) || '-';
  return `<${pri}>1 ${opts.at.toISOString()} ${host} honeytrail ${process.pid} ${opts.msgid} - ${msg.replace(/[\r\n]+/g, ' ')}`;
}
