import ipaddr from 'ipaddr.js';
import type { AssetRow } from '../db/schema.ts';
import { normalizeIp } from '../net.ts';

/**
 * Matching the network map in memory (it is small: hundreds of rows). An exact host entry
 * (/32, /128) wins over the most specific CIDR.
 */
export function matchAssetIp(rows: readonly AssetRow[], ip: string | null | undefined): AssetRow | undefined {
  if (!ip) return undefined;
  const n = normalizeIp(ip);
  if (!ipaddr.isValid(n)) return undefined;
  const addr = ipaddr.parse(n);
  let best: { row: AssetRow; bits: number } | undefined;
  for (const row of rows) {
    if (!row.cidr) continue;
    const [range, bits] = row.cidr.includes('/') ? ipaddr.parseCIDR(row.cidr) : [ipaddr.parse(normalizeIp(row.cidr)), n.includes(':') ? 128 : 32];
    if (range.kind() !== addr.kind() || !addr.match(range, bits)) continue;
    if (!best || bits > best.bits) best = { row, bits };
  }
  return best?.row;
}

/** The asset with this host name (case-insensitive; a short name matches an FQDN's first label). */
export function matchAssetHost(rows: readonly AssetRow[], host: string | null | undefined): AssetRow | undefined {
  if (!host) return undefined;
  const h = host.toLowerCase();
  const short = h.split('.')[0];
  return rows.find((a) => a.hostname !== null && (a.hostname.toLowerCase() === h || a.hostname.toLowerCase().split('.')[0] === short));
}
