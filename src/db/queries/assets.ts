import { asc, count, eq } from 'drizzle-orm';
import ipaddr from 'ipaddr.js';
import { normalizeIp } from '../../net.ts';
import type { Db } from '../client.ts';
import { assets, type AssetRow } from '../schema.ts';

/**
 * The network map: CIDRs and host names -> label, segment, criticality. Alerts use it to say
 * `10.20.4.17 (WS-ACCT-07, Finance VLAN)` instead of a bare address.
 */

export type NewAsset = Pick<AssetRow, 'label'> & Partial<Pick<AssetRow, 'cidr' | 'hostname' | 'segment' | 'criticality'>>;

export function insertAsset(db: Db, a: NewAsset): AssetRow {
  return db.insert(assets).values(normalize(a)).returning().get();
}

/** Insert many assets in one transaction (CSV import); all or nothing. */
export function insertAssets(db: Db, list: readonly NewAsset[]): number {
  return db.$client.transaction(() => list.map((a) => insertAsset(db, a)).length)();
}

export function updateAsset(db: Db, id: number, patch: Partial<NewAsset>): AssetRow | undefined {
  return db.update(assets).set(normalize(patch)).where(eq(assets.id, id)).returning().get();
}

export function deleteAsset(db: Db, id: number): boolean {
  return db.delete(assets).where(eq(assets.id, id)).run().changes > 0;
}

export function getAsset(db: Db, id: number): AssetRow | undefined {
  return db.select().from(assets).where(eq(assets.id, id)).get();
}

export function listAssets(db: Db, limit = 500, offset = 0): { items: AssetRow[]; total: number } {
  const items = db.select().from(assets).orderBy(asc(assets.segment), asc(assets.label)).limit(limit).offset(offset).all();
  const total = db.select({ n: count() }).from(assets).get()?.n ?? 0;
  return { items, total };
}

/**
 * The asset an address belongs to: an exact host entry (/32, /128) wins over the most
 * specific CIDR. The map is small (hundreds of rows), so it is matched in memory.
 */
export function assetForIp(db: Db, ip: string | null | undefined): AssetRow | undefined {
  if (!ip) return undefined;
  const n = normalizeIp(ip);
  if (!ipaddr.isValid(n)) return undefined;
  const addr = ipaddr.parse(n);
  let best: { row: AssetRow; bits: number } | undefined;
  for (const row of db.select().from(assets).all()) {
    if (!row.cidr) continue;
    const [range, bits] = row.cidr.includes('/') ? ipaddr.parseCIDR(row.cidr) : [ipaddr.parse(normalizeIp(row.cidr)), n.includes(':') ? 128 : 32];
    if (range.kind() !== addr.kind() || !addr.match(range, bits)) continue;
    if (!best || bits > best.bits) best = { row, bits };
  }
  return best?.row;
}

/** The asset with this host name (case-insensitive; a short name matches an FQDN's first label). */
export function assetForHost(db: Db, host: string | null | undefined): AssetRow | undefined {
  if (!host) return undefined;
  const h = host.toLowerCase();
  const short = h.split('.')[0];
  return db
    .select()
    .from(assets)
    .all()
    .find((a) => a.hostname !== null && (a.hostname.toLowerCase() === h || a.hostname.toLowerCase().split('.')[0] === short));
}

function normalize<T extends Partial<NewAsset>>(a: T): T {
  return { ...a, ...(a.cidr ? { cidr: a.cidr.trim() } : {}), ...(a.hostname ? { hostname: a.hostname.trim() } : {}) };
}
