import type { Db } from '../db/client.ts';
import { allAssets, assetStatements, matchHost, matchIp } from '../db/queries/assets.ts';
import type { AssetRow, HitRow } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';
import type { Token } from '../tokens/kind.ts';

/** The hit columns the actor is derived from. */
export type ActorFields = Pick<HitRow, 'channel' | 'sourceIp' | 'actorUser' | 'actorHost' | 'actorDomain'>;

/** Who touched a decoy, as far as one hit tells. */
export interface Actor {
  /** Stable key hits of one actor share (lower-cased): `host:ws-acct-07`, `user:corp\alice`, `ip:10.0.0.5`, `resolver:…`. */
  key: string;
  /** Human label for alerts: `CORP\alice@WS-ACCT-07`, `10.20.4.17 (WS-ACCT-07, Finance VLAN)`. */
  label: string;
  /** The actor's own host name when known (decoded from the token or from the asset map). */
  host: string | null;
  /** Network segment of the actor's host, when the asset map knows it. */
  segment: string | null;
  /** The source address is a DNS resolver or a mail server relaying for the actor, not the actor. */
  relay: 'resolver' | 'mail-server' | null;
  asset: AssetRow | null;
}

/** The asset map by source address and by host name. */
export interface AssetLookup {
  ip(ip: string | null): AssetRow | null;
  host(host: string | null): AssetRow | null;
}

/**
 * The asset map, cached for a couple of seconds per address and host name: the trail step
 * looks up every hit's source, and the map changes rarely (through the API). Synchronous,
 * for the trail inside the hits' transaction: SQLite-only until its PostgreSQL version lands.
 */
export function assetLookup(db: Db, ttlMs = 2000): AssetLookup {
  const q = assetStatements(db);
  let born = Date.now();
  const byIp = new Map<string, AssetRow | null>();
  const byHost = new Map<string, AssetRow | null>();
  const fresh = () => {
    if (Date.now() - born > ttlMs || byIp.size + byHost.size > 50_000) {
      byIp.clear();
      byHost.clear();
      born = Date.now();
    }
  };
  return {
    ip(ip: string | null): AssetRow | null {
      if (!ip) return null;
      fresh();
      let a = byIp.get(ip);
      if (a === undefined) byIp.set(ip, (a = matchIp(q.all(), ip) ?? null));
      return a;
    },
    host(host: string | null): AssetRow | null {
      if (!host) return null;
      fresh();
      const k = host.toLowerCase();
      let a = byHost.get(k);
      if (a === undefined) byHost.set(k, (a = matchHost(q.all(), host) ?? null));
      return a;
    },
  };
}

/** The asset map as it is now, for one alert message or one admin page (either dialect). */
export async function assetSnapshot(db: AnyDb): Promise<AssetLookup> {
  const rows = await allAssets(db);
  return { ip: (ip) => matchIp(rows, ip) ?? null, host: (host) => matchHost(rows, host) ?? null };
}

/** The machine part of a host key: lower-cased short name, so `WS-ACCT-07` and `ws-acct-07.corp.example` meet. */
const hostKey = (host: string) => `host:${host.toLowerCase().split('.')[0]}`;

/**
 * The actor key of a hit (DESIGN section 5), keyed by machine wherever one is known: the
 * computer decoded from the token (labelled `DOMAIN\user@COMPUTER`), or the host the asset map
 * names for the source address. So a folder browsed on WS-ACCT-07 (seen through DNS) and a
 * bookmark fetched from WS-ACCT-07's address land on one trail. A decoded user without a
 * computer is keyed by user; otherwise by address. DNS hits arrive from resolvers and mail hits
 * from mail servers: they are labelled as such and keyed apart, never taken for the actor.
 */
export function actorOf(hit: ActorFields, assets: AssetLookup): Actor {
  const ip = hit.sourceIp;
  if (hit.actorUser || hit.actorHost) {
    const user = hit.actorUser ? `${hit.actorDomain ? `${hit.actorDomain}\\` : ''}${hit.actorUser}` : '';
    const label = `${user}${hit.actorHost ? `@${hit.actorHost}` : ''}`;
    const asset = assets.host(hit.actorHost) ?? (hit.channel === 'http' ? assets.ip(ip) : null);
    const key = hit.actorHost ? hostKey(hit.actorHost) : `user:${user.toLowerCase()}`;
    return { key, label, host: hit.actorHost ?? asset?.hostname ?? null, segment: asset?.segment ?? null, relay: null, asset };
  }
  const asset = assets.ip(ip);
  const named = ip ? `${ip}${asset ? ` (${[asset.label, asset.segment].filter(Boolean).join(', ')})` : ''}` : 'unknown source';
  if (hit.channel === 'dns') return { key: `resolver:${ip ?? '?'}`, label: `DNS resolver ${named}`, host: null, segment: null, relay: 'resolver', asset };
  if (hit.channel === 'smtp') return { key: `mail-server:${ip ?? '?'}`, label: `mail server ${named}`, host: null, segment: null, relay: 'mail-server', asset };
  if (asset?.hostname) return { key: hostKey(asset.hostname), label: named, host: asset.hostname, segment: asset.segment, relay: null, asset };
  return { key: `ip:${ip ?? '?'}`, label: named, host: null, segment: asset?.segment ?? null, relay: null, asset };
}

/** Same machine? Host names compare case-insensitively, a short name matching an FQDN's first label. */
export function sameHost(a: string | null, b: string | null): boolean {
  if (!a || !b) return false;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x === y || x.split('.')[0] === y.split('.')[0];
}

/** The planted host of a token, for segment comparisons. */
export function plantedAsset(token: Token, assets: AssetLookup): AssetRow | null {
  return assets.host(token.plantedHost);
}
