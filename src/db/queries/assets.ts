import { asc, count, eq } from 'drizzle-orm';
import ipaddr from 'ipaddr.js';
import { normalizeIp } from '../../net.ts';
import { changed } from '../changes.ts';
import type { Db } from '../client.ts';
import { assets, type AssetRow } from '../schema.ts';
import { type AnyDb, atomically, insertedRow, shared, textAsc } from '../store.ts';

/**
 * The network map: CIDRs and host names -> label, segment, criticality. Alerts use it to say
 * `10.20.4.17 (WS-ACCT-07, Finance VLAN)` instead of a bare address.
 */

export type NewAsset = Pick<AssetRow, 'label'> & Partial<Pick<AssetRow, 'cidr' | 'hostname' | 'segment' | 'criticality'>>;

/** Rows per INSERT of an import: far below either dialect's limit on bound parameters. */
const IMPORT_CHUNK = 1000;

export async function insertAsset(db: AnyDb, a: NewAsset): Promise<AssetRow> {
  const { db: q, t } = shared(db);
  const row = insertedRow(await q.insert(t.assets).values(normalize(a)).returning());
  changed('assets');
  return row;
}

/** Insert many assets in one transaction (CSV import); all or nothing. */
export async function insertAssets(db: AnyDb, list: readonly NewAsset[]): Promise<number> {
  const rows = list.map(normalize);
  const chunks = Array.from({ length: Math.ceil(rows.length / IMPORT_CHUNK) }, (_, i) => rows.slice(i * IMPORT_CHUNK, (i + 1) * IMPORT_CHUNK));
  const counts = await atomically(db, ({ db: q, t }) => chunks.map((chunk) => q.insert(t.assets).values(chunk)));
  changed('assets');
  return counts.reduce((a, b) => a + b, 0);
}

export async function updateAsset(db: AnyDb, id: number, patch: Partial<NewAsset>): Promise<AssetRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.update(t.assets).set(normalize(patch)).where(eq(t.assets.id, id)).returning();
  changed('assets');
  return row;
}

export async function deleteAsset(db: AnyDb, id: number): Promise<boolean> {
  const { db: q, t } = shared(db);
  const gone = await q.delete(t.assets).where(eq(t.assets.id, id)).returning({ id: t.assets.id });
  changed('assets');
  return gone.length > 0;
}

export async function getAsset(db: AnyDb, id: number): Promise<AssetRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.assets).where(eq(t.assets.id, id)).limit(1);
  return row;
}

export async function listAssets(db: AnyDb, limit = 500, offset = 0): Promise<{ items: AssetRow[]; total: number }> {
  const { db: q, t } = shared(db);
  const items = await q.select().from(t.assets).orderBy(textAsc(db, t.assets.segment), textAsc(db, t.assets.label)).limit(limit).offset(offset);
  const [total] = await q.select({ n: count() }).from(t.assets);
  return { items, total: total?.n ?? 0 };
}

/** The whole map (it is small: hundreds of rows) in insertion order, for matching in memory. */
export async function allAssets(db: AnyDb): Promise<AssetRow[]> {
  const { db: q, t } = shared(db);
  return q.select().from(t.assets).orderBy(asc(t.assets.id));
}

/**
 * The whole map for the trail step, which runs inside the hits' transaction (hot path).
 * SQLite-only (synchronous) until its PostgreSQL version lands.
 */
export function assetStatements(db: Db) {
  const all = db.select().from(assets).orderBy(asc(assets.id)).prepare();
  return { all: (): AssetRow[] => all.all() };
}

/** The asset an address belongs to (see `matchIp`). */
export async function assetForIp(db: AnyDb, ip: string | null | undefined): Promise<AssetRow | undefined> {
  return ip ? matchIp(await allAssets(db), ip) : undefined;
}

/** The asset with this host name (see `matchHost`). */
export async function assetForHost(db: AnyDb, host: string | null | undefined): Promise<AssetRow | undefined> {
  return host ? matchHost(await allAssets(db), host) : undefined;
}

/**
 * The asset an address belongs to: an exact host entry (/32, /128) wins over the most
 * specific CIDR. The map is small (hundreds of rows), so it is matched in memory.
 */
export function matchIp(rows: readonly AssetRow[], ip: string | null | undefined): AssetRow | undefined {
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
export function matchHost(rows: readonly AssetRow[], host: string | null | undefined): AssetRow | undefined {
  if (!host) return undefined;
  const h = host.toLowerCase();
  const short = h.split('.')[0];
  return rows.find((a) => a.hostname !== null && (a.hostname.toLowerCase() === h || a.hostname.toLowerCase().split('.')[0] === short));
}

function normalize<T extends Partial<NewAsset>>(a: T): T {
  return { ...a, ...(a.cidr ? { cidr: a.cidr.trim() } : {}), ...(a.hostname ? { hostname: a.hostname.trim() } : {}) };
}
