import { invalidateOn } from '../db/changes.ts';
import type { Db } from '../db/client.ts';
import { allAssets, assetStatements, matchHost, matchIp } from '../db/queries/assets.ts';
import type { AssetRow, HitRow } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';

/** The hit columns the actor is derived from. */
export type ActorFields = Pick<HitRow, 'tokenId' | 'channel' | 'sourceIp' | 'actorUser' | 'actorHost' | 'actorDomain'>;

/** A machine an intrusion acted from: a host by name, or a bare address when nothing names it. */
export interface Machine {
  /** `host:ws-22` (short name, lower-cased) or `ip:10.20.4.22`. */
  key: string;
  /** `WS-22`, or the address. */
  label: string;
  host: string | null;
  ip: string | null;
  /** The name was reported by the lookup the attacker's machine made (desktop.ini, a dump restore), not observed on the network. */
  claimed: boolean;
  asset: AssetRow | null;
}

/** A user identity a hit names (always claimed: the attacker's machine or message says so). */
export interface Identity {
  /** `user:m.keller`: the account name without domain, lower-cased, so `CORP\m.keller` and `m.keller@corp.example` meet. */
  key: string;
  /** As reported: `CORP\m.keller`, `m.keller@corp.example`. */
  label: string;
  /** False for names too generic to tie two hits together (administrator, root, postmaster …). */
  links: boolean;
}

/** A server that carried the hit for the actor: the actor is a client of it, never it. */
export interface Relay {
  kind: 'resolver' | 'mail-server';
  ip: string | null;
  label: string;
  asset: AssetRow | null;
}

/** Who touched a decoy, as far as one hit tells (DESIGN section 5). */
export interface Actor {
  /** The entity that names this actor best: its machine, else its user identity, else `via:<relay>:<token>`. */
  key: string;
  /** Human label: `CORP\m.keller on WS-22 (claimed)`, `WS-22 (10.20.4.22)`, `10.9.9.9`. */
  label: string;
  machine: Machine | null;
  user: Identity | null;
  relay: Relay | null;
  /** The actor's own address; null when a relay carried the hit (a resolver's address is not the actor's). */
  ip: string | null;
  /** The actor's host name when known (decoded or from the asset map). */
  host: string | null;
  /** Network segment of the actor's machine, when the asset map knows it. */
  segment: string | null;
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
  // The map itself, read once per period: a flood from new addresses asks about each of them.
  let rows: AssetRow[] | null = null;
  const all = (): AssetRow[] => (rows ??= q.all());
  const forget = () => {
    byIp.clear();
    byHost.clear();
    rows = null;
    born = Date.now();
  };
  const fresh = () => {
    if (Date.now() - born > ttlMs || byIp.size + byHost.size > 50_000) forget();
  };
  const lookup = {
    invalidate: forget,
    ip(ip: string | null): AssetRow | null {
      if (!ip) return null;
      fresh();
      let a = byIp.get(ip);
      if (a === undefined) byIp.set(ip, (a = matchIp(all(), ip) ?? null));
      return a;
    },
    host(host: string | null): AssetRow | null {
      if (!host) return null;
      fresh();
      const k = host.toLowerCase();
      let a = byHost.get(k);
      if (a === undefined) byHost.set(k, (a = matchHost(all(), host) ?? null));
      return a;
    },
  };
  // An asset mapped in this process counts from the next hit; other processes see it within ttlMs.
  invalidateOn('assets', lookup);
  return lookup;
}

/** The asset map as it is now, for one alert message or one admin page (either dialect). */
export async function assetSnapshot(db: AnyDb): Promise<AssetLookup> {
  const rows = await allAssets(db);
  return { ip: (ip) => matchIp(rows, ip) ?? null, host: (host) => matchHost(rows, host) ?? null };
}

/** The machine part of a host key: lower-cased short name, so `WS-ACCT-07` and `ws-acct-07.corp.example` meet. */
export const hostKey = (host: string): string => `host:${host.toLowerCase().split('.')[0]}`;

/** Account names that say nothing about who is behind them: shown, but never used to tie hits together. */
const GENERIC_USERS = new Set([
  'administrator', 'admin', 'root', 'guest', 'user', 'test', 'info', 'noreply', 'no-reply', 'postmaster', 'mailer-daemon',
  'support', 'service', 'webmaster', 'nobody', 'system', 'default', 'sa', 'www-data', 'operator', 'helpdesk',
]);

/** A user identity from a reported name: `CORP\m.keller`, `m.keller@corp.example` or a bare account name. */
export function identityOf(name: string | null | undefined, domain?: string | null): Identity | null {
  const raw = name?.trim();
  if (!raw) return null;
  const account = (raw.includes('\\') ? raw.slice(raw.lastIndexOf('\\') + 1) : raw.includes('@') ? raw.slice(0, raw.indexOf('@')) : raw).toLowerCase().slice(0, 128);
  if (!account) return null;
  const label = domain && !raw.includes('\\') && !raw.includes('@') ? `${domain}\\${raw}` : raw;
  return { key: `user:${account}`, label: label.slice(0, 200), links: !GENERIC_USERS.has(account) };
}

function hostMachine(host: string, claimed: boolean, ip: string | null, asset: AssetRow | null): Machine {
  return { key: hostKey(host), label: host, host, ip, claimed, asset };
}

/** `10.20.4.17 (Finance clients, Finance VLAN)`: an address with what the asset map says of it. */
function addressLabel(ip: string, asset: AssetRow | null): string {
  const about = asset ? [asset.label, asset.segment].filter(Boolean).join(', ') : '';
  return about ? `${ip} (${about})` : ip;
}

/**
 * Who acted, from one hit (DESIGN section 5). The machine is the computer the token decoded
 * (claimed), or the host the asset map names for the source address, or the bare address. DNS
 * hits arrive from resolvers and mail hits from mail servers: those are relays, never the
 * actor, and the actor's address is then unknown. A user identity comes from the token (the
 * folder lookup's `DOMAIN\user`) or from the kind's reading of the hit (a typed portal user
 * name, a mail sender). A hit naming nothing else is keyed by its relay and decoy, so repeats
 * through one resolver stay together without tying unrelated lookups of the whole site.
 */
export function actorOf(hit: ActorFields, assets: AssetLookup, claimedUser?: string | null): Actor {
  const relayed = hit.channel === 'dns' || hit.channel === 'smtp';
  const ip = relayed ? null : hit.sourceIp;
  const sourceAsset = assets.ip(hit.sourceIp);
  const relay: Relay | null = relayed
    ? {
        kind: hit.channel === 'dns' ? 'resolver' : 'mail-server',
        ip: hit.sourceIp,
        label: `${hit.channel === 'dns' ? 'DNS resolver' : 'mail server'} ${hit.sourceIp ? addressLabel(hit.sourceIp, sourceAsset) : 'unknown'}`,
        asset: sourceAsset,
      }
    : null;
  let machine: Machine | null = null;
  if (hit.actorHost) machine = hostMachine(hit.actorHost, true, ip, assets.host(hit.actorHost) ?? (ip ? sourceAsset : null));
  else if (ip && sourceAsset?.hostname) machine = hostMachine(sourceAsset.hostname, false, ip, sourceAsset);
  else if (ip) machine = { key: `ip:${ip}`, label: addressLabel(ip, sourceAsset), host: null, ip, claimed: false, asset: sourceAsset };
  const user = identityOf(hit.actorUser, hit.actorDomain) ?? identityOf(claimedUser);
  const named = machine ? `${machine.label}${machine.host && machine.ip ? ` (${machine.ip})` : ''}` : null;
  let label: string;
  if (user && named) label = `${user.label} on ${named}`;
  else if (named) label = named;
  else if (user) label = `${user.label} (via ${relay?.label ?? 'unknown source'})`;
  else label = `unknown client of ${relay?.label ?? 'an unknown source'}`;
  if (machine?.claimed || (user && !machine)) label += ' (names reported by the attacker)';
  const key = machine?.key ?? (user?.links ? user.key : `via:${hit.sourceIp ?? '?'}:${hit.tokenId}`);
  const asset = machine?.asset ?? null;
  return { key, label, machine, user, relay, ip, host: machine?.host ?? null, segment: asset?.segment ?? null, asset };
}

/** Same machine? Host names compare case-insensitively, a short name matching an FQDN's first label. */
export function sameHost(a: string | null, b: string | null): boolean {
  if (!a || !b) return false;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x === y || x.split('.')[0] === y.split('.')[0];
}
