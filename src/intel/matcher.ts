import ipaddr from 'ipaddr.js';
import { allIndicators, intelStatements, intelVersion } from '../db/queries/intel.ts';
import { isPg, type AnyDb } from '../db/store.ts';
import { versionedCache, type VersionedCache } from '../db/versioned-cache.ts';
import type { HitRow, IntelRow } from '../db/schema.ts';
import type { HitPrepare } from '../hits/record-hit.ts';
import { normalizeIp } from '../net.ts';

interface Index {
  ips: Map<string, Set<string>>;
  cidrs: { range: [ipaddr.IPv4 | ipaddr.IPv6, number]; label: string }[];
  domains: Map<string, Set<string>>;
  emails: Map<string, Set<string>>;
  /** Imported ranges of link-checking services (purpose `scanner`): not threat intel. */
  scanners: { ips: Map<string, string>; cidrs: { range: [ipaddr.IPv4 | ipaddr.IPv6, number]; label: string }[] };
}

const empty = (): Index => ({ ips: new Map(), cidrs: [], domains: new Map(), emails: new Map(), scanners: { ips: new Map(), cidrs: [] } });

function build(indicators: readonly IntelRow[]): Index {
  const idx = empty();
  const add = (m: Map<string, Set<string>>, k: string, label: string) => m.set(k, (m.get(k) ?? new Set()).add(label));
  for (const i of indicators) {
    if (i.purpose === 'scanner') {
      if (i.type === 'ip') idx.scanners.ips.set(normalizeIp(i.value), i.label);
      else if (i.type === 'cidr') idx.scanners.cidrs.push({ range: ipaddr.parseCIDR(i.value), label: i.label });
      continue;
    }
    if (i.type === 'ip') add(idx.ips, normalizeIp(i.value), i.label);
    else if (i.type === 'cidr') idx.cidrs.push({ range: ipaddr.parseCIDR(i.value), label: i.label });
    else if (i.type === 'domain') add(idx.domains, i.value, i.label);
    else add(idx.emails, i.value, i.label);
  }
  return idx;
}

/**
 * Matches hit sources against imported threat intel. The index lives in memory and is
 * rebuilt when the indicator table changes (checked at most every `recheckMs`), so a match
 * costs a few map probes on the hot path.
 */
export function intelMatcher(db: AnyDb, recheckMs = 1000) {
  let cache: VersionedCache<Index>;
  if (isPg(db)) {
    // Between batches a match uses the index as it is; a due check runs in the background.
    cache = versionedCache<Index>(empty(), { sync: false, topic: 'intel', version: () => intelVersion(db), load: async () => build(await allIndicators(db)) }, recheckMs);
  } else {
    const q = intelStatements(db);
    cache = versionedCache<Index>(empty(), { sync: true, topic: 'intel', version: q.version, load: () => build(q.all()) }, recheckMs);
  }
  const fresh = () => cache.get();
  const matchIp = (raw: string, labels: Set<string>, i: Index) => {
    const ip = normalizeIp(raw.trim());
    if (!ipaddr.isValid(ip)) return;
    for (const l of i.ips.get(ip) ?? []) labels.add(l);
    const addr = ipaddr.parse(ip);
    for (const c of i.cidrs) if (c.range[0].kind() === addr.kind() && addr.match(c.range)) labels.add(c.label);
  };
  const matchDomain = (raw: string, labels: Set<string>, i: Index) => {
    const parts = raw.toLowerCase().replace(/\.$/, '').split('.');
    for (let k = 0; k < parts.length - 1; k++) for (const l of i.domains.get(parts.slice(k).join('.')) ?? []) labels.add(l);
  };
  return {
    /** Labels of every indicator matching the hit's source address, forwarded chain or sender. */
    labelsFor(hit: Pick<HitRow, 'sourceIp' | 'forwardedFor' | 'mailFrom'>): string[] {
      const i = fresh();
      if (i.ips.size === 0 && i.cidrs.length === 0 && i.domains.size === 0 && i.emails.size === 0) return [];
      const labels = new Set<string>();
      if (hit.sourceIp) matchIp(hit.sourceIp, labels, i);
      for (const f of hit.forwardedFor?.split(',') ?? []) matchIp(f, labels, i);
      if (hit.mailFrom) {
        const from = hit.mailFrom.toLowerCase();
        for (const l of i.emails.get(from) ?? []) labels.add(l);
        matchDomain(from.split('@')[1] ?? '', labels, i);
      }
      return [...labels].sort();
    },
    /** The imported link-checking service a source address belongs to (purpose `scanner`), or null. */
    scannerFor(raw: string | null): string | null {
      if (!raw) return null;
      const s = fresh().scanners;
      if (s.ips.size === 0 && s.cidrs.length === 0) return null;
      const ip = normalizeIp(raw.trim());
      if (!ipaddr.isValid(ip)) return null;
      const direct = s.ips.get(ip);
      if (direct) return direct;
      const addr = ipaddr.parse(ip);
      return s.cidrs.find((c) => c.range[0].kind() === addr.kind() && addr.match(c.range))?.label ?? null;
    },
    /** Force a reload on the next match (after an import in this process). */
    invalidate: () => cache.invalidate(),
    refresh: () => cache.refresh(),
  };
}

/** Stamps matching intel labels on the hit row before it is stored (and before the trail rates it). */
export type IntelMatcher = ReturnType<typeof intelMatcher>;

export function intelPrepare(db: AnyDb, matcher = intelMatcher(db)): HitPrepare {
  const prepare: HitPrepare = (row) => {
    const labels = matcher.labelsFor({ sourceIp: row.sourceIp ?? null, forwardedFor: row.forwardedFor ?? null, mailFrom: row.mailFrom ?? null });
    if (labels.length) row.intel = labels;
  };
  if (isPg(db)) prepare.warm = () => matcher.refresh();
  return prepare;
}
