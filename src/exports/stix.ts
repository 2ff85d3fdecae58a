import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { Config } from '../config.ts';
import type { HitRow, TokenRow } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';
import { describeArtifact } from '../tokens/service.ts';
import { explainHit } from '../hits/meaning.ts';
import { findKind } from '../tokens/registry.ts';
import { iterateHits, tokenCache, type HitExportFilter } from './hits.ts';

/**
 * STIX 2.1 bundles for MISP, OpenCTI or a SIEM: each token is an `indicator` (what the decoy
 * looks like), each hit a `sighting` of it with `observed-data` (source address, HTTP request
 * and user agent, DNS name, user account / host), ATT&CK techniques as `attack-pattern`s with
 * mitre-attack external references, incidents as `grouping`s of their sightings.
 * Ids are UUIDv5 of Honeytrail's own ids, so re-exports update rather than duplicate.
 */

type StixObject = { type: string; id: string } & Record<string, unknown>;

/** Honeytrail's namespace for deterministic STIX ids (a fixed random UUID). */
const NAMESPACE = '7f1d2c3e-5b8a-4f6d-9e0c-1a2b3c4d5e6f';
/** The namespace STIX 2.1 (section 2.9) gives for deterministic SCO ids. */
const SCO_NAMESPACE = '00abedb4-aa42-466c-9c01-fed23315a9b7';

export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(Buffer.concat([ns, Buffer.from(name, 'utf8')])).digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

const sdoId = (type: string, key: string) => `${type}--${uuidV5(`${type}:${key}`, NAMESPACE)}`;
const scoId = (type: string, contributing: Record<string, unknown>) => `${type}--${uuidV5(JSON.stringify(contributing), SCO_NAMESPACE)}`;
const ts = (d: Date) => d.toISOString();

/** Quote a value inside a STIX pattern string literal. */
function patternString(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export interface IncidentForStix {
  id: number;
  firstAt: Date;
  lastAt: Date;
  severity: string;
  summary?: string | null;
  actorLabel?: string | null;
  hitIds: number[];
  /** The intrusion this one was merged into (its hits moved there). */
  mergedInto?: number | null;
  /** The path between machines, as text. */
  path?: string;
  /** Why this severity. */
  reasons?: string[];
}

export interface StixOptions extends HitExportFilter {
  /** Incidents to add as groupings of their hits' sightings. */
  incidents?: IncidentForStix[];
  /** Name of an ATT&CK technique id, when known. */
  techniqueName?: (id: string) => string | undefined;
  /** Only these hits (e.g. the hits of the exported incidents). */
  hitIds?: ReadonlySet<number>;
}

export async function buildStixBundle(db: AnyDb, config: Config, opts: StixOptions = {}): Promise<{ type: 'bundle'; id: string; objects: StixObject[] }> {
  const now = ts(new Date());
  const objects = new Map<string, StixObject>();
  const add = (o: StixObject) => {
    if (!objects.has(o.id)) objects.set(o.id, o);
    return o.id;
  };
  const identity = add({
    type: 'identity',
    spec_version: '2.1',
    id: sdoId('identity', config.PUBLIC_URL),
    created: '2026-01-01T00:00:00.000Z',
    modified: '2026-01-01T00:00:00.000Z',
    name: 'Honeytrail deception sensors',
    identity_class: 'system',
  });
  const token = tokenCache(db);
  const indicatorOf = (t: TokenRow) => addIndicator(t, config, identity, add, opts.techniqueName);
  const sightingByHit = new Map<number, string>();

  for await (const h of iterateHits(db, opts)) {
    if (opts.hitIds && !opts.hitIds.has(h.id)) continue;
    const t = await token(h.tokenId);
    if (!t) continue;
    const indicator = indicatorOf(t);
    const observed = add(observedData(h, identity, add));
    const last = h.lastAt ?? h.at;
    sightingByHit.set(
      h.id,
      add({
        type: 'sighting',
        spec_version: '2.1',
        id: sdoId('sighting', String(h.id)),
        created: ts(h.at),
        modified: ts(last),
        created_by_ref: identity,
        first_seen: ts(h.at),
        last_seen: ts(last),
        count: h.repeatCount,
        sighting_of_ref: indicator,
        observed_data_refs: [observed],
        where_sighted_refs: [identity],
        description: `${explainHit(h, t).action} (${h.channel} trigger of honeytoken "${t.name}", ${h.classification})`,
      }),
    );
  }

  const grouping = (id: number) => sdoId('grouping', `incident:${id}`);
  const exported = new Set((opts.incidents ?? []).filter((i) => !i.mergedInto).map((i) => i.id));
  for (const inc of opts.incidents ?? []) {
    if (inc.mergedInto && !exported.has(inc.mergedInto)) continue;
    // A merged intrusion's hits moved to its parent: it is kept as a grouping that refers to the parent.
    const refs = inc.mergedInto ? [grouping(inc.mergedInto)] : inc.hitIds.map((id) => sightingByHit.get(id)).filter((x): x is string => x !== undefined);
    if (refs.length === 0) continue;
    add({
      type: 'grouping',
      spec_version: '2.1',
      id: grouping(inc.id),
      created: ts(inc.firstAt),
      modified: ts(inc.lastAt),
      created_by_ref: identity,
      name: `Honeytrail incident ${inc.id}${inc.actorLabel ? `: ${inc.actorLabel}` : ''}`,
      description: inc.mergedInto ? `Merged into incident ${inc.mergedInto}: part of the same intrusion.` : (inc.summary ?? `Severity ${inc.severity}`),
      context: 'suspicious-activity',
      object_refs: refs,
      labels: [`severity:${inc.severity}`],
      ...(inc.path ? { x_honeytrail_path: inc.path } : {}),
      ...(inc.reasons?.length ? { x_honeytrail_reasons: inc.reasons } : {}),
    });
    if (inc.mergedInto) {
      add({
        type: 'relationship',
        spec_version: '2.1',
        id: sdoId('relationship', `incident:${inc.id}:merged-into:${inc.mergedInto}`),
        created: ts(inc.lastAt),
        modified: ts(inc.lastAt),
        created_by_ref: identity,
        relationship_type: 'related-to',
        description: `incident ${inc.id} was merged into incident ${inc.mergedInto}: the same intrusion`,
        source_ref: grouping(inc.id),
        target_ref: grouping(inc.mergedInto),
      });
    }
  }

  return { type: 'bundle', id: `bundle--${uuidV5(now, NAMESPACE)}`, objects: [...objects.values()] };
}

function addIndicator(
  t: TokenRow,
  config: Config,
  identity: string,
  add: (o: StixObject) => string,
  techniqueName?: (id: string) => string | undefined,
): string {
  const id = sdoId('indicator', t.id);
  const artifact = (() => {
    try {
      return describeArtifact({ config }, t);
    } catch {
      return {};
    }
  })();
  const pattern = artifact.url
    ? `[url:value = ${patternString(artifact.url)}]`
    : artifact.hostname
      ? `[domain-name:value = ${patternString(artifact.hostname)}]`
      : artifact.email
        ? `[email-addr:value = ${patternString(artifact.email)}]`
        : `[x-honeytrail-token:id = ${patternString(t.id)}]`;
  add({
    type: 'indicator',
    spec_version: '2.1',
    id,
    created: ts(t.createdAt),
    modified: ts(t.updatedAt ?? t.createdAt),
    created_by_ref: identity,
    name: `Honeytoken: ${t.name}`,
    description: `Decoy ${t.kind} planted at ${t.location ?? 'an unrecorded location'}${t.plantedHost ? ` on ${t.plantedHost}` : ''}. Any touch is unauthorised.`,
    indicator_types: ['compromised'],
    pattern,
    pattern_type: 'stix',
    valid_from: ts(t.createdAt),
    labels: ['honeytoken', t.kind],
  });
  for (const technique of findKind(t.kind)?.techniques ?? []) {
    const ap = add({
      type: 'attack-pattern',
      spec_version: '2.1',
      id: sdoId('attack-pattern', technique),
      created: '2026-01-01T00:00:00.000Z',
      modified: '2026-01-01T00:00:00.000Z',
      name: techniqueName?.(technique) ?? technique,
      external_references: [
        { source_name: 'mitre-attack', external_id: technique, url: `https://attack.mitre.org/techniques/${technique.replace('.', '/')}/` },
      ],
    });
    add({
      type: 'relationship',
      spec_version: '2.1',
      id: sdoId('relationship', `${t.id}:${technique}`),
      created: ts(t.createdAt),
      modified: ts(t.createdAt),
      relationship_type: 'indicates',
      source_ref: id,
      target_ref: ap,
    });
  }
  return id;
}

function observedData(h: HitRow, identity: string, add: (o: StixObject) => string): StixObject {
  const refs: string[] = [];
  let src: string | undefined;
  if (h.sourceIp && isIP(h.sourceIp)) {
    const type = isIP(h.sourceIp) === 4 ? 'ipv4-addr' : 'ipv6-addr';
    src = add({ type, spec_version: '2.1', id: scoId(type, { value: h.sourceIp }), value: h.sourceIp });
    refs.push(src);
  }
  if (h.channel === 'http' && src) {
    const request: Record<string, unknown> = { request_method: (h.method ?? 'get').toLowerCase(), request_value: `${h.path ?? '/'}${h.query ? `?${h.query}` : ''}` };
    if (h.userAgent) request.request_header = { 'User-Agent': h.userAgent };
    refs.push(
      add({
        type: 'network-traffic',
        spec_version: '2.1',
        id: scoId('network-traffic', { hit: h.id }),
        src_ref: src,
        ...(h.sourcePort ? { src_port: h.sourcePort } : {}),
        protocols: ['tcp', 'http'],
        extensions: { 'http-request-ext': request },
      }),
    );
  }
  if (h.qname) refs.push(add({ type: 'domain-name', spec_version: '2.1', id: scoId('domain-name', { value: h.qname }), value: h.qname }));
  if (h.mailFrom && /@/.test(h.mailFrom)) refs.push(add({ type: 'email-addr', spec_version: '2.1', id: scoId('email-addr', { value: h.mailFrom }), value: h.mailFrom }));
  if (h.actorUser || h.credential) {
    const login = h.actorUser ?? h.credential ?? '';
    refs.push(
      add({
        type: 'user-account',
        spec_version: '2.1',
        id: scoId('user-account', { account_login: login, x_domain: h.actorDomain }),
        account_login: login,
        ...(h.actorDomain ? { x_honeytrail_domain: h.actorDomain } : {}),
        ...(h.actorHost ? { x_honeytrail_host: h.actorHost } : {}),
      }),
    );
  }
  if (refs.length === 0) {
    refs.push(add({ type: 'x-honeytrail-trigger', spec_version: '2.1', id: scoId('x-honeytrail-trigger', { hit: h.id }), channel: h.channel }));
  }
  return {
    type: 'observed-data',
    spec_version: '2.1',
    id: sdoId('observed-data', String(h.id)),
    created: ts(h.at),
    modified: ts(h.lastAt ?? h.at),
    created_by_ref: identity,
    first_observed: ts(h.at),
    last_observed: ts(h.lastAt ?? h.at),
    number_observed: h.repeatCount,
    object_refs: refs,
    ...(h.actorHost ? { x_honeytrail_actor_host: h.actorHost } : {}),
    ...(h.userAgent ? { x_honeytrail_user_agent: h.userAgent } : {}),
  };
}
