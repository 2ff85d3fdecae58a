import { assetSnapshot } from '../hits/actor.ts';
import { explainHit } from '../hits/meaning.ts';
import type { AlertRow, HitRow, IncidentRow } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';
import type { Decoy, ArtifactInfo } from '../tokens/kind.ts';
import { findKind } from '../tokens/registry.ts';

/**
 * View models for the admin templates. They only shape data; escaping is the templates' job
 * (`{{…}}` everywhere), so these return plain strings, never markup.
 */

/** `CORP\alice@WS-07`, from whichever actor parts a token revealed. */
export function actorText(h: Pick<HitRow, 'actorUser' | 'actorHost' | 'actorDomain'>): string {
  const user = h.actorUser ? `${h.actorDomain ? `${h.actorDomain}\\` : ''}${h.actorUser}` : '';
  return [user, h.actorHost].filter(Boolean).join('@');
}

/** One line saying what the hit did, per channel. */
export function hitAction(h: HitRow): string {
  if (h.channel === 'http') return `${h.method ?? ''} ${h.path ?? ''}${h.query ? `?${h.query}` : ''}`.trim();
  if (h.channel === 'dns') return `${h.qtype ?? ''} ${h.qname ?? ''}`.trim();
  return `mail from ${h.mailFrom ?? '?'} to ${h.mailTo ?? '?'}${h.mailSubject ? `: ${h.mailSubject}` : ''}`;
}

/**
 * Names source addresses from the network map (`10.20.4.17` -> `WS-ACCT-07 · Finance VLAN`),
 * reading the map once per page.
 */
export async function assetLabeler(db: AnyDb): Promise<(ip: string | null) => string | null> {
  const assets = await assetSnapshot(db);
  const cache = new Map<string, string | null>();
  return (ip) => {
    if (!ip) return null;
    if (!cache.has(ip)) {
      const a = assets.ip(ip);
      cache.set(ip, a ? [a.label, a.segment].filter(Boolean).join(' · ') : null);
    }
    return cache.get(ip) ?? null;
  };
}

/**
 * A hit as a table row / timeline entry: actor decoded, what happened in words (when its token
 * is at hand: the kind's action sentence), the request line, the source named.
 */
export function hitView(h: HitRow, assetOf?: (ip: string | null) => string | null, token?: Decoy) {
  return {
    what: token ? explainHit(h, token).action : null,
    sourceAsset: h.channel === 'dns' ? null : (assetOf?.(h.sourceIp) ?? null),
    id: h.id,
    at: h.at,
    channel: h.channel,
    sourceIp: h.sourceIp,
    sourceLabel: h.channel === 'dns' ? 'resolver' : 'source',
    forwardedFor: h.forwardedFor,
    userAgent: h.userAgent,
    referer: h.referer,
    actor: actorText(h),
    credential: h.credential,
    action: hitAction(h),
    classification: h.classification,
    alerting: h.classification === 'alert',
    incidentId: h.incidentId,
    repeatCount: h.repeatCount > 1 ? h.repeatCount : null,
  };
}

/** MITRE ATT&CK link for a technique id such as T1552.001. */
export function techniqueView(id: string) {
  const [base, sub] = id.split('.');
  return { id, url: `https://attack.mitre.org/techniques/${base ?? id}/${sub ? `${sub}/` : ''}` };
}

/** An incident with a display title and status flags for the templates. */
export function incidentView(i: IncidentRow) {
  return { ...i, title: i.actorLabel || i.actorKey, [`sev_${i.severity}`]: true, open: i.status === 'open', closed: i.status === 'closed', merged: i.mergedInto !== null };
}

/** An outbox row, flagged when its delivery failed or gave up. */
export function alertView(a: AlertRow) {
  return { ...a, problem: a.status === 'failed' || a.status === 'dead' };
}

/** The human label of a kind id (the id itself when the kind is not installed). */
export function kindLabel(id: string): string {
  return findKind(id)?.label ?? id;
}

/** The "what to plant" panel: the values to copy and whether there is a file to download. */
export function artifactView(tokenId: string, a: ArtifactInfo) {
  return {
    url: a.url,
    hostname: a.hostname,
    email: a.email,
    filename: a.filename,
    hint: a.hint,
    download: a.download ? `/tokens/${tokenId}/download` : null,
    formats: (a.formats ?? []).map((f) => ({ format: f.format, label: f.format.toUpperCase(), download: `/tokens/${tokenId}/download?format=${encodeURIComponent(f.format)}` })),
  };
}
